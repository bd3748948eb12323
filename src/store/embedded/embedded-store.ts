import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { Query } from 'mingo';
import { conflict } from '../../fhir/outcome';
import { RESOURCE_TYPES } from '../../fhir/resource-types';
import type { ResourceType, StoredFhirResource } from '../../fhir/resource-types';
import type {
  HistoryEntry,
  HistoryQuery,
  HistoryResult,
  ResourceDocument,
  ResourceWrite,
  SearchIndex,
  Store,
  StoreFindResult,
  StoreQuery,
  TransactionReader,
  TransactionPlan,
} from '../store';
import { appendPosition, currentPosition, EMPTY_SORT_KEYS, EntryTexts, filterView, freezeSortKeys, historyPositions, parseSearchIndex, plainDocument, StoredEntry, toResourceDocument } from './entry';
import type { Entry, SearchTextSource, WriteMeta } from './entry';
import { HistoryLog, SegmentReader } from './history-log';
import { cloneJson, deepFreeze } from '../../fhir/json-values';
import { LruCache } from './lru-cache';
import { INDEXED_PARAMETERS, TypeIndexes } from './indexes';
import { JournalWriter, listSegments, packLocation, scanSegment, segmentFileName } from './journal';
import { DataDirectoryLock } from './lock-file';
import { Mutex } from './mutex';
import { planQuery } from './query-planner';
import { listSnapshots, loadSnapshot, removeTemporaryFiles, snapshotFileName, writeSnapshot } from './snapshot';
import type { SnapshotCapture } from './snapshot';
import { effectiveSort, sortPage } from './sort';
import { decodeWriteMeta, decodeWriteResource, decodeWriteResourceText, decodeWriteSearchJson, encodeWrite } from './write-codec';

/**
 * The embedded store (SPEC §2): no server, one process, everything under `dataDir`.
 *
 * Durability. Every commit is one framed record in the journal (journal.ts), appended inside the
 * write lock and acknowledged only after an fdatasync covering it (group commit: commits waiting at
 * the same time share one fdatasync, awaited outside the lock). Recovery loads the newest snapshot
 * and replays the journal segments after it; a torn tail record is cut off, so a commit is all or
 * nothing across a crash.
 *
 * Snapshots. When the current segment passes `snapshotEveryBytes`, the journal moves to a new
 * segment. If the journal written since the last snapshot is also at least half that snapshot's
 * size, and on close, the documents as of that moment are written in the background to
 * `snapshot-<segment>.snap` (snapshot.ts). Entries are immutable, so the captured list stays
 * consistent while writes go on. The size condition keeps snapshot work proportional to the
 * writes: a snapshot rewrites every document, so taking one per 64 MiB of journal made a bulk
 * load of N documents cost O(N²) (at 1,000,000 Slots, ~140 µs of snapshot per written Slot),
 * while replay after a crash stays bounded by half a snapshot's worth of journal. A snapshot that
 * falls due while other writes are in flight is put off (a few segments at most) until the writes
 * pause, so that a bulk run does not pay for snapshots mid-way (`maybeSnapshot`).
 *
 * History. Journal segments are never deleted: each version's write line stays where it was
 * appended, and the in-memory HistoryLog holds only its location (segment, offset, length), read
 * back with fs.readSync for vread/history. Old versions therefore cost disk, not heap, and there is
 * no second file to keep consistent with the journal: the history index is rebuilt by replay or
 * loaded from the snapshot, which points only into segments fsynced before it was taken.
 *
 * Isolation. All writes (commit and transaction) run one at a time under a single async mutex;
 * `lockKeys` are not needed for that and are ignored. Applying a commit in memory takes
 * microseconds and the fsync wait happens outside the lock, so one lock costs little throughput
 * and makes every transaction serialisable. Reads outside a transaction see the applied state,
 * which may include a commit whose fsync is still in flight (it is then acknowledged moments
 * later, or, if the process dies first, lost together with its unacknowledged caller).
 *
 * Failure. If appending or fsyncing fails, memory may be ahead of the disk: the store stops
 * (every later call rejects) and a restart recovers from the journal.
 */

