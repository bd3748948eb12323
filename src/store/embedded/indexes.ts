import BTree from 'sorted-btree';
import type { ResourceType } from '../../fhir/resource-types';
import type { IndexValue, SearchIndex } from '../store';
import { SharedRanges } from './entry';
import type { Entry } from './entry';

/**
 * Which search values the embedded store indexes in memory, per type. Everything else is still
 * searchable (mingo evaluates it on the candidates); this table only decides what is fast. It is
 * deliberately short: the product must hold 1,000,000 Slots in 1.5 GB, and every hash entry costs
 * ~40 bytes per document. `hash`: token/reference codes (exact-match keys); `date`: DateRange codes
 * (sorted on `lo`); `block`: Appointment `_block` by actor.
 */
export interface IndexSpec {
  readonly hash: readonly string[];
  readonly date: readonly string[];
  readonly block: boolean;
  /**
   * Date codes also indexed per value of a hash code, for the queries that name both (the
   * Slots of one schedule in a window, the appointments of one actor on a day): each value gets
   * its own small tree, so the answer costs its size, not the size of either index alone.
   */
  readonly compound?: ReadonlyArray<{ readonly hash: string; readonly date: string; readonly narrowedBy?: string }>;
}

export const INDEXED_PARAMETERS: Readonly<Record<ResourceType, IndexSpec>> = {
  Slot: {
    hash: ['schedule', 'status', 'identifier'],
    date: ['start', 'end'],
    block: false,
    // Narrowed by status: a search or $find asks for one schedule's *free* Slots in a window, and
    // checking each candidate's status in the ~all-Slots `status=free` Set (a cache miss each) was
    // ~10% of a 14-day $find.
    compound: [{ hash: 'schedule', date: 'start', narrowedBy: 'status' }],
  },
  Appointment: {
    hash: ['actor', 'patient', 'practitioner', 'location', 'slot', 'status', 'identifier'],
    date: ['date', 'end'],
    block: true,
    compound: [{ hash: 'actor', date: 'date' }],
  },
  Schedule: { hash: ['actor', 'active', 'identifier'], date: [], block: false },
  Patient: { hash: ['identifier'], date: [], block: false },
  Practitioner: { hash: ['identifier'], date: [], block: false },
  PractitionerRole: { hash: ['practitioner', 'location', 'service', 'identifier'], date: [], block: false },
  Location: { hash: ['identifier'], date: [], block: false },
  HealthcareService: { hash: ['identifier'], date: [], block: false },
  Organization: { hash: ['identifier'], date: [], block: false },
  AuditEvent: { hash: ['entity', 'agent'], date: ['date'], block: false },
};

const BLOCK_CODE = '_block';
/** Where `rangesOf` gathers a document's triples before SharedRanges finds or copies them (grown, never shrunk). */
const scratch: number[] = [];
/** What a parameter without values reads as: shared, so a write's missing codes allocate nothing. */
const NO_VALUES: readonly IndexValue[] = Object.freeze([]);

function isRange(value: IndexValue): value is { lo: number; hi: number } {
  return typeof value === 'object' && typeof value.lo === 'number' && typeof value.hi === 'number';
}

/**
 * The ids of each key of a hash index. A key keeps a plain list of ids until it is first read or
 * removed from, and only then gets its Set:
 * - loaded from a snapshot: building the Sets was a fifth of start-up at 1,000,000 Slots
 *   (`status=free` alone holds ~1M ids), and most keys are not asked for before the first requests;
 * - written: a generator run adds each of its Slots to `free` and `|free` (~all Slots each), and
 *   adding to Sets that size (a cache miss and, now and then, a rehash of the whole table) was
 *   ~8% of the run; appending to a list is not.
 * Every read and removal reaches a key through `get`, which builds its Set then, so a lookup sees
 * exactly the ids it would have seen had the Set been kept all along. A list never holds an id
 * twice: a document's old version is un-indexed (through `get`) before its new one is added, and a
 * write's values are distinct (TypeIndexes.update).
 */
