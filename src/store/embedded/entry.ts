import type { ResourceType, StoredFhirResource } from '../../fhir/resource-types';
import type { ResourceDocument, SearchIndex, SortKeys, WriteMethod } from '../store';

/**
 * The in-memory form of a current document: what search needs, and no more (SPEC: 1,000,000
 * Slots in 1.5 GB, so ~700 bytes of heap per Slot).
 * - The resource stays on disk, in the journal line of its current version (the last of `h`), and
 *   is read and parsed when a document is returned, so every caller gets its own copy.
 * - The search values are not kept either: they are read, as JSON text, from the same journal
 *   line on use (`searchJson`), as the resource is. The indexes hold what lookups need; the text
 *   is read only to evaluate a residual filter (the parsed-values cache keeps hot ones), to sort on
 *   an `s.*` path, to un-index the version a write replaces, or to return the document (a fresh
 *   copy each time). Kept as objects, a Slot's `s` cost ~700 bytes; as text ~350 (at 1,000,000
 *   Slots, ~600 MB of the heap and most of the snapshot file); even as the rope of shared parts
 *   the generator builds, ~130 (a fifth of a generated Slot's heap, copied by every
 *   young-generation GC while a run installs its Slots).
 * - `ranges` keeps the date-indexed ranges as plain numbers, so checking a date clause on a
 *   candidate needs no parsing.
 * Entries are immutable (every write replaces the entry), which lets a snapshot be written in the
 * background from a captured list — but for `text`/`textUsed`, the text cache's slots (EntryTexts).
 * Every entry is a StoredEntry, whether loaded from a snapshot, replayed or written since: one
 * class, so the hot paths that read entries see one layout.
 */
export interface Entry {
  readonly _id: string;
  readonly versionId: number;
  readonly lastUpdated: number;
  readonly deleted: boolean;
  /** `s` (store.ts SearchIndex) as JSON text; `{}` for a tombstone. */
  readonly searchJson: string;
  /** Frozen: returned to callers as is. */
  readonly o: SortKeys;
  /** Date-indexed ranges as triples [date index slot, lo, hi, …] (indexes.ts); undefined when none. */
  readonly ranges: readonly number[] | undefined;
  /** This resource's versions as positions in its type's HistoryLog, oldest first (a number when there is one). */
  readonly h: number | readonly number[];
  /** The stored JSON text while EntryTexts holds it. */
  text?: string | undefined;
  /** Set when the held text is read: its second chance in EntryTexts. */
  textUsed?: boolean;
}

/**
 * Stored JSON texts held on their entries (`Entry.text`), at most `capacity` at a time, evicted by
 * the CLOCK rule (an approximate LRU: a text read since the hand last passed gets a second
 * chance). A hit is a field read on the entry the caller already has: a Map keyed by entries
 * cost a hash-table look-up per document, ~4% of a search's CPU (36 look-ups in a 160k table).
 * A text never goes stale: an entry is one version, and a write installs a new entry.
 */
export class EntryTexts {
  private readonly ring: Entry[] = [];
  private hand = 0;

  constructor(private readonly capacity: number) {}

  get(entry: Entry): string | undefined {
    const text = entry.text;
    if (text !== undefined) entry.textUsed = true;
    return text;
  }

  /** Holds the text of an entry that holds none. */
  hold(entry: Entry, text: string): void {
    if (this.ring.length < this.capacity) {
      this.ring.push(entry);
    } else {
      // Terminates: one full turn clears every second chance.
      for (let current = this.ring[this.hand]; current?.textUsed === true; current = this.ring[this.hand]) {
        current.textUsed = false;
        this.hand = (this.hand + 1) % this.capacity;
      }
      const evicted = this.ring[this.hand];
      if (evicted !== undefined) evicted.text = undefined;
      this.ring[this.hand] = entry;
      this.hand = (this.hand + 1) % this.capacity;
    }
    entry.text = text;
    entry.textUsed = false;
  }

  get size(): number {
    return this.ring.length;
  }

  clear(): void {
    for (const entry of this.ring) entry.text = undefined;
    this.ring.length = 0;
    this.hand = 0;
  }
}

