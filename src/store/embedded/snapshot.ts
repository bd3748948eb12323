import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { isResourceType } from '../../fhir/resource-types';
import type { ResourceType } from '../../fhir/resource-types';
import type { SortKeys } from '../store';
import { EMPTY_SORT_KEYS, exactArray, SharedRanges, StoredEntry } from './entry';
import type { Entry, SearchTextSource } from './entry';
import type { HistoryCapture } from './history-log';
import type { IndexKeys } from './indexes';
import { syncDirectory } from './journal';

/**
 * A snapshot `snapshot-<n>.snap` is the state after every journal segment before `n`: recovery
 * loads it and replays segments `n, n+1, …`. Written to a temp file, fsynced, renamed, then the
 * directory fsynced, so a snapshot file either is complete or does not exist; each section also
 * carries a CRC-32, so a damaged file is refused (recovery then falls back to an older snapshot or
 * to the journal alone).
 *
 * The format is columnar and binary, so that loading a million documents costs a few bulk reads
 * and typed-array views instead of a JSON.parse and a handful of small allocations per document
 * (the JSON-lines format of version 1 spent most of the start-up time there, and in GC):
 *
 *   header   "KAIROSSN", u32 version, u32 segment
 *   section  u32 kind, u32 crc32(payload), u32 payload bytes, u32 0, payload (padded to 8 bytes)
 *     history   per type, in log order: versionIds, lastUpdated, locations (f64), lengths (u32)
 *     documents per type, in chunks: ids as one text plus UTF-16 lengths, versionId,
 *               lastUpdated (f64), deleted (u8), `h` (count + u32 positions), `ranges` (count +
 *               f64), `o` as (key, value) pairs over a string table (strings interned)
 *     keys      per type: hash and block index keys, their documents as ordinals (position in
 *               the type's documents), so loading needs no id lookups
 *     end       counts of documents, versions and key ids (a complete file has one, last)
 *
 * Version-1 files (`snapshot-<n>.jsonl`) are not read: recovery ignores them and replays the
 * journal from segment 1 (segments are never deleted), then writes a snapshot in this format and
 * removes them.
 *
 * Neither resources nor `s` texts are copied: a document's content is its current version's journal
 * line, which the history locations point at (segments before the snapshot were fsynced before it
 * was taken); loaded entries read their `s` from there on use (entry.ts StoredEntry).
 * Writing runs in chunks of DOCUMENT_CHUNK documents with an await between them, so reads are
 * served while a snapshot is written.
 */

const MAGIC = 'KAIROSSN';
const VERSION = 2;
const HEADER_BYTES = 16;
const SECTION_HEADER_BYTES = 16;
const DOCUMENT_CHUNK = 1024;
const HISTORY_CHUNK = 1 << 20;

const KIND_HISTORY = 1;
const KIND_DOCUMENTS = 2;
const KIND_KEYS = 3;
const KIND_END = 4;

const SNAPSHOT_PATTERN = /^snapshot-(\d{8})\.snap$/;
/** Version-1 snapshots, removed once a newer snapshot is durable. */
const LEGACY_PATTERN = /^snapshot-\d{8}\.jsonl$/;