class HashKeys {
  private readonly byKey = new Map<string, Set<string> | string[]>();

  get(key: string): Set<string> | undefined {
    const ids = this.byKey.get(key);
    if (ids === undefined || ids instanceof Set) return ids;
    const set = new Set(ids);
    this.byKey.set(key, set);
    return set;
  }

  /** Adds `id` to the key's Set, or to its list while it has none. */
  add(key: string, id: string): void {
    const ids = this.byKey.get(key);
    if (ids === undefined) this.byKey.set(key, [id]);
    else if (ids instanceof Set) ids.add(id);
    else ids.push(id);
  }

  /** A loaded key's list (the caller gives it up). */
  setList(key: string, ids: string[]): void {
    this.byKey.set(key, ids);
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }

  /** Whether `key` still holds a list (no Set built yet): for tests. */
  isPending(key: string): boolean {
    return Array.isArray(this.byKey.get(key));
  }

  /** Each key with a copy of its ids, without building the Sets of keys not yet used. */
  *copies(): Generator<[string, string[]]> {
    for (const [key, ids] of this.byKey) yield [key, Array.from(ids)];
  }
}

export class HashIndex {
  readonly keys = new HashKeys();

  add(key: string, id: string): void {
    this.keys.add(key, id);
  }

  /** Snapshot loading: a whole key at once, kept as its list until first used (HashKeys). */
  load(key: string, ids: string[]): void {
    const present = this.keys.get(key);
    if (present === undefined) this.keys.setList(key, ids);
    else for (const id of ids) present.add(id);
  }

  remove(key: string, id: string): void {
    const ids = this.keys.get(key);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.keys.delete(key);
  }
}

/** The ranges starting at one `lo`: parallel arrays (numbers stay unboxed in a double array). */
interface Bucket {
  ids: string[];
  his: number[];
}

/** The span (hi − lo) bounds of the ranges an index has held: never narrowed on removal, so walks stay safe (only looser). */
export interface SpanBounds {
  minSpan: number;
  maxSpan: number;
}

/** Widens `bounds` to take in the range [lo, hi]. */
function widenSpans(bounds: SpanBounds, lo: number, hi: number): void {
  const span = hi - lo;
  if (span < bounds.minSpan) bounds.minSpan = span;
  if (span > bounds.maxSpan) bounds.maxSpan = span;
}

/**
 * DateRanges sorted on `lo`. A condition on `hi` becomes a bound on `lo` through the spread of
 * spans (hi - lo) seen so far: lo ∈ [hi - maxSpan, hi - minSpan]. Spans are never narrowed on
 * removal, so the bounds stay safe (only looser).
 */
export class DateIndex implements SpanBounds {
  readonly tree = new BTree<number, Bucket>();
  private readonly loading = new Map<number, Bucket>();
  minSpan = Infinity;
  maxSpan = -Infinity;

  /** `slot`: this index's number in entry `ranges` triples. */
  constructor(readonly slot: number) {}

  add(lo: number, hi: number, id: string): void {
    this.place(this.tree, lo, hi, id);
  }

  /**
   * Snapshot loading: as `add`, into a Map of buckets moved into the tree by `finishLoading`. A
   * million Slots share some thousands of start times, so a hash lookup per range replaces a
   * tree descent per range, and the tree gets one insertion per bucket.
   */
  load(lo: number, hi: number, id: string): void {
    this.place(this.loading, lo, hi, id);
  }

  /** Widens the span bounds and puts the range into `lo`'s bucket of `buckets` (the tree, or the loading Map). */
  private place(buckets: { get(lo: number): Bucket | undefined; set(lo: number, bucket: Bucket): unknown }, lo: number, hi: number, id: string): void {
    widenSpans(this, lo, hi);
    const bucket = buckets.get(lo);
    if (bucket === undefined) buckets.set(lo, { ids: [id], his: [hi] });
    else {
      bucket.ids.push(id);
      bucket.his.push(hi);
    }
  }