/** Where a StoredEntry reads its `s` text: the write line at a history position of its type. */
export interface SearchTextSource {
  searchJsonAt(position: number): string;
}

/** An entry: `searchJson` is read from its current version's journal line on use (see Entry). */
export class StoredEntry implements Entry {
  constructor(
    readonly _id: string,
    readonly versionId: number,
    readonly lastUpdated: number,
    readonly deleted: boolean,
    readonly o: SortKeys,
    readonly ranges: readonly number[] | undefined,
    readonly h: number | readonly number[],
    private readonly source: SearchTextSource,
  ) {}

  // Declared here so that every entry has the same layout from the start (see EntryTexts).
  text: string | undefined = undefined;
  textUsed = false;

  get searchJson(): string {
    return this.source.searchJsonAt(currentPosition(this.h));
  }
}

/** The sort keys of a tombstone (and of any document without any): one shared frozen object. */
export const EMPTY_SORT_KEYS: SortKeys = Object.freeze({});

/** One version as the journal records it (a write line, see write-codec.ts), without its resource. */
export interface WriteMeta {
  resourceType: ResourceType;
  id: string;
  versionId: number;
  lastUpdated: number;
  method: WriteMethod;
  /** `s` as JSON text. */
  searchJson: string;
  o: SortKeys;
  deleted: boolean;
}

export function parseSearchIndex(entry: Entry): SearchIndex {
  const s: SearchIndex = JSON.parse(entry.searchJson);
  return s;
}

/** Where a document's resource comes from, each asked at most once per document. */
export interface ResourceSource {
  /** The stored JSON text; null for a tombstone. */
  json(): string | null;
  /** A fresh parsed copy; null for a tombstone. */
  resource(): StoredFhirResource | null;
}

/**
 * A document for a caller. Its resource, its JSON text and `s` are produced on first use: a search
 * answer passes the stored text through and never parses the resource, the booking engine parses
 * the resource and never needs the text, and few callers look at `s`. Each is the caller's own
 * (the resource a fresh copy) and `resource`/`s` can be reassigned. A class, not an object literal
 * with accessors: a search builds thousands of these, and a literal's accessors cost ~2 µs each.
 * The lazy members live on the prototype, so a spread copy does not carry them (none is made).
 */
class StoredDocument implements ResourceDocument {
  readonly _id: string;
  readonly versionId: number;
  readonly lastUpdated: number;
  readonly deleted: boolean;
  readonly o: SortKeys;
  private parsedResource: StoredFhirResource | null | undefined;
  private text: string | null | undefined;
  private parsedS: SearchIndex | undefined;

  constructor(
    private readonly entry: Entry,
    private readonly source: ResourceSource,
  ) {
    this._id = entry._id;
    this.versionId = entry.versionId;
    this.lastUpdated = entry.lastUpdated;
    this.deleted = entry.deleted;
    this.o = entry.o;
  }

  get resource(): StoredFhirResource | null {
    if (this.parsedResource === undefined) this.parsedResource = this.deleted ? null : this.source.resource();
    return this.parsedResource;
  }

  set resource(value: StoredFhirResource | null) {
    this.parsedResource = value;
  }

  get json(): string | undefined {
    if (this.text === undefined) this.text = this.deleted ? null : this.source.json();
    return this.text ?? undefined;
  }

  get s(): SearchIndex {
    this.parsedS ??= parseSearchIndex(this.entry);
    return this.parsedS;
  }

  set s(value: SearchIndex) {
    this.parsedS = value;
  }
}

export function toResourceDocument(entry: Entry, source: ResourceSource): ResourceDocument {
  return new StoredDocument(entry, source);
}

/** The document as a plain object with every member evaluated (for mingo, which walks own properties). */
export function plainDocument(document: ResourceDocument): Record<string, unknown> {
  return {
    _id: document._id,
    versionId: document.versionId,
    lastUpdated: document.lastUpdated,
    deleted: document.deleted,
    resource: document.resource,
    s: document.s,
    o: document.o,
  };
}