export interface EmbeddedStoreOptions {
  dataDir: string;
  /** Start a new journal segment and write a snapshot when the current segment exceeds this (default 64 MiB). */
  snapshotEveryBytes?: number;
  /** Errors of background snapshots (the journal still has every commit; the next snapshot retries). */
  onBackgroundError?: (error: unknown) => void;
}

export interface EmbeddedStore extends Store {
  readonly kind: 'embedded';
  /** Writes a snapshot now (tests, tooling); resolves when it is durable. */
  snapshot(): Promise<void>;
}

const DEFAULT_SNAPSHOT_EVERY_BYTES = 64 * 1024 * 1024;
/**
 * Parsed current resources and search values kept for hot reads, keyed by the (immutable) entry, so
 * a write makes its old entry unreachable and never stale. A Slot costs ~1.5 KB parsed: 20,000 of
 * each stay well inside the memory budget (SPEC: 1,000,000 Slots in 1.5 GB).
 */
const PARSED_CACHE_ENTRIES = 20_000;
/**
 * Stored JSON texts kept for reads and searches (a response passes them through unparsed). A Slot's
 * text is ~0.5 KB, a third of its parsed form, so more of them fit the same budget: the whole
 * benchmark clinic's Slots (~164k) stay within ~100 MB.
 */
const TEXT_CACHE_ENTRIES = 200_000;
/** Writes encoded between two event-loop turns (~5 ms of work at most; see `write`). */
const WRITES_PER_TURN = 500;

/**
 * How far a snapshot that falls due while other writes are in flight may be put off (journal bytes
 * since the newest snapshot, in `snapshotEveryBytes`): see `snapshotAction`.
 */
const DEFERRED_SNAPSHOT_SEGMENTS = 4;

/** What the store knows after a durable commit, for `snapshotAction`. */
export interface SnapshotPolicyInput {
  /** Bytes in the current journal segment. */
  journalBytes: number;
  /** Journal bytes since the newest snapshot's capture, the current segment included. */
  sinceSnapshot: number;
  /** Bytes of the newest snapshot file (0 when there is none). */
  lastSnapshotBytes: number;
  snapshotEveryBytes: number;
  /** No other write is between its call and its durability. */
  idle: boolean;
  /** A snapshot fell due earlier and was put off. */
  deferred: boolean;
}

/**
 * After a durable commit: take a snapshot, only move the journal to a new segment (`defer`: and
 * take the due snapshot later), or nothing.
 * Past `snapshotEveryBytes` the segment rotates; a snapshot is due once the journal since the
 * last one is half that snapshot's size. A due snapshot is put off while other writes are in
 * flight (a bulk run: the generator keeps its next Schedule's run going while one commits), up to
 * DEFERRED_SNAPSHOT_SEGMENTS segments of journal since the last one, and taken by the first commit
 * that finds no other write in flight: a snapshot rewrites every document on the same thread, and
 * one per segment of a bulk run cost it a tenth of its time. Replay after a crash stays bounded
 * (by that many segments plus the current one); durability does not depend on snapshots.
 */
export function snapshotAction(p: SnapshotPolicyInput): 'snapshot' | 'defer' | 'rotate' | 'none' {
  if (p.journalBytes < p.snapshotEveryBytes) return p.deferred && p.idle ? 'snapshot' : 'none';
  if (p.sinceSnapshot < p.lastSnapshotBytes / 2) return 'rotate';
  return p.idle || p.sinceSnapshot >= DEFERRED_SNAPSHOT_SEGMENTS * p.snapshotEveryBytes ? 'snapshot' : 'defer';
}

class TypeState {
  readonly entries = new Map<string, Entry>();
  readonly indexes: TypeIndexes;
  readonly history = new HistoryLog();
  /** Where this type's entries read their `s` texts: their current version's journal line. */
  readonly searchText: SearchTextSource;