  finishLoading(): void {
    for (const [lo, bucket] of this.loading) {
      const present = this.tree.get(lo);
      if (present === undefined) this.tree.set(lo, bucket);
      else {
        for (let i = 0; i < bucket.ids.length; i++) {
          present.ids.push(bucket.ids[i] ?? '');
          present.his.push(bucket.his[i] ?? 0);
        }
      }
    }
    this.loading.clear();
  }

  remove(lo: number, hi: number, id: string): void {
    const bucket = this.tree.get(lo);
    if (bucket === undefined) return;
    for (let i = 0; i < bucket.ids.length; i++) {
      if (bucket.ids[i] === id && bucket.his[i] === hi) {
        bucket.ids.splice(i, 1);
        bucket.his.splice(i, 1);
        break;
      }
    }
    if (bucket.ids.length === 0) this.tree.delete(lo);
  }
}

/** Adds `entry` to the group of `lo` in `byLo` (one entry, or an array when several share a `lo`, as EntryTrees hold them). */
export function groupByLo(byLo: Map<number, Entry | Entry[]>, lo: number, entry: Entry): void {
  const present = byLo.get(lo);
  if (present === undefined) byLo.set(lo, entry);
  else if (Array.isArray(present)) present.push(entry);
  else byLo.set(lo, [present, entry]);
}

/**
 * Entries per key, each key's in a tree sorted on a number (`lo`): one entry, or an array when
 * several share a `lo`. Values are the entries themselves, not their ids: a walk reads each
 * entry's values for its exact checks without a look-up in the type's entries Map (a cache miss
 * each; ~6% of a day's Slot search). Every write removes its old entry (by id) and adds the new
 * one, so a tree never holds a replaced entry.
 */
export class EntryTrees {
  readonly trees = new Map<string, BTree<number, Entry | Entry[]>>();

  add(key: string, lo: number, entry: Entry): void {
    let tree = this.trees.get(key);
    if (tree === undefined) {
      tree = new BTree<number, Entry | Entry[]>();
      this.trees.set(key, tree);
    }
    // A Schedule's Slots mostly start at times it has no Slot at yet: try the insert first, so the
    // common case walks the tree once (set without overwrite keeps a present value and says so).
    if (tree.set(lo, entry, false)) return;
    const present = tree.get(lo);
    if (present === undefined) return;
    if (Array.isArray(present)) present.push(entry);
    else tree.set(lo, [present, entry]);
  }

  /**
   * One key's entries grouped by `lo` (as the tree holds them), all at once: the tree gets one
   * insertion per `lo` instead of a lookup and an insertion per entry.
   */
  load(key: string, byLo: ReadonlyMap<number, Entry | Entry[]>): void {
    if (this.trees.has(key)) {
      for (const [lo, value] of byLo) for (const entry of Array.isArray(value) ? value : [value]) this.add(key, lo, entry);
      return;
    }
    if (byLo.size === 0) return;
    const tree = new BTree<number, Entry | Entry[]>();
    for (const [lo, value] of byLo) tree.set(lo, value);
    this.trees.set(key, tree);
  }

  /** Removes one occurrence of the document `id` at `lo` under `key`. */
  remove(key: string, lo: number, id: string): void {
    const tree = this.trees.get(key);
    const present = tree?.get(lo);
    if (tree === undefined || present === undefined) return;
    if (!Array.isArray(present)) {
      if (present._id === id) tree.delete(lo);
    } else {
      const i = present.findIndex((e) => e._id === id);
      if (i >= 0) present.splice(i, 1);
      const [only] = present;
      if (present.length === 1 && only !== undefined) tree.set(lo, only);
    }
    if (tree.size === 0) this.trees.delete(key);
  }
}

/** A date code's `lo` per value of a hash code (IndexSpec `compound`); see EntryTrees. */
export class CompoundIndex extends EntryTrees {
  constructor(
    readonly hashCode: string,
    readonly date: DateIndex,
    readonly dateCode: string,
  ) {
    super();
  }
}

/**
 * EntryTrees whose keys are built one at a time, the first time a query names them
 * (query-planner.ts), and kept in step by every write from then on: keys never asked about cost
 * nothing, and a start from a snapshot builds nothing.
 */