/** What mingo evaluates a residual filter on: the ResourceDocument fields filters address; `s` as given (mingo only reads it). */
export function filterView(entry: Entry, s: SearchIndex): Record<string, unknown> {
  return {
    _id: entry._id,
    versionId: entry.versionId,
    lastUpdated: entry.lastUpdated,
    deleted: entry.deleted,
    s,
    o: entry.o,
  };
}

/** The history position of the entry's current version. */
export function currentPosition(h: Entry['h']): number {
  return typeof h === 'number' ? h : (h[h.length - 1] ?? -1);
}

export function historyPositions(h: Entry['h']): readonly number[] {
  return typeof h === 'number' ? [h] : h;
}

export function appendPosition(h: Entry['h'] | undefined, position: number): Entry['h'] {
  if (h === undefined) return position;
  return typeof h === 'number' ? [h, position] : h.concat(position);
}

/**
 * The sort keys as a frozen object independent of the caller's: a frozen one as it is (its values
 * are strings and numbers, so it cannot change; the Slot generator makes them compact), others copied.
 */
export function freezeSortKeys(o: SortKeys): SortKeys {
  if (Object.isFrozen(o)) return o;
  // A loop, not `{ ...o }`: V8 lays spread copies out far larger (~225 vs ~95 bytes here).
  const copy: SortKeys = {};
  for (const key of Object.keys(o)) {
    const value = o[key];
    if (value !== undefined) copy[key] = value;
  }
  return Object.freeze(copy);
}

/** Arrays SharedRanges holds before it starts over (~100 bytes each plus the Map's ~40). */
const SHARED_RANGES_CAPACITY = 65_536;

/**
 * Entry `ranges` arrays shared by the entries whose ranges are the same numbers. A clinic's
 * Schedules give their Slots the same few thousand (start, end) pairs, so 161,000 Slots need some
 * thousands of arrays, not one each (~100 bytes: an array and its double store). Memory is what
 * bounds the store (SPEC: 1,000,000 Slots in 1.5 GB) and, while a generator run installs Slots,
 * every byte kept is copied by young-generation GCs and touches fresh pages. Sharing is safe as
 * `ranges` is never written (Entry: readonly). Looked up by the first range's `lo` (a few candidates
 * each); emptied when it holds SHARED_RANGES_CAPACITY arrays (resources whose ranges are all
 * distinct, such as AuditEvents, only ever miss), which leaves the arrays handed out as they are.
 */
export class SharedRanges {
  private readonly byFirstLo = new Map<number, Array<readonly number[]>>();
  private count = 0;

  constructor(private readonly capacity = SHARED_RANGES_CAPACITY) {}

  /** `from[start .. start + length)` (whole [slot, lo, hi] triples, length ≥ 3) as a shared array. */
  get(from: ArrayLike<number>, start: number, length: number): readonly number[] {
    const firstLo = from[start + 1] ?? 0;
    let candidates = this.byFirstLo.get(firstLo);
    if (candidates !== undefined) {
      for (const candidate of candidates) if (sameNumbers(candidate, from, start, length)) return candidate;
    }
    const array = exactArray(from, start, length);
    if (this.count >= this.capacity) {
      this.byFirstLo.clear();
      this.count = 0;
      candidates = undefined;
    }
    if (candidates === undefined) this.byFirstLo.set(firstLo, [array]);
    else candidates.push(array);
    this.count++;
    return array;
  }
}

function sameNumbers(array: readonly number[], from: ArrayLike<number>, start: number, length: number): boolean {
  if (array.length !== length) return false;
  for (let i = 0; i < length; i++) if (array[i] !== from[start + i]) return false;
  return true;
}

/**
 * `length` numbers of `from` from `start` as an array of exactly that capacity (Array.from and
 * push grow an array with spare room: ~150 bytes more per entry's `ranges`).
 */
export function exactArray(from: ArrayLike<number>, start: number, length: number): number[] {
  const array = new Array<number>(length);
  for (let i = 0; i < length; i++) array[i] = from[start + i] ?? 0;
  return array;
}