  constructor(
    readonly type: ResourceType,
    lines: LineReader,
  ) {
    this.indexes = new TypeIndexes(INDEXED_PARAMETERS[type]);
    const { history } = this;
    this.searchText = {
      searchJsonAt(position) {
        const { location, length } = history.locationAt(position);
        return decodeWriteSearchJson(lines.read(location, length));
      },
    };
  }
}

/** Reads a write line's bytes at its journal location. */
interface LineReader {
  read(location: number, length: number): Buffer;
}

/** Everything recovered into memory: documents, indexes and history locations per type. */
class StoreState {
  readonly types: Map<ResourceType, TypeState>;

  /**
   * `lines`: during recovery, the segment files; once the store runs, `reads` is pointed at the
   * journal too (`readFrom`), whose newest record may not be in its file yet.
   */
  constructor(private reads: LineReader) {
    const lines: LineReader = { read: (location, length) => this.reads.read(location, length) };
    this.types = new Map(RESOURCE_TYPES.map((t) => [t, new TypeState(t, lines)]));
  }

  readFrom(reads: LineReader): void {
    this.reads = reads;
  }

  of(type: ResourceType): TypeState {
    const state = this.types.get(type);
    if (state === undefined) throw new Error(`embedded store: unknown resource type ${type}`);
    return state;
  }

  /**
   * Makes `record` the current version; `location`/`length` is where its write line is in the
   * journal. `s` is `record.searchJson` parsed, when the caller has it already.
   *
   * The entry does not keep `record.searchJson`: it reads it from that journal line on use
   * (StoredEntry), as entries loaded from a snapshot always have. Kept, the text was ~20% of a
   * generated Slot's heap (a generator run's Slots: ~130 bytes each as the rope of shared parts
   * the generator builds, ~500 flat), all of it copied by young-generation GCs while a run
   * installs its Slots; it is read only to evaluate residual filters (whose parsed values are
   * cached: `searchValues`), to sort on `s.*`, and to un-index the version a write replaces.
   */
  apply(record: WriteMeta, location: number, length: number, s?: SearchIndex): void {
    const state = this.of(record.resourceType);
    const previous = state.entries.get(record.id);
    const id = previous?._id ?? record.id;
    const position = state.history.push(id, record.versionId, record.lastUpdated, location, length);
    if (previous !== undefined && !previous.deleted) state.indexes.remove(previous, parseSearchIndex(previous));
    const values = record.deleted ? undefined : (s ?? (JSON.parse(record.searchJson) as SearchIndex));
    const ranges = values === undefined ? undefined : state.indexes.rangesOf(values);
    const o = record.deleted ? EMPTY_SORT_KEYS : freezeSortKeys(record.o);
    const entry = new StoredEntry(id, record.versionId, record.lastUpdated, record.deleted, o, ranges, appendPosition(previous?.h, position), state.searchText);
    state.entries.set(id, entry);
    if (values !== undefined) state.indexes.add(entry, values, ranges);
  }
}

/** Does a filter address the resource itself (not only `_id`, `s.*`, `o.*`)? Then mingo needs it parsed. */
function mentionsResource(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(mentionsResource);
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([key, v]) => key === 'resource' || key.startsWith('resource.') || mentionsResource(v));
}

/** Loads the newest usable snapshot and replays the journal after it. */
interface Recovered {
  state: StoreState;
  segment: number;
  segmentBytes: number;
  /** Journal bytes replayed on top of the snapshot. */
  replayedBytes: number;
  /** A snapshot file could not be used (recovery fell back to an older one or to the journal alone). */
  snapshotSkipped: boolean;
  /** Size of the snapshot loaded (0 when none). */
  snapshotBytes: number;
  /** Reads journal lines back (entries loaded from the snapshot read their `s` text through it). */
  segmentReader: SegmentReader;
}

function recover(dir: string): Recovered {
  const segmentReader = new SegmentReader(dir);
  try {
    return recoverWith(dir, segmentReader);
  } catch (e) {
    segmentReader.close();
    throw e;
  }
}