class LazyEntryTrees extends EntryTrees {
  private readonly built = new Set<string>();

  isBuilt(key: string): boolean {
    return this.built.has(key);
  }

  /** The key's whole tree (its entries grouped by `lo`), from then on kept in step. */
  build(key: string, byLo: ReadonlyMap<number, Entry | Entry[]>): void {
    this.built.add(key);
    this.load(key, byLo);
  }

  addIfBuilt(key: string, lo: number, entry: Entry): void {
    if (this.built.has(key)) this.add(key, lo, entry);
  }

  removeIfBuilt(key: string, lo: number, id: string): void {
    if (this.built.has(key)) this.remove(key, lo, id);
  }
}

/**
 * A CompoundIndex's trees split again by the values of a second hash code (IndexSpec
 * `narrowedBy`): the Slots of one schedule *and one status* by start, keyed `schedule\0status`.
 * A key's tree is built from the compound tree of the first value and the second code's hash index
 * (LazyEntryTrees).
 */
export class NarrowedIndex extends LazyEntryTrees {
  /** First values with at least one built key: a write of any other value makes no key at all. */
  private readonly builtFirsts = new Set<string>();

  constructor(
    readonly compound: CompoundIndex,
    readonly hashCode: string,
  ) {
    super();
  }

  static key(first: string, second: string): string {
    return `${first}\u0000${second}`;
  }

  buildPair(first: string, second: string, byLo: ReadonlyMap<number, Entry | Entry[]>): void {
    this.builtFirsts.add(first);
    this.build(NarrowedIndex.key(first, second), byLo);
  }

  /** Whether a key with this first value may be built (writes skip the others without making keys). */
  hasFirst(first: string): boolean {
    return this.builtFirsts.has(first);
  }
}

/**
 * Appointment `_block`s per actor, sorted on the block's `lo`: the booking engine asks, for every
 * booking, which active appointments of its actors overlap a window. Without it the answer was
 * every active appointment of the actors, past ones included, each tested: a cost growing with
 * each practitioner's history. With it, a walk over `lo` in (window start − longest block, window
 * end). An actor's tree is built from the entries the `_block` hash index lists for it
 * (LazyEntryTrees).
 */
export class BlockTimes extends LazyEntryTrees implements SpanBounds {
  minSpan = Infinity;
  maxSpan = -Infinity;

  widen(lo: number, hi: number): void {
    widenSpans(this, lo, hi);
  }

  addBlock(actor: string, lo: number, hi: number, entry: Entry): void {
    this.widen(lo, hi);
    this.addIfBuilt(actor, lo, entry);
  }
}

/** Whether a `_block` before `blocks[end]` names `actor`. */
function hasActorBefore(blocks: readonly IndexValue[], end: number, actor: string): boolean {
  for (let i = 0; i < end; i++) {
    const value = blocks[i];
    if (typeof value === 'object' && 'a' in value && value.a === actor) return true;
  }
  return false;
}

/** The entry a snapshot's index key names by its ordinal; only live entries are indexed. */
function liveEntry(entries: readonly Entry[], ordinal: number | undefined): Entry {
  const entry = ordinal === undefined ? undefined : entries[ordinal];
  if (entry === undefined || entry.deleted) throw new Error(`embedded store: a snapshot index key names document ${ordinal ?? '?'}, which is not live`);
  return entry;
}

/** One key of a hash or block index, as a snapshot stores it. */
export interface IndexKeys {
  code: string;
  key: string;
  ids: string[];
}

/** The in-memory indexes of one resource type, kept in step with its live (non-deleted) entries. */
export class TypeIndexes {
  readonly hash = new Map<string, HashIndex>();
  readonly date = new Map<string, DateIndex>();
  readonly block: HashIndex | undefined;
  /** `_block`s per actor and time, beside `block` (which lists each actor's documents). */
  readonly blockTimes: BlockTimes | undefined;
  readonly compound: CompoundIndex[] = [];
  readonly narrowed: NarrowedIndex[] = [];
  /**
   * `hash` and `date` as lists with their codes, for the per-write loops: iterating a Map
   * allocates a [key, value] pair per index per write (~1 KB per generated Slot in all).
   */
  private readonly hashList: Array<{ readonly code: string; readonly index: HashIndex }> = [];
  private readonly dateList: Array<{ readonly code: string; readonly index: DateIndex }> = [];
  private readonly sharedRanges = new SharedRanges();

