import * as fs from 'node:fs';
import * as path from 'node:path';
import { isResourceType } from '../../fhir/resource-types';
import type { ResourceType } from '../../fhir/resource-types';
import type { SortKeys } from '../store';
import type { Entry } from './entry';
import type { HistoryCapture } from './history-log';
import type { IndexKeys } from './indexes';
import { syncDirectory } from './journal';

/**
 * A snapshot `snapshot-<n>.jsonl` is the state after every journal segment before `n`: recovery
 * loads it and replays segments `n, n+1, …`. Written to a temp file, fsynced, renamed, then the
 * directory fsynced, so a snapshot file either is complete or does not exist. Lines:
 *
 *   {"format":"kairos-embedded-snapshot","version":1,"segment":n}
 *   {"history":type,"v":[…],"lu":[…],"loc":[…],"len":[…]}          (chunks, in log order)
 *   {"t":type,"id":…,"v":…,"lu":…,"d":deleted,"h":…,"o":{…},"r":[ranges]}<TAB><s JSON>   (one per document)
 *   {"index":type,"code":…,"key":…,"ids":[…]}                 (hash and block index keys, in chunks)
 *   {"end":true,"documents":count,"versions":count,"keys":count}
 *
 * Loading does not parse any document's `s`: the hash and block indexes come from the index
 * lines, the date and compound indexes from each document's `ranges` (entry.ts). Parsing a
 * million `s` texts was most of the start-up time.
 * Resources are not copied: a document's content is its current version's journal line, which the
 * history locations point at (segments before the snapshot were fsynced before it was taken). One
 * document per line, read in blocks and parsed line by line, keeps start-up memory flat and fast.
 */

const FORMAT = 'kairos-embedded-snapshot';
const VERSION = 1;
const HISTORY_CHUNK = 20_000;
const WRITE_BUFFER_CHARS = 4 * 1024 * 1024;
const READ_BLOCK_BYTES = 8 * 1024 * 1024;

const SNAPSHOT_PATTERN = /^snapshot-(\d{8})\.jsonl$/;

export function snapshotFileName(segment: number): string {
  return `snapshot-${String(segment).padStart(8, '0')}.jsonl`;
}