export function snapshotFileName(segment: number): string {
  return `snapshot-${String(segment).padStart(8, '0')}.snap`;
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

function padded(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** Builds one section's payload: typed columns and texts, each 8-byte aligned so they load as views. */
class SectionWriter {
  private readonly parts: Uint8Array[] = [];
  private bytes = 0;

  private add(part: Uint8Array): void {
    this.parts.push(part);
    this.bytes += part.byteLength;
    const pad = padded(part.byteLength) - part.byteLength;
    if (pad > 0) {
      this.parts.push(new Uint8Array(pad));
      this.bytes += pad;
    }
  }

  u32(value: number): void {
    this.u32s(Uint32Array.of(value));
  }

  u32s(values: Uint32Array): void {
    this.u32sHeader(values.length);
    this.add(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  f64s(values: Float64Array): void {
    this.u32sHeader(values.length);
    this.add(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  u8s(values: Uint8Array): void {
    this.u32sHeader(values.length);
    this.add(values);
  }

  /** A text, flagged when it is all ASCII: it then loads as latin1, a plain copy, where UTF-8 decoding was most of the load time. */
  text(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u32(bytes.length === value.length ? 1 : 0);
    this.u32sHeader(bytes.length);
    this.add(bytes);
  }

  private u32sHeader(count: number): void {
    const header = new Uint32Array(2);
    header[0] = count;
    this.add(new Uint8Array(header.buffer));
  }

  /** The section, framed: header (kind, crc, length) then the payload. */
  finish(kind: number): Buffer {
    const payload = Buffer.concat(this.parts, this.bytes);
    const header = Buffer.alloc(SECTION_HEADER_BYTES);
    header.writeUInt32LE(kind, 0);
    header.writeUInt32LE(crc32(payload), 4);
    header.writeUInt32LE(payload.length, 8);
    return Buffer.concat([header, payload]);
  }
}

/** Reads back what SectionWriter wrote, in the same order; views share the section's buffer. */
class SectionReader {
  private offset = 0;

  constructor(
    private readonly data: Buffer,
    private readonly file: string,
  ) {}

  private count(): number {
    if (this.offset + 8 > this.data.length) throw invalid(this.file, 'section too short');
    const n = this.data.readUInt32LE(this.offset);
    this.offset += 8;
    return n;
  }

  private take(bytes: number): number {
    const start = this.offset;
    if (start + bytes > this.data.length) throw invalid(this.file, 'section too short');
    this.offset = start + padded(bytes);
    return this.data.byteOffset + start;
  }

  u32(): number {
    const [value] = this.u32s();
    if (value === undefined) throw invalid(this.file, 'missing number');
    return value;
  }

  u32s(): Uint32Array {
    const n = this.count();
    return new Uint32Array(this.data.buffer, this.take(n * 4), n);
  }

  f64s(): Float64Array {
    const n = this.count();
    return new Float64Array(this.data.buffer, this.take(n * 8), n);
  }

  u8s(): Uint8Array {
    const n = this.count();
    return new Uint8Array(this.data.buffer, this.take(n), n);
  }

  text(): string {
    const ascii = this.u32() === 1;
    const n = this.count();
    const start = this.take(n) - this.data.byteOffset;
    return this.data.toString(ascii ? 'latin1' : 'utf8', start, start + n);
  }

  strings(): string[] {
    const raw: unknown = JSON.parse(this.text());
    if (!Array.isArray(raw) || !raw.every((s): s is string => typeof s === 'string')) throw invalid(this.file, 'string table');
    return raw;
  }
}

/** A string table: each distinct string once, referred to by number. */
class StringTable {
  readonly strings: string[] = [];
  private readonly numbers = new Map<string, number>();

  of(value: string): number {
    let n = this.numbers.get(value);
    if (n === undefined) {
      n = this.strings.length;
      this.strings.push(value);
      this.numbers.set(value, n);
    }
    return n;
  }
}

/** `o` value column: a string value is its table number with this bit set in the key column. */
const STRING_VALUE = 0x8000_0000;

function historySection(type: ResourceType, history: HistoryCapture, start: number, end: number): Buffer {
  const w = new SectionWriter();
  w.text(type);
  w.f64s(history.versionIds.subarray(start, end));
  w.f64s(history.lastUpdated.subarray(start, end));
  w.f64s(history.locations.subarray(start, end));
  w.u32s(history.lengths.subarray(start, end));
  return w.finish(KIND_HISTORY);
}

function documentsSection(type: ResourceType, entries: readonly Entry[], start: number, end: number): Buffer {
  const n = end - start;
  const idLengths = new Uint32Array(n);
  const versionIds = new Float64Array(n);
  const lastUpdated = new Float64Array(n);
  const deleted = new Uint8Array(n);
  const hCounts = new Uint32Array(n);
  const rangeCounts = new Uint32Array(n);
  const oCounts = new Uint32Array(n);
  const ids: string[] = [];
  const positions: number[] = [];
  const ranges: number[] = [];
  const oKeys: number[] = [];
  const oValues: number[] = [];
  const table = new StringTable();
  for (let i = 0; i < n; i++) {
    const e = entries[start + i];
    if (e === undefined) break;
    ids.push(e._id);
    idLengths[i] = e._id.length;
    versionIds[i] = e.versionId;
    lastUpdated[i] = e.lastUpdated;
    deleted[i] = e.deleted ? 1 : 0;
    if (typeof e.h === 'number') {
      hCounts[i] = 1;
      positions.push(e.h);
    } else {
      hCounts[i] = e.h.length;
      for (const p of e.h) positions.push(p);
    }
    if (e.ranges !== undefined) {
      rangeCounts[i] = e.ranges.length;
      for (const r of e.ranges) ranges.push(r);
    }
    let pairs = 0;
    for (const key in e.o) {
      const value = e.o[key];
      if (value === undefined) continue;
      if (typeof value === 'string') {
        oKeys.push(table.of(key) | STRING_VALUE);
        oValues.push(table.of(value));
      } else {
        oKeys.push(table.of(key));
        oValues.push(value);
      }
      pairs += 1;
    }
    oCounts[i] = pairs;
  }
  const w = new SectionWriter();
  w.text(type);
  w.u32s(idLengths);
  w.text(ids.join(''));
  w.f64s(versionIds);
  w.f64s(lastUpdated);
  w.u8s(deleted);
  w.u32s(hCounts);
  w.u32s(Uint32Array.from(positions));
  w.u32s(rangeCounts);
  w.f64s(Float64Array.from(ranges));
  w.text(JSON.stringify(table.strings));
  w.u32s(oCounts);
  w.u32s(Uint32Array.from(oKeys));
  w.f64s(Float64Array.from(oValues));
  return w.finish(KIND_DOCUMENTS);
}

/**
 * Hash and block index keys of one type, their ids as ordinals (`ordinals`: id → position in the
 * type's documents). Converted in chunks with yields between them: a key can list every document.
 */
async function keysSection(type: ResourceType, keys: readonly IndexKeys[], ordinals: ReadonlyMap<string, number>): Promise<{ section: Buffer; count: number }> {
  const table = new StringTable();
  const codes = new Uint32Array(keys.length);
  const values = new Uint32Array(keys.length);
  const counts = new Uint32Array(keys.length);
  const total = keys.reduce((sum, k) => sum + k.ids.length, 0);
  const all = new Uint32Array(total);
  let at = 0;
  for (const [k, { code, key, ids }] of keys.entries()) {
    codes[k] = table.of(code);
    values[k] = table.of(key);
    counts[k] = ids.length;
    for (let start = 0; start < ids.length; start += DOCUMENT_CHUNK) {
      for (const id of ids.slice(start, start + DOCUMENT_CHUNK)) {
        const ordinal = ordinals.get(id);
        if (ordinal === undefined) throw new Error(`embedded store: snapshot of ${type} indexes ${id}, which it does not hold`);
        all[at++] = ordinal;
      }
      await yieldToEventLoop();
    }
  }
  const w = new SectionWriter();
  w.text(type);
  w.text(JSON.stringify(table.strings));
  w.u32s(codes);
  w.u32s(values);
  w.u32s(counts);
  w.u32s(all);
  return { section: w.finish(KIND_KEYS), count: total };
}

/** Lets queued reads and writes run between the chunks of a background snapshot. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Writes the snapshot; resolves with its size in bytes once it is durable. */
export async function writeSnapshot(dir: string, capture: SnapshotCapture): Promise<number> {
  const finalName = path.join(dir, snapshotFileName(capture.segment));
  const tempName = `${finalName}.tmp`;
  const handle = await fs.promises.open(tempName, 'w');
  let size = 0;
  try {
    const write = async (data: Buffer): Promise<void> => {
      await handle.write(data);
      size += data.length;
    };
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(VERSION, 8);
    header.writeUInt32LE(capture.segment, 12);
    await write(header);
    let documents = 0;
    let versions = 0;
    let keys = 0;
    for (const { type, history } of capture.types) {
      for (let start = 0; start < history.count; start += HISTORY_CHUNK) {
        await write(historySection(type, history, start, Math.min(history.count, start + HISTORY_CHUNK)));
      }
      versions += history.count;
    }
    for (const { type, entries, keys: indexKeys } of capture.types) {
      const ordinals = new Map<string, number>();
      for (let start = 0; start < entries.length; start += DOCUMENT_CHUNK) {
        const end = Math.min(entries.length, start + DOCUMENT_CHUNK);
        await write(documentsSection(type, entries, start, end));
        if (indexKeys.length > 0) for (let i = start; i < end; i++) ordinals.set(entries[i]?._id ?? '', i);
        await yieldToEventLoop();
      }
      documents += entries.length;
      if (indexKeys.length > 0) {
        const { section, count } = await keysSection(type, indexKeys, ordinals);
        await write(section);
        keys += count;
        await yieldToEventLoop();
      }
    }
    const end = new SectionWriter();
    end.f64s(Float64Array.of(documents, versions, keys));
    await write(end.finish(KIND_END));
    await handle.sync();
  } catch (e) {
    await handle.close();
    fs.rmSync(tempName, { force: true });
    throw e;
  }
  await handle.close();
  fs.renameSync(tempName, finalName);
  syncDirectory(dir);
  // Older snapshots are superseded (version-1 ones too); journal segments stay (they hold the history).
  for (const name of fs.readdirSync(dir)) {
    const older = SNAPSHOT_PATTERN.exec(name)?.[1];
    if ((older !== undefined && Number(older) < capture.segment) || LEGACY_PATTERN.test(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
  return size;
}

/** The arrays passed are views of a reused buffer, valid only during the call. */
export interface SnapshotSink {
  /** Where the type's documents read their `s` text (entry.ts StoredEntry). */
  source(type: ResourceType): SearchTextSource;
  history(type: ResourceType, versionIds: Float64Array, lastUpdated: Float64Array, locations: Float64Array, lengths: Uint32Array): void;
  /** Documents of a type in order: the first of a type has ordinal 0, the next 1, … */
  document(type: ResourceType, entry: Entry): void;
  /** Called after every document; `ordinals` index the type's documents. */
  keys(type: ResourceType, code: string, key: string, ordinals: Uint32Array): void;
}

function invalid(file: string, what: string): Error {
  return new Error(`embedded store: snapshot ${file} is invalid (${what})`);
}

function readType(reader: SectionReader, file: string): ResourceType {
  const type = reader.text();
  if (!isResourceType(type)) throw invalid(file, `unknown resource type ${type}`);
  return type;
}

/** Reads exactly `bytes` at `position`, or fewer at the end of the file. */
function readAt(fd: number, buffer: Buffer, position: number): number {
  let read = 0;
  while (read < buffer.length) {
    const n = fs.readSync(fd, buffer, read, buffer.length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return read;
}

/**
 * Streams a snapshot into `sink`; returns the first segment to replay after it. Throws when the
 * file is not a complete, undamaged snapshot (the caller then falls back to an older one).
 */
export function loadSnapshot(file: string, sink: SnapshotSink): { segment: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    if (readAt(fd, header, 0) < HEADER_BYTES || header.toString('latin1', 0, 8) !== MAGIC || header.readUInt32LE(8) !== VERSION) {
      throw invalid(file, 'header');
    }
    const segment = header.readUInt32LE(12);
    const fileBytes = fs.fstatSync(fd).size;
    const counts = { documents: 0, versions: 0, keys: 0 };
    // Repeated strings of `o` (references, codes) become one heap string each, whatever the chunk.
    const interned = new Map<string, string>();
    const intern = (s: string): string => {
      const known = interned.get(s);
      if (known !== undefined) return known;
      interned.set(s, s);
      return s;
    };
    // And so do entries' equal `ranges` (a clinic's Slots share their times).
    const sharedRanges = new SharedRanges();
    const sectionHeader = Buffer.alloc(SECTION_HEADER_BYTES);
    let buffer = new ArrayBuffer(0);
    let position = HEADER_BYTES;
    for (;;) {
      if (readAt(fd, sectionHeader, position) < SECTION_HEADER_BYTES) throw invalid(file, 'incomplete');
      const kind = sectionHeader.readUInt32LE(0);
      const crc = sectionHeader.readUInt32LE(4);
      const bytes = sectionHeader.readUInt32LE(8);
      position += SECTION_HEADER_BYTES;
      if (position + bytes > fileBytes) throw invalid(file, 'incomplete');
      // One buffer reused for every section (starting an ArrayBuffer, so column views are aligned):
      // an allocation per section made V8 count ~1 GB of external memory and run full GCs for it.
      if (buffer.byteLength < bytes) buffer = new ArrayBuffer(Math.max(bytes, buffer.byteLength * 2));
      const data = Buffer.from(buffer, 0, bytes);
      if (readAt(fd, data, position) < bytes || crc32(data) !== crc) throw invalid(file, 'checksum');
      position += bytes;
      const reader = new SectionReader(data, file);
      if (kind === KIND_END) {
        const [documents, versions, keys] = reader.f64s();
        if (documents !== counts.documents || versions !== counts.versions || keys !== counts.keys) {
          throw invalid(file, 'counts do not match the end marker');
        }
        if (position !== fileBytes) throw invalid(file, 'data after the end marker');
        return { segment };
      }
      const type = readType(reader, file);
      if (kind === KIND_HISTORY) {
        const versionIds = reader.f64s();
        const lastUpdated = reader.f64s();
        const locations = reader.f64s();
        const lengths = reader.u32s();
        const n = versionIds.length;
        if (lastUpdated.length !== n || locations.length !== n || lengths.length !== n) throw invalid(file, 'history section');
        sink.history(type, versionIds, lastUpdated, locations, lengths);
        counts.versions += n;
      } else if (kind === KIND_DOCUMENTS) {
        counts.documents += loadDocuments(reader, file, type, intern, sharedRanges, sink);
      } else if (kind === KIND_KEYS) {
        const table = reader.strings();
        const codes = reader.u32s();
        const values = reader.u32s();
        const sizes = reader.u32s();
        const ordinals = reader.u32s();
        let at = 0;
        for (let k = 0; k < codes.length; k++) {
          const code = table[codes[k] ?? -1];
          const key = table[values[k] ?? -1];
          const size = sizes[k] ?? 0;
          if (code === undefined || key === undefined || at + size > ordinals.length) throw invalid(file, 'keys section');
          sink.keys(type, code, key, ordinals.subarray(at, at + size));
          at += size;
        }
        if (at !== ordinals.length) throw invalid(file, 'keys section');
        counts.keys += at;
      } else {
        throw invalid(file, `unknown section ${kind}`);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

function loadDocuments(reader: SectionReader, file: string, type: ResourceType, intern: (s: string) => string, sharedRanges: SharedRanges, sink: SnapshotSink): number {
  const idLengths = reader.u32s();
  const ids = reader.text();
  const versionIds = reader.f64s();
  const lastUpdated = reader.f64s();
  const deleted = reader.u8s();
  const hCounts = reader.u32s();
  const positions = reader.u32s();
  const rangeCounts = reader.u32s();
  const ranges = reader.f64s();
  const table = reader.strings().map(intern);
  const oCounts = reader.u32s();
  const oKeys = reader.u32s();
  const oValues = reader.f64s();
  const n = idLengths.length;
  for (const column of [versionIds, lastUpdated, deleted, hCounts, rangeCounts, oCounts]) {
    if (column.length !== n) throw invalid(file, 'documents section');
  }
  const source = sink.source(type);
  let idAt = 0;
  let positionAt = 0;
  let rangeAt = 0;
  let oAt = 0;
  for (let i = 0; i < n; i++) {
    const idLength = idLengths[i] ?? 0;
    const hCount = hCounts[i] ?? 0;
    const rangeCount = rangeCounts[i] ?? 0;
    const oCount = oCounts[i] ?? 0;
    if (
      idAt + idLength > ids.length ||
      hCount === 0 ||
      positionAt + hCount > positions.length ||
      rangeAt + rangeCount > ranges.length ||
      oAt + oCount > oKeys.length
    ) {
      throw invalid(file, 'documents section');
    }
    // A substring of the chunk's text: V8 keeps it as a slice of it, not as a separate copy.
    const id = ids.slice(idAt, idAt + idLength);
    idAt += idLength;
    const h = hCount === 1 ? (positions[positionAt] ?? 0) : exactArray(positions, positionAt, hCount);
    positionAt += hCount;
    const entryRanges = rangeCount > 0 ? sharedRanges.get(ranges, rangeAt, rangeCount) : undefined;
    rangeAt += rangeCount;
    let o = EMPTY_SORT_KEYS;
    if (oCount > 0) {
      const keys: SortKeys = {};
      for (let j = oAt; j < oAt + oCount; j++) {
        const k = oKeys[j] ?? 0;
        const v = oValues[j] ?? 0;
        const key = table[k & ~STRING_VALUE];
        const value = (k & STRING_VALUE) !== 0 ? table[v] : v;
        if (key === undefined || value === undefined) throw invalid(file, 'sort keys');
        keys[key] = value;
      }
      o = Object.freeze(keys);
    }
    oAt += oCount;
    const isDeleted = deleted[i] === 1;
    sink.document(type, new StoredEntry(id, versionIds[i] ?? 0, lastUpdated[i] ?? 0, isDeleted, o, isDeleted ? undefined : entryRanges, h, source));
  }
  if (idAt !== ids.length || positionAt !== positions.length || rangeAt !== ranges.length || oAt !== oKeys.length) {
    throw invalid(file, 'documents section');
  }
  return n;
}