  constructor(spec: IndexSpec) {
    for (const code of spec.hash) {
      const index = new HashIndex();
      this.hash.set(code, index);
      this.hashList.push({ code, index });
    }
    spec.date.forEach((code, slot) => {
      const index = new DateIndex(slot);
      this.date.set(code, index);
      this.dateList.push({ code, index });
    });
    this.block = spec.block ? new HashIndex() : undefined;
    this.blockTimes = spec.block ? new BlockTimes() : undefined;
    for (const { hash, date, narrowedBy } of spec.compound ?? []) {
      const dateIndex = this.date.get(date);
      if (dateIndex === undefined) continue;
      const compound = new CompoundIndex(hash, dateIndex, date);
      this.compound.push(compound);
      if (narrowedBy !== undefined) this.narrowed.push(new NarrowedIndex(compound, narrowedBy));
    }
  }

  /**
   * For a snapshot: the hash and block indexes as (code, key, ids), copied so that writes after
   * the capture do not show. Date and compound indexes are rebuilt on load from entry `ranges`.
   */
  captureKeys(): IndexKeys[] {
    const keys: IndexKeys[] = [];
    const all: Array<[string, HashIndex | undefined]> = [...this.hash, [BLOCK_CODE, this.block]];
    for (const [code, index] of all) {
      if (index === undefined) continue;
      for (const [key, ids] of index.keys.copies()) keys.push({ code, key, ids });
    }
    return keys;
  }

  /** Snapshot loading: a live entry's date ranges (entry `ranges`); `finishLoading` once all are in. */
  loadRanges(id: string, ranges: readonly number[]): void {
    for (let i = 0; i + 2 < ranges.length; i += 3) {
      // A triple's first number is its index's slot, which is its place in dateList.
      const index = this.dateList[ranges[i] ?? -1]?.index;
      const lo = ranges[i + 1];
      const hi = ranges[i + 2];
      if (index !== undefined && lo !== undefined && hi !== undefined) index.load(lo, hi, id);
    }
  }

  /** Snapshot loading done: the date indexes take in what `loadRanges` gathered. */
  finishLoading(): void {
    for (const { index } of this.dateList) index.finishLoading();
  }

  /**
   * Snapshot loading: the live entries of a hash (or block) key, as `entries[ordinals[i]]` (for
   * compound indexes, their ranges too). Takes the snapshot's ordinals, not a list of entries: a
   * key such as `status=free` names ~1M documents, and the id list is all the hash index keeps.
   */
  loadKeys(code: string, key: string, ordinals: Uint32Array, entries: readonly Entry[]): void {
    const index = code === BLOCK_CODE ? this.block : this.hash.get(code);
    if (index === undefined) return;
    const ids = new Array<string>(ordinals.length);
    for (let i = 0; i < ordinals.length; i++) ids[i] = liveEntry(entries, ordinals[i])._id;
    index.load(key, ids);
    for (const compound of this.compound) {
      if (compound.hashCode !== code) continue;
      const byLo = new Map<number, Entry | Entry[]>();
      for (const ordinal of ordinals) {
        const entry = liveEntry(entries, ordinal);
        const ranges = entry.ranges;
        if (ranges === undefined) continue;
        for (let i = 0; i + 2 < ranges.length; i += 3) {
          const lo = ranges[i + 1];
          if (ranges[i] !== compound.date.slot || lo === undefined) continue;
          groupByLo(byLo, lo, entry);
        }
      }
      compound.load(key, byLo);
    }
  }