function recoverWith(dir: string, segmentReader: SegmentReader): Recovered {
  removeTemporaryFiles(dir);
  const segments = listSegments(dir);
  const attempts: Array<number | undefined> = [...listSnapshots(dir), undefined];
  let lastError: unknown;
  for (const snapshot of attempts) {
    const state = new StoreState(segmentReader);
    let firstSegment: number;
    let snapshotBytes = 0;
    if (snapshot === undefined) {
      firstSegment = segments[0] ?? 1;
      if (firstSegment !== 1) {
        throw new Error(`embedded store: no usable snapshot in ${dir} and journal segment 1 is missing`, { cause: lastError });
      }
    } else {
      try {
        const file = path.join(dir, snapshotFileName(snapshot));
        firstSegment = loadSnapshotInto(state, file);
        snapshotBytes = fs.statSync(file).size;
      } catch (e) {
        lastError = e;
        continue;
      }
    }
    const toReplay = segments.filter((n) => n >= firstSegment);
    let segment = firstSegment;
    let segmentBytes = 0;
    let replayedBytes = 0;
    for (const [i, n] of toReplay.entries()) {
      const file = path.join(dir, segmentFileName(n));
      const { validBytes, fileBytes } = scanSegment(file, (lines) => {
        for (const line of lines) state.apply(decodeWriteMeta(line.bytes), packLocation(n, line.offset), line.bytes.length);
      });
      if (validBytes < fileBytes) {
        if (i !== toReplay.length - 1) throw new Error(`embedded store: journal segment ${file} is corrupt at byte ${validBytes}`);
        // A torn tail: the commit it held was never acknowledged (its fsync never completed).
        truncate(file, validBytes);
      }
      segment = n;
      segmentBytes = validBytes;
      replayedBytes += validBytes;
    }
    return { state, segment, segmentBytes, replayedBytes, snapshotSkipped: lastError !== undefined, snapshotBytes, segmentReader };
  }
  throw new Error(`embedded store: could not recover ${dir}`, { cause: lastError });
}