/** Snapshot segment numbers present in `dir`, newest first. */
export function listSnapshots(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .map((name) => SNAPSHOT_PATTERN.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

/** Leftovers of a snapshot interrupted by a crash. */
export function removeTemporaryFiles(dir: string): void {
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
}

export interface SnapshotCapture {
  segment: number;
  types: Array<{ type: ResourceType; entries: readonly Entry[]; history: HistoryCapture; keys: readonly IndexKeys[] }>;
}

/**
 * A document line: the text JSON.stringify gives `{ t, id, v, lu, d, h, o, r }` (`r` left out when
 * undefined), then a tab and `s`. Built by hand, as this runs once per document per snapshot.
 */
export function documentLine(type: ResourceType, e: Entry): string {
  // Array#join writes finite numbers exactly as JSON.stringify does.
  const h = typeof e.h === 'number' ? String(e.h) : `[${e.h.join(',')}]`;
  const r = e.ranges === undefined ? '' : `,"r":[${e.ranges.join(',')}]`;
  return `{"t":"${type}","id":${JSON.stringify(e._id)},"v":${e.versionId},"lu":${e.lastUpdated},"d":${e.deleted},"h":${h},"o":${JSON.stringify(e.o)}${r}}\t${e.searchJson}`;
}

/** Writes the snapshot; resolves with its size in bytes once it is durable. */
export async function writeSnapshot(dir: string, capture: SnapshotCapture): Promise<number> {
  const finalName = path.join(dir, snapshotFileName(capture.segment));
  const tempName = `${finalName}.tmp`;
  const handle = await fs.promises.open(tempName, 'w');
  let documents = 0;
  let versions = 0;
  let keys = 0;
  try {
    let pending: string[] = [];
    let pendingChars = 0;
    const emit = async (line: string): Promise<void> => {
      pending.push(line);
      pendingChars += line.length;
      if (pendingChars >= WRITE_BUFFER_CHARS) await flush();
    };
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const text = pending.join('\n') + '\n';
      pending = [];
      pendingChars = 0;
      await handle.write(text);
    };

    await emit(JSON.stringify({ format: FORMAT, version: VERSION, segment: capture.segment }));
    for (const { type, history } of capture.types) {
      for (let start = 0; start < history.count; start += HISTORY_CHUNK) {
        const end = Math.min(history.count, start + HISTORY_CHUNK);
        await emit(
          JSON.stringify({
            history: type,
            v: Array.from(history.versionIds.subarray(start, end)),
            lu: Array.from(history.lastUpdated.subarray(start, end)),
            loc: Array.from(history.locations.subarray(start, end)),
            len: Array.from(history.lengths.subarray(start, end)),
          }),
        );
      }
      versions += history.count;
    }
    for (const { type, entries } of capture.types) {
      for (const e of entries) {
        // Inline rather than through emit(): an async call per document costs a promise each.
        const line = documentLine(type, e);
        pending.push(line);
        pendingChars += line.length;
        documents += 1;
        if (pendingChars >= WRITE_BUFFER_CHARS) await flush();
      }
    }
    for (const { type, keys: indexKeys } of capture.types) {
      for (const { code, key, ids } of indexKeys) {
        for (let start = 0; start < ids.length; start += HISTORY_CHUNK) {
          await emit(JSON.stringify({ index: type, code, key, ids: ids.slice(start, start + HISTORY_CHUNK) }));
        }
        keys += ids.length;
      }
    }
    await emit(JSON.stringify({ end: true, documents, versions, keys }));
    await flush();
    await handle.sync();
  } catch (e) {
    await handle.close();
    fs.rmSync(tempName, { force: true });
    throw e;
  }
  const { size } = await handle.stat();
  await handle.close();
  fs.renameSync(tempName, finalName);
  syncDirectory(dir);
  // Older snapshots are superseded; journal segments stay (they hold the history).
  for (const older of listSnapshots(dir)) {
    if (older < capture.segment) fs.rmSync(path.join(dir, snapshotFileName(older)), { force: true });
  }
  return size;
}

/** A document as a snapshot line gives it. */
export interface SnapshotDocument {
  resourceType: ResourceType;
  id: string;
  versionId: number;
  lastUpdated: number;
  deleted: boolean;
  h: Entry['h'];
  /** `s` as JSON text. */
  searchJson: string;
  o: SortKeys;
  ranges: number[] | undefined;
}

export interface SnapshotSink {
  history(type: ResourceType, versionIds: number[], lastUpdated: number[], locations: number[], lengths: number[]): void;
  document(document: SnapshotDocument): void;
  /** Called after every document. */
  keys(type: ResourceType, code: string, key: string, ids: string[]): void;
}

/** Each line of a file, as a view valid until the next line is requested. */
function* fileLines(file: string): Generator<Buffer> {
  const fd = fs.openSync(file, 'r');
  try {
    const block = Buffer.allocUnsafe(READ_BLOCK_BYTES);
    let carry: Buffer | undefined;
    for (;;) {
      const read = fs.readSync(fd, block, 0, block.length, null);
      if (read === 0) break;
      const data = carry === undefined ? block.subarray(0, read) : Buffer.concat([carry, block.subarray(0, read)]);
      let start = 0;
      for (;;) {
        const end = data.indexOf(0x0a, start);
        if (end < 0) break;
        yield data.subarray(start, end);
        start = end + 1;
      }
      carry = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
    }
    if (carry !== undefined && carry.length > 0) yield carry;
  } finally {
    fs.closeSync(fd);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number');
}

function invalid(file: string, what: string): Error {
  return new Error(`embedded store: snapshot ${file} is invalid (${what})`);
}

/**
 * Streams a snapshot into `sink`; returns the first segment to replay after it. Throws when the
 * file is not a complete snapshot (the caller then falls back to an older one).
 */
export function loadSnapshot(file: string, sink: SnapshotSink): { segment: number } {
  let segment: number | undefined;
  let documents = 0;
  let versions = 0;
  let keys = 0;
  let ended = false;
  for (const line of fileLines(file)) {
    if (ended) throw invalid(file, 'data after the end marker');
    const tab = line.indexOf(0x09);
    const raw: unknown = JSON.parse(line.toString('utf8', 0, tab < 0 ? line.length : tab));
    if (!isRecord(raw)) throw invalid(file, 'a line is not an object');
    if (segment === undefined) {
      if (raw.format !== FORMAT || raw.version !== VERSION || typeof raw.segment !== 'number') throw invalid(file, 'header');
      segment = raw.segment;
      continue;
    }
    if (tab >= 0) {
      const { t, id, v, lu, d, h, o, r } = raw;
      if (
        typeof t !== 'string' ||
        !isResourceType(t) ||
        typeof id !== 'string' ||
        typeof v !== 'number' ||
        typeof lu !== 'number' ||
        typeof d !== 'boolean' ||
        !(typeof h === 'number' || isNumberArray(h)) ||
        !isRecord(o) ||
        !(r === undefined || isNumberArray(r))
      ) {
        throw invalid(file, 'document line');
      }
      // Buffer#toString copies, so the text does not pin the read buffer. `o` was written from SortKeys.
      const searchJson = line.toString('utf8', tab + 1);
      sink.document({ resourceType: t, id, versionId: v, lastUpdated: lu, deleted: d, h, searchJson, o: o as SortKeys, ranges: r });
      documents += 1;
    } else if (typeof raw.history === 'string') {
      const { history: type, v, lu, loc, len } = raw;
      if (!isResourceType(type) || !isNumberArray(v) || !isNumberArray(lu) || !isNumberArray(loc) || !isNumberArray(len)) {
        throw invalid(file, 'history line');
      }
      sink.history(type, v, lu, loc, len);
      versions += v.length;
    } else if (typeof raw.index === 'string') {
      const { index: type, code, key, ids } = raw;
      if (
        !isResourceType(type) ||
        typeof code !== 'string' ||
        typeof key !== 'string' ||
        !Array.isArray(ids) ||
        !ids.every((i): i is string => typeof i === 'string')
      ) {
        throw invalid(file, 'index line');
      }
      sink.keys(type, code, key, ids);
      keys += ids.length;
    } else if (raw.end === true) {
      if (raw.documents !== documents || raw.versions !== versions || raw.keys !== keys) {
        throw invalid(file, 'counts do not match the end marker');
      }
      ended = true;
    } else {
      throw invalid(file, 'unknown line');
    }
  }
  if (segment === undefined || !ended) throw invalid(file, 'incomplete');
  return { segment };
}