  /**
   * The date-indexed ranges of `s` as [slot, lo, hi] triples (entry.ts `ranges`), shared with
   * other entries of the same ranges (SharedRanges).
   */
  rangesOf(s: SearchIndex): readonly number[] | undefined {
    let n = 0;
    for (const { code, index } of this.dateList) {
      for (const value of s[code] ?? NO_VALUES) {
        if (!isRange(value)) continue;
        scratch[n++] = index.slot;
        scratch[n++] = value.lo;
        scratch[n++] = value.hi;
      }
    }
    return n === 0 ? undefined : this.sharedRanges.get(scratch, 0, n);
  }

  /** Indexes a live document whose search values are `s` (`ranges`: `rangesOf(s)`, when the caller has it). */
  add(entry: Entry, s: SearchIndex, ranges = this.rangesOf(s)): void {
    this.update(entry._id, entry, s, ranges);
  }

  /** Undoes `add` of `entry`, whose search values are `s`. */
  remove(entry: Entry, s: SearchIndex): void {
    this.update(entry._id, undefined, s, entry.ranges);
  }

  /** Adds `entry` (whose id is `id`) or, when undefined, removes the document `id`. */
  private update(id: string, entry: Entry | undefined, s: SearchIndex, ranges: readonly number[] | undefined): void {
    const adding = entry !== undefined;
    for (const { code, index } of this.hashList) {
      const values = s[code] ?? NO_VALUES;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        // A value repeated in `s` is indexed once: a key's list is not a Set (HashKeys).
        if (typeof value !== 'string' || (i > 0 && values.indexOf(value) !== i)) continue;
        if (adding) index.add(value, id);
        else index.remove(value, id);
      }
    }
    // Date values through their `ranges` triples: `s` is not searched a second time for them.
    if (ranges !== undefined) {
      for (let i = 0; i + 2 < ranges.length; i += 3) {
        const index = this.dateList[ranges[i] ?? -1]?.index;
        const lo = ranges[i + 1];
        const hi = ranges[i + 2];
        if (index === undefined || lo === undefined || hi === undefined) continue;
        if (adding) index.add(lo, hi, id);
        else index.remove(lo, hi, id);
      }
      for (const compound of this.compound) {
        for (const key of s[compound.hashCode] ?? NO_VALUES) {
          if (typeof key !== 'string') continue;
          for (let i = 0; i + 2 < ranges.length; i += 3) {
            const lo = ranges[i + 1];
            if (ranges[i] !== compound.date.slot || lo === undefined) continue;
            if (entry !== undefined) compound.add(key, lo, entry);
            else compound.remove(key, lo, id);
          }
        }
      }
      for (const narrowed of this.narrowed) {
        const { compound } = narrowed;
        for (const first of s[compound.hashCode] ?? NO_VALUES) {
          if (typeof first !== 'string' || !narrowed.hasFirst(first)) continue;
          for (const second of s[narrowed.hashCode] ?? NO_VALUES) {
            if (typeof second !== 'string') continue;
            const key = NarrowedIndex.key(first, second);
            for (let i = 0; i + 2 < ranges.length; i += 3) {
              const lo = ranges[i + 1];
              if (ranges[i] !== compound.date.slot || lo === undefined) continue;
              if (entry !== undefined) narrowed.addIfBuilt(key, lo, entry);
              else narrowed.removeIfBuilt(key, lo, id);
            }
          }
        }
      }
    }
    if (this.block !== undefined) {
      const blocks = s[BLOCK_CODE] ?? NO_VALUES;
      for (let i = 0; i < blocks.length; i++) {
        const value = blocks[i];
        if (value === undefined || typeof value !== 'object' || !('a' in value) || typeof value.a !== 'string') continue;
        if (entry !== undefined) {
          // Listed once per actor however many blocks it has (a key's list is not a Set: HashKeys).
          if (!hasActorBefore(blocks, i, value.a)) this.block.add(value.a, id);
          this.blockTimes?.addBlock(value.a, value.lo, value.hi, entry);
        } else {
          this.block.remove(value.a, id);
          this.blockTimes?.removeIfBuilt(value.a, value.lo, id);
        }
      }
    }
  }
}