function truncate(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function loadSnapshotInto(state: StoreState, file: string): number {
  // Per type, the documents in snapshot order: index keys name them by that ordinal.
  const ordered = new Map<ResourceType, Entry[]>();
  const { segment } = loadSnapshot(file, {
    source(type) {
      return state.of(type).searchText;
    },
    history(type, versionIds, lastUpdated, locations, lengths) {
      state.of(type).history.load(versionIds, lastUpdated, locations, lengths);
    },
    document(type, entry) {
      const typeState = state.of(type);
      let list = ordered.get(type);
      if (list === undefined) {
        list = [];
        ordered.set(type, list);
      }
      list.push(entry);
      if (typeof entry.h === 'number') typeState.history.setId(entry.h, entry._id);
      else for (const p of entry.h) typeState.history.setId(p, entry._id);
      typeState.entries.set(entry._id, entry);
      if (entry.ranges !== undefined) typeState.indexes.loadRanges(entry._id, entry.ranges);
    },
    keys(type, code, key, ordinals) {
      state.of(type).indexes.loadKeys(code, key, ordinals, ordered.get(type) ?? []);
    },
  });
  for (const type of ordered.keys()) state.of(type).indexes.finishLoading();
  return segment;
}

class EmbeddedStoreImpl implements EmbeddedStore {
  readonly kind = 'embedded' as const;
  private readonly writeLock = new Mutex();
  private snapshotting: Promise<void> | undefined;
  /** Bytes of the newest snapshot file (0 when there is none). */
  private lastSnapshotBytes: number;
  /** Writes between their call and their durability (see `maybeSnapshot`). */
  private writesInFlight = 0;
  /** A snapshot fell due while writes were in flight and was put off (see `maybeSnapshot`). */
  private snapshotDeferred = false;
  /** Journal bytes in segments rotated since the newest snapshot's capture (the current one not included). */
  private rotatedSinceSnapshot: number;
  private closing: Promise<void> | undefined;
  private closed = false;
  private failure: unknown;
  private readonly reader: TransactionReader;
  /** Never handed out: callers get a copy (cloneJson), so they cannot change what others read. */
  private readonly resources = new LruCache<Entry, StoredFhirResource>(PARSED_CACHE_ENTRIES);
  /** Stored JSON texts (immutable strings, handed out as they are) for reads and searches that pass them through. */
  private readonly texts = new EntryTexts(TEXT_CACHE_ENTRIES);
  /** Deep-frozen; used only to evaluate residual filters. */
  private readonly searchValues = new LruCache<Entry, SearchIndex>(PARSED_CACHE_ENTRIES);

  constructor(
    private readonly dir: string,
    private readonly state: StoreState,
    private readonly journal: JournalWriter,
    private readonly lock: DataDirectoryLock,
    private readonly snapshotEveryBytes: number,
    private readonly onBackgroundError: (error: unknown) => void,
    recovered: { snapshotBytes: number; rotatedBytes: number },
    private readonly segmentReader: SegmentReader,
  ) {
    this.lastSnapshotBytes = recovered.snapshotBytes;
    this.rotatedSinceSnapshot = recovered.rotatedBytes;
    // Entries read their `s` texts through the state: the newest record may be only in the journal's buffer.
    state.readFrom({ read: (location, length) => this.journal.unwritten(location, length) ?? this.segmentReader.read(location, length) });
    // lock() is a no-op: every transaction already runs alone under the write mutex.
    this.reader = { read: (t, id) => this.read(t, id), find: (t, q) => this.find(t, q), lock: () => Promise.resolve() };
  }

  private assertUsable(): void {
    if (this.closed || this.closing !== undefined) throw new Error('embedded store: the store is closed');
    this.assertHealthy();
  }

  private assertHealthy(): void {
    if (this.failure !== undefined) throw new Error('embedded store: stopped after a write failure; restart to recover', { cause: this.failure });
  }

  private fail(error: unknown): void {
    this.failure ??= error;
  }

  async read(resourceType: ResourceType, id: string): Promise<ResourceDocument | undefined> {
    this.assertReadable();
    const state = this.state.of(resourceType);
    const entry = state.entries.get(id);
    return entry === undefined ? undefined : this.document(state, entry);
  }

  /** Reads stay possible while close() drains the writes queued before it. */
  private assertReadable(): void {
    if (this.closed) throw new Error('embedded store: the store is closed');
  }

  async find(resourceType: ResourceType, query: StoreQuery): Promise<StoreFindResult> {
    this.assertReadable();
    const state = this.state.of(resourceType);
    const plan = planQuery(query.filter, {
      indexes: state.indexes,
      entry: (id) => state.entries.get(id),
    });
    const residual = plan.residual.length > 0 ? new Query({ $and: plan.residual }) : undefined;
    const withResource = residual !== undefined && mentionsResource(plan.residual);
    const matches: Entry[] = [];
    const consider = (entry: Entry): void => {
      if (entry.deleted) return;
      for (const check of plan.checks) if (!check(entry)) return;
      if (residual !== undefined && !residual.test(withResource ? plainDocument(this.document(state, entry)) : filterView(entry, this.searchValuesOf(entry)))) return;
      matches.push(entry);
    };
    if (plan.driver === undefined) {
      for (const entry of state.entries.values()) consider(entry);
    } else {
      for (const id of plan.driver) {
        const entry = plan.resolved?.get(id) ?? state.entries.get(id);
        if (entry !== undefined) consider(entry);
      }
    }
    const skip = query.skip ?? 0;
    const page =
      query.limit === 0 || skip >= matches.length
        ? []
        : sortPage(matches, effectiveSort(query.sort), skip, query.limit, (entry) => this.resourceOf(state, entry));
    const result: StoreFindResult = { documents: page.map((entry) => this.document(state, entry)) };
    if (query.count === true) result.total = matches.length;
    return result;
  }

  async vread(resourceType: ResourceType, id: string, versionId: number): Promise<HistoryEntry | undefined> {
    this.assertReadable();
    const state = this.state.of(resourceType);
    const entry = state.entries.get(id);
    if (entry === undefined) return undefined;
    const position = historyPositions(entry.h).find((p) => state.history.versionIdAt(p) === versionId);
    return position === undefined ? undefined : this.readVersion(state, position);
  }

  async history(resourceType: ResourceType, id: string | undefined, query: HistoryQuery): Promise<HistoryResult> {
    this.assertReadable();
    const state = this.state.of(resourceType);
    let page: { positions: number[]; total: number };
    if (id === undefined) {
      page = state.history.typeHistory(query);
    } else {
      const entry = state.entries.get(id);
      if (entry === undefined) return { entries: [], total: 0 };
      page = state.history.instanceHistory(historyPositions(entry.h), query);
    }
    return { entries: page.positions.map((p) => this.readVersion(state, p)), total: page.total };
  }

  private document(state: TypeState, entry: Entry): ResourceDocument {
    return toResourceDocument(entry, {
      json: () => this.resourceText(state, entry),
      resource: () => this.resourceOf(state, entry),
    });
  }

  /** The current resource, from the cache or its stored text (a fresh copy on every call). */
  private resourceOf(state: TypeState, entry: Entry): StoredFhirResource | null {
    if (entry.deleted) return null;
    let resource = this.resources.get(entry);
    if (resource === undefined) {
      const text = this.resourceText(state, entry);
      if (text === null) return null;
      resource = JSON.parse(text) as StoredFhirResource;
      this.resources.set(entry, resource);
    }
    return cloneJson(resource);
  }

  /** The current resource's JSON text, from the cache or its journal line. */
  private resourceText(state: TypeState, entry: Entry): string | null {
    if (entry.deleted) return null;
    let text = this.texts.get(entry);
    if (text === undefined) {
      const read = decodeWriteResourceText(this.readLine(state, currentPosition(entry.h)));
      if (read === null) return null;
      text = read;
      this.texts.hold(entry, text);
    }
    return text;
  }

  private searchValuesOf(entry: Entry): SearchIndex {
    let s = this.searchValues.get(entry);
    if (s === undefined) {
      s = deepFreeze(parseSearchIndex(entry));
      this.searchValues.set(entry, s);
    }
    return s;
  }

  private readVersion(state: TypeState, position: number): HistoryEntry {
    const bytes = this.readLine(state, position);
    const meta = decodeWriteMeta(bytes);
    return {
      resourceType: meta.resourceType,
      id: meta.id,
      versionId: meta.versionId,
      lastUpdated: meta.lastUpdated,
      method: meta.method,
      resource: meta.deleted ? null : decodeWriteResource(bytes),
    };
  }

  private readLine(state: TypeState, position: number): Buffer {
    const { location, length } = state.history.locationAt(position);
    return this.journal.unwritten(location, length) ?? this.segmentReader.read(location, length);
  }

  commit(writes: ResourceWrite[]): Promise<void> {
    return this.write(async () => ({ writes, result: undefined }));
  }

  transaction<T>(_lockKeys: readonly string[], fn: (reader: TransactionReader) => Promise<TransactionPlan<T>>): Promise<T> {
    return this.write(() => fn(this.reader));
  }

  private async write<T>(plan: () => Promise<TransactionPlan<T>>): Promise<T> {
    this.assertUsable();
    this.writesInFlight++;
    let durable: { result: T; seq: number };
    try {
      durable = await this.writeDurably(plan);
    } finally {
      this.writesInFlight--;
    }
    if (durable.seq > 0) this.maybeSnapshot();
    return durable.result;
  }

  private async writeDurably<T>(plan: () => Promise<TransactionPlan<T>>): Promise<{ result: T; seq: number }> {
    const { result, seq } = await this.writeLock.run(async () => {
      // Not assertUsable: writes queued before close() still run (close queues behind them).
      this.assertHealthy();
      const { writes, result: value } = await plan();
      if (writes.length === 0) return { result: value, seq: 0 };
      this.checkVersions(writes);
      // Each line's text is encoded into the record as soon as it is made (journal.ts
      // RecordBuilder): no commit-sized string and no line text kept until the record is sized.
      // A large commit (a generator run: thousands of Slots) is encoded a slice per event-loop
      // turn, so reads go on being answered meanwhile; they see the state before this commit
      // until it is applied below, all at once.
      const builder = this.journal.newRecord();
      const metas: WriteMeta[] = [];
      for (const write of writes) {
        if (metas.length % WRITES_PER_TURN === WRITES_PER_TURN - 1) await setImmediate();
        const { text, meta } = encodeWrite(write);
        builder.add(text);
        metas.push(meta);
      }
      let appended: { seq: number; offset: number };
      try {
        appended = this.journal.append(builder);
      } catch (e) {
        this.fail(e);
        throw e;
      }
      const segment = this.journal.segment;
      const { lineOffsets, lineLengths } = builder;
      metas.forEach((meta, i) => {
        this.state.apply(meta, packLocation(segment, appended.offset + (lineOffsets[i] ?? 0)), lineLengths[i] ?? 0, writes[i]?.s);
      });
      return { result: value, seq: appended.seq };
    });
    if (seq > 0) {
      try {
        await this.journal.waitDurable(seq);
      } catch (e) {
        this.fail(e);
        throw e;
      }
    }
    return { result, seq };
  }

  /** R4 versioning via store.ts: each write names the version it replaces (0 = must not exist, not even deleted). */
  private checkVersions(writes: readonly ResourceWrite[]): void {
    // Per type, so no `Type/id` string is built per write (a generator run commits thousands).
    const staged = new Map<ResourceType, Map<string, number>>();
    for (const w of writes) {
      let stagedOfType = staged.get(w.resourceType);
      if (stagedOfType === undefined) {
        stagedOfType = new Map();
        staged.set(w.resourceType, stagedOfType);
      }
      const current = stagedOfType.get(w.id) ?? this.state.of(w.resourceType).entries.get(w.id)?.versionId ?? 0;
      if (current !== w.previousVersionId) {
        const key = `${w.resourceType}/${w.id}`;
        throw conflict(
          current === 0
            ? `${key} does not exist (expected version ${w.previousVersionId})`
            : `${key} is at version ${current}, not ${w.previousVersionId === 0 ? 'absent' : w.previousVersionId}`,
        );
      }
      stagedOfType.set(w.id, w.versionId);
    }
  }

  /** After a durable commit, and after a rotation (a snapshot put off meanwhile may be due): see `snapshotAction`. */
  private maybeSnapshot(): void {
    if (this.snapshotting !== undefined || this.closing !== undefined || this.failure !== undefined) return;
    const action = snapshotAction({
      journalBytes: this.journal.size,
      sinceSnapshot: this.rotatedSinceSnapshot + this.journal.size,
      lastSnapshotBytes: this.lastSnapshotBytes,
      snapshotEveryBytes: this.snapshotEveryBytes,
      idle: this.writesInFlight === 0,
      deferred: this.snapshotDeferred,
    });
    if (action === 'snapshot') {
      this.snapshot().catch((e: unknown) => this.onBackgroundError(e));
    } else if (action !== 'none') {
      if (action === 'defer') this.snapshotDeferred = true;
      this.rotateOnly().catch((e: unknown) => this.onBackgroundError(e));
    }
  }

  /** A new segment without a snapshot: segments stay near `snapshotEveryBytes` (replay reads one whole). */
  private rotateOnly(): Promise<void> {
    const running = this.writeLock.run(async () => {
      if (this.failure !== undefined || this.closing !== undefined || this.journal.size < this.snapshotEveryBytes) return;
      const bytes = this.journal.size;
      try {
        await this.journal.syncAll();
        this.journal.rotate();
      } catch (e) {
        this.fail(e);
        throw e;
      }
      this.rotatedSinceSnapshot += bytes;
    });
    const tracked = running.finally(() => {
      if (this.snapshotting === tracked) this.snapshotting = undefined;
      // A snapshot put off may be due: the commits that ended while this rotation ran found it busy.
      this.maybeSnapshot();
    });
    this.snapshotting = tracked;
    return tracked;
  }

  snapshot(): Promise<void> {
    this.assertUsable();
    return this.takeSnapshot(true);
  }

  /** After a long replay or an unusable snapshot: take one now so the next start is fast. */
  snapshotInBackground(): void {
    this.takeSnapshot(true).catch((e: unknown) => this.onBackgroundError(e));
  }

  private takeSnapshot(force = false): Promise<void> {
    const running = (async (): Promise<void> => {
      await this.snapshotting?.catch(() => undefined);
      const capture = await this.writeLock.run(async () => this.rotate(force));
      if (capture !== undefined) this.lastSnapshotBytes = await writeSnapshot(this.dir, capture);
    })();
    const tracked = running.finally(() => {
      if (this.snapshotting === tracked) this.snapshotting = undefined;
    });
    this.snapshotting = tracked;
    return tracked;
  }

  /**
   * Inside the write lock: make the current segment durable, continue in a new one, capture the
   * state. Nothing to do when the current segment is empty (the newest snapshot is current),
   * unless `force`d.
   */
  private async rotate(force = false): Promise<SnapshotCapture | undefined> {
    if (this.failure !== undefined || (this.journal.size === 0 && !force)) return undefined;
    try {
      await this.journal.syncAll();
      this.journal.rotate();
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.rotatedSinceSnapshot = 0;
    this.snapshotDeferred = false;
    return {
      segment: this.journal.segment,
      types: [...this.state.types.values()].map((t) => ({
        type: t.type,
        entries: Array.from(t.entries.values()),
        history: t.history.capture(),
        keys: t.indexes.captureKeys(),
      })),
    };
  }

  async ping(): Promise<void> {
    this.assertUsable();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    try {
      await this.snapshotting?.catch((e: unknown) => this.onBackgroundError(e));
      const capture = await this.writeLock.run(async () => this.rotate());
      if (capture !== undefined) this.lastSnapshotBytes = await writeSnapshot(this.dir, capture);
    } finally {
      this.closed = true;
      this.resources.clear();
      this.texts.clear();
      this.searchValues.clear();
      this.segmentReader.close();
      await this.journal.close();
      this.lock.release();
    }
  }
}

/**
 * Opens (creating if needed) an embedded store in `options.dataDir`: takes the directory lock,
 * loads the newest snapshot and replays the journal after it.
 */
export async function createEmbeddedStore(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  const dir = path.resolve(options.dataDir);
  fs.mkdirSync(dir, { recursive: true });
  const lock = DataDirectoryLock.acquire(dir);
  try {
    const { state, segment, segmentBytes, replayedBytes, snapshotSkipped, snapshotBytes, segmentReader } = recover(dir);
    let journal: JournalWriter;
    try {
      journal = JournalWriter.open(dir, segment, segmentBytes);
    } catch (e) {
      segmentReader.close();
      throw e;
    }
    const snapshotEveryBytes = options.snapshotEveryBytes ?? DEFAULT_SNAPSHOT_EVERY_BYTES;
    const store = new EmbeddedStoreImpl(
      dir,
      state,
      journal,
      lock,
      snapshotEveryBytes,
      options.onBackgroundError ?? (() => undefined),
      { snapshotBytes, rotatedBytes: replayedBytes - segmentBytes },
      segmentReader,
    );
    if (snapshotSkipped || replayedBytes >= snapshotEveryBytes) store.snapshotInBackground();
    return store;
  } catch (e) {
    lock.release();
    throw e;
  }
}
