import { parseSearchIndex } from './entry';
import type { Entry } from './entry';
import type { ActorBlock } from '../store';
import type BTree from 'sorted-btree';
import { groupByLo, NarrowedIndex } from './indexes';
import type { BlockTimes, CompoundIndex, DateIndex, SpanBounds, TypeIndexes } from './indexes';

/**
 * Turns a MongoDB filter from store/query.ts into index look-ups plus the rest for mingo.
 *
 * The filter is `{}` or `{ $and: [clause, …] }` (nested `$and`s and multi-key clauses are
 * flattened). A clause is *indexable* when it is one of
 *   `{ 's.<hash code>': { $in: [string…] } }` (or a bare string), `{ _id: { $in: [string…] } }`,
 *   `{ 's.<date code>': { $elemMatch: { lo?: {$gt|$gte|$lt|$lte: number…}, hi?: {…} } } }`,
 *   `{ 's.<date code>.lo': {$gt|$gte|$lt|$lte: number…} }` (or `.hi`),
 *   `{ 's._block': { $elemMatch: { a: { $in: [string…] }, … } } }`, or an `$or` of such clauses;
 * `{ 's.<hash code>': { $nin: [string…] } }` and `{ _id: { $nin: [string…] } }` are checked per
 * candidate but never drive.
 * Hash, `_id` and date clauses are decided *exactly* by the index (the same semantics as MongoDB
 * on these document shapes). A `_block` clause whose `$elemMatch` names only `a`, `lo` and `hi`
 * is decided exactly per candidate (from the candidate's own search values), its index giving a
 * superset; any other `_block` clause, and `$or`s containing one, only narrow the candidates and
 * also stay in the residual filter that mingo evaluates. The plan drives the smallest candidate
 * source and checks the others per document. Deciding the booking engine's clauses here keeps
 * mingo (compiling a query, then evaluating it per candidate) off the booking path.
 */

type Clause = Record<string, unknown>;

/** Ids that satisfy (or, when not exact, may satisfy) a clause. */
interface IdSource {
  /** An upper bound on the number of distinct ids. */
  readonly size: number;
  has(id: string): boolean;
  ids(): Iterable<string>;
}

type ComparisonOperator = '$gt' | '$gte' | '$lt' | '$lte';
interface Comparison {
  op: ComparisonOperator;
  value: number;
}
interface RangeCondition {
  lo: Comparison[];
  hi: Comparison[];
}

/**
 * What the index knows about one clause. `test` checks one document (exactly, or as a superset
 * when not `exact`); `collect` lists the ids, or gives up past `cap`; `size` is known up front
 * for hash look-ups and unknown (undefined) for ranges and unions until they are walked.
 */
interface Access {
  /** `test` decides the clause (else the clause also goes to the residual filter). */
  exact: boolean;
  /** `collect` lists exactly the matching ids (else a superset: `test` runs on them too). */
  exactIds: boolean;
  size: number | undefined;
  test(entry: Entry): boolean;
  collect(cap: number): Iterable<string> | undefined;
  /** Set on a compound index walk: walked before plain ranges, which it usually makes unnecessary. */
  compound?: true;
  /** Set on an exact hash look-up, for compound indexes. */
  hash?: { code: string; keys: readonly string[] };
  /** Set on an exact date range, for compound indexes. */
  range?: { code: string; condition: RangeCondition };
  /** The entries of `collect`'s ids, by id (a compound walk: its trees hold the entries themselves). */
  resolved?: ReadonlyMap<string, Entry>;
}

export interface QueryPlan {
  /** Ids to visit; undefined when no index applies and the whole type is scanned. */
  driver: Iterable<string> | undefined;
  /** Exact or narrowing checks for the other indexable clauses, cheaper than mingo. */
  checks: Array<(entry: Entry) => boolean>;
  /** Clauses the indexes do not decide exactly; mingo evaluates them on the candidates. */
  residual: Clause[];
  /** Driver entries the plan already has (the store need not look them up by id). */
  resolved?: ReadonlyMap<string, Entry>;
}

export interface PlannerContext {
  indexes: TypeIndexes;
  /** The current entry of an id (tombstones included). */
  entry(id: string): Entry | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RegExp);
}

/** `{ $and: [a, { $and: [b] }], c: x }` → [a, b, { c: x }]; a multi-key clause becomes one clause per key. */
export function flattenConjunction(filter: Clause): Clause[] {
  const clauses: Clause[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value) && value.every(isRecord)) {
      for (const sub of value) clauses.push(...flattenConjunction(sub));
    } else {
      clauses.push({ [key]: value });
    }
  }
  return clauses;
}

/** The string keys of `{ $in: [..] }` or a bare string; undefined for anything else. */
function stringKeys(condition: unknown): string[] | undefined {
  if (typeof condition === 'string') return [condition];
  if (!isRecord(condition)) return undefined;
  const keys = Object.keys(condition);
  if (keys.length !== 1 || keys[0] !== '$in') return undefined;
  const values = condition.$in;
  if (!Array.isArray(values) || !values.every((v): v is string => typeof v === 'string')) return undefined;
  return values;
}

function comparisons(condition: unknown): Comparison[] | undefined {
  if (!isRecord(condition)) return undefined;
  const result: Comparison[] = [];
  for (const [op, value] of Object.entries(condition)) {
    if ((op !== '$gt' && op !== '$gte' && op !== '$lt' && op !== '$lte') || typeof value !== 'number' || Number.isNaN(value)) {
      return undefined;
    }
    result.push({ op, value });
  }
  return result.length > 0 ? result : undefined;
}

function satisfies(value: number, checks: readonly Comparison[]): boolean {
  for (const { op, value: bound } of checks) {
    switch (op) {
      case '$gt':
        if (!(value > bound)) return false;
        break;
      case '$gte':
        if (!(value >= bound)) return false;
        break;
      case '$lt':
        if (!(value < bound)) return false;
        break;
      case '$lte':
        if (!(value <= bound)) return false;
        break;
    }
  }
  return true;
}

/** Exactly MongoDB's `$elemMatch` over the DateRange elements of one date-indexed code (entry `ranges`). */
function rangeTest(entry: Entry, slot: number, condition: RangeCondition): boolean {
  const ranges = entry.ranges;
  if (ranges === undefined) return false;
  for (let i = 0; i + 2 < ranges.length; i += 3) {
    if (ranges[i] !== slot) continue;
    const lo = ranges[i + 1] ?? NaN;
    const hi = ranges[i + 2] ?? NaN;
    if (satisfies(lo, condition.lo) && satisfies(hi, condition.hi)) return true;
  }
  return false;
}

/** Moves a bound outwards by a few ulps: key arithmetic near ±8.64e15 is not exact, and a looser bound is always safe. */
function loosen(value: number, direction: -1 | 1): number {
  return value + direction * Math.max(1, Math.abs(value) * Number.EPSILON * 4);
}

/** The `lo` key interval that can hold matches: conditions on `lo` directly, on `hi` through the span spread. */
function keyBounds(index: Readonly<SpanBounds>, condition: RangeCondition): { low: number; high: number } {
  let low = -Infinity;
  let high = Infinity;
  for (const { op, value } of condition.lo) {
    if (op === '$gt' || op === '$gte') low = Math.max(low, value);
    else high = Math.min(high, value);
  }
  for (const { op, value } of condition.hi) {
    // lo = hi - span with span in [minSpan, maxSpan].
    if (op === '$gt' || op === '$gte') low = Math.max(low, loosen(value - index.maxSpan, -1));
    else high = Math.min(high, loosen(value - index.minSpan, 1));
  }
  return { low, high };
}

/** The ids with a matching range, or undefined as soon as there are more than `cap`. */
function rangeIds(index: DateIndex, condition: RangeCondition, cap: number): Set<string> | undefined {
  const result = new Set<string>();
  if (index.tree.size === 0) return result;
  const { low, high } = keyBounds(index, condition);
  if (!(low <= high)) return result;
  const start = low === -Infinity ? index.tree.minKey() : low;
  if (start === undefined) return result;
  for (const [lo, bucket] of index.tree.entries(start)) {
    if (lo > high) break;
    if (!satisfies(lo, condition.lo)) continue;
    for (let i = 0; i < bucket.ids.length; i++) {
      const hi = bucket.his[i];
      const id = bucket.ids[i];
      if (hi === undefined || id === undefined || !satisfies(hi, condition.hi)) continue;
      result.add(id);
      if (result.size > cap) return undefined;
    }
  }
  return result;
}

function setAccess(source: IdSource, exact: boolean): Access {
  return { exact, exactIds: exact, size: source.size, test: (entry) => source.has(entry._id), collect: () => source.ids() };
}

/** A check that never drives (`$nin`: its ids are everything else). */
function checkOnly(test: (entry: Entry) => boolean): Access {
  return { exact: true, exactIds: false, size: undefined, test, collect: () => undefined };
}

/** The parsed `{ lo?: {…}, hi?: {…} }` of an `$elemMatch` over DateRanges or ActorBlocks; `rest` may hold other fields. */
function rangeCondition(match: Record<string, unknown>, rest: ReadonlySet<string>): RangeCondition | undefined {
  const range: RangeCondition = { lo: [], hi: [] };
  for (const [field, fieldCondition] of Object.entries(match)) {
    if (rest.has(field)) continue;
    const parsed = comparisons(fieldCondition);
    if ((field !== 'lo' && field !== 'hi') || parsed === undefined) return undefined;
    range[field] = parsed;
  }
  return range;
}

/**
 * The ActorBlocks of an entry, parsed once per entry: every booking for an actor tests that actor's
 * active appointments again. Entries are immutable (a write replaces the entry), so a value can
 * never be stale, and it goes with its entry.
 */
const parsedBlocks = new WeakMap<Entry, readonly ActorBlock[]>();

function blocksOf(entry: Entry): readonly ActorBlock[] {
  let blocks = parsedBlocks.get(entry);
  if (blocks === undefined) {
    blocks = (parseSearchIndex(entry)._block ?? []).filter((v): v is ActorBlock => typeof v === 'object' && 'a' in v);
    parsedBlocks.set(entry, blocks);
  }
  return blocks;
}

/** Exactly MongoDB's `$elemMatch: { a: { $in: actors }, lo: …, hi: … }` over the entry's ActorBlocks. */
function blockTest(entry: Entry, actors: ReadonlySet<string>, condition: RangeCondition): boolean {
  for (const block of blocksOf(entry)) {
    if (actors.has(block.a) && satisfies(block.lo, condition.lo) && satisfies(block.hi, condition.hi)) return true;
  }
  return false;
}

const NO_FIELDS: ReadonlySet<string> = new Set();
const ACTOR_FIELD: ReadonlySet<string> = new Set(['a']);

/** The string operands of `{ $nin: [string…] }`; undefined for anything else. */
function excludedKeys(condition: unknown): string[] | undefined {
  if (!isRecord(condition) || Object.keys(condition).length !== 1) return undefined;
  const values = condition.$nin;
  return Array.isArray(values) && values.every((v): v is string => typeof v === 'string') ? values : undefined;
}

function setSource(set: ReadonlySet<string>): IdSource {
  return { size: set.size, has: (id) => set.has(id), ids: () => set };
}
function unionSource(sets: ReadonlyArray<ReadonlySet<string>>): IdSource {
  const first = sets[0];
  if (sets.length === 1 && first !== undefined) return setSource(first);
  let size = 0;
  for (const set of sets) size += set.size;
  return {
    size,
    has: (id) => sets.some((set) => set.has(id)),
    ids: function* () {
      const seen = new Set<string>();
      for (const set of sets) {
        for (const id of set) {
          if (seen.has(id)) continue;
          seen.add(id);
          yield id;
        }
      }
    },
  };
}

const EMPTY: ReadonlySet<string> = new Set();

function analyzeClause(clause: Clause, context: PlannerContext): Access | undefined {
  const keys = Object.keys(clause);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined) return undefined;
  const condition = clause[key];

  if (key === '$or') return analyzeOr(condition, context);

  if (key === '_id') {
    const excluded = excludedKeys(condition);
    if (excluded !== undefined) {
      const set = new Set(excluded);
      return checkOnly((entry) => !set.has(entry._id));
    }
    const ids = stringKeys(condition);
    if (ids === undefined) return undefined;
    return setAccess(setSource(new Set(ids.filter((id) => context.entry(id)?.deleted === false))), true);
  }

  if (!key.startsWith('s.')) return undefined;
  const code = key.slice(2);

  const hash = context.indexes.hash.get(code);
  if (hash !== undefined) {
    // MongoDB `$nin` over an array: no element is one of the values (a missing field matches).
    const excluded = excludedKeys(condition);
    if (excluded !== undefined) return checkOnly((entry) => !excluded.some((v) => hash.keys.get(v)?.has(entry._id) === true));
    const values = stringKeys(condition);
    if (values === undefined) return undefined;
    return { ...setAccess(unionSource(values.map((v) => hash.keys.get(v) ?? EMPTY)), true), hash: { code, keys: values } };
  }

  // `s.<date code>.lo` / `.hi` with one comparison: MongoDB matches when some element's field
  // does, which is `$elemMatch` on that field alone. (With two, each may be met by a different
  // element, which `$elemMatch` does not express: left to mingo.)
  const dot = code.lastIndexOf('.');
  const field = code.slice(dot + 1);
  const dotted = dot < 0 ? undefined : context.indexes.date.get(code.slice(0, dot));
  if (dotted !== undefined && (field === 'lo' || field === 'hi')) {
    const parsed = comparisons(condition);
    if (parsed?.length !== 1) return undefined;
    return dateAccess(dotted, code.slice(0, dot), field === 'lo' ? { lo: parsed, hi: [] } : { lo: [], hi: parsed });
  }

  if (!isRecord(condition)) return undefined;
  const match = condition.$elemMatch;
  if (Object.keys(condition).length !== 1 || !isRecord(match)) return undefined;

  const date = context.indexes.date.get(code);
  if (date !== undefined) {
    const range = rangeCondition(match, NO_FIELDS);
    if (range === undefined || range.lo.length + range.hi.length === 0) return undefined;
    return dateAccess(date, code, range);
  }

  const block = context.indexes.block;
  if (code === '_block' && block !== undefined) {
    const actors = stringKeys(match.a);
    if (actors === undefined) return undefined;
    const source = unionSource(actors.map((a) => block.keys.get(a) ?? EMPTY));
    const range = rangeCondition(match, ACTOR_FIELD);
    if (range === undefined) return setAccess(source, false);
    const actorSet = new Set(actors);
    const test = (entry: Entry): boolean => source.has(entry._id) && blockTest(entry, actorSet, range);
    const times = context.indexes.blockTimes;
    if (times === undefined) return { ...setAccess(source, false), exact: true, test };
    return blockAccess(times, actors, actorSet, range, test, context);
  }
  return undefined;
}

/** An actor's tree of BlockTimes, built from the entries the `_block` hash index lists for it the first time it is asked for. */
function blockTree(times: BlockTimes, actor: string, context: PlannerContext): BTree<number, Entry | Entry[]> | undefined {
  if (!times.isBuilt(actor)) {
    const byLo = new Map<number, Entry | Entry[]>();
    for (const id of context.indexes.block?.keys.get(actor) ?? EMPTY) {
      const entry = context.entry(id);
      if (entry === undefined || entry.deleted) continue;
      for (const b of blocksOf(entry)) {
        if (b.a !== actor) continue;
        times.widen(b.lo, b.hi);
        groupByLo(byLo, b.lo, entry);
      }
    }
    times.build(actor, byLo);
  }
  return times.trees.get(actor);
}

/**
 * A `_block` clause with times, from BlockTimes: per actor, walk the blocks starting in the window
 * widened by the longest block, and keep the entries with a matching block. Exact, and walked
 * first (as a compound walk): its size is what overlaps the window, not the actors' history.
 */
function blockAccess(
  times: BlockTimes,
  actors: readonly string[],
  actorSet: ReadonlySet<string>,
  range: RangeCondition,
  test: (entry: Entry) => boolean,
  context: PlannerContext,
): Access {
  return treeAccess(test, (keep) => {
    for (const actor of actors) {
      const tree = blockTree(times, actor, context);
      if (tree === undefined) continue;
      // After the build: it may widen the spans.
      const { low, high } = keyBounds(times, range);
      if (!(low <= high)) continue;
      const stopped = walkEntries(tree, low, high, (lo, entry) => !satisfies(lo, range.lo) || !blockTest(entry, actorSet, range) || keep(entry));
      if (stopped) return false;
    }
    return true;
  });
}

/**
 * An exact access whose ids come from walking trees of entries (CompoundIndex, NarrowedIndex,
 * BlockTimes): walked before plain ranges, and its entries are handed over as `resolved`.
 * `walk(keep)` offers each match to `keep`, which returns false once past the cap, and returns
 * whether it went through without being stopped.
 */
function treeAccess(test: (entry: Entry) => boolean, walk: (keep: (entry: Entry) => boolean) => boolean): Access {
  const resolved = new Map<string, Entry>();
  return {
    exact: true,
    exactIds: true,
    compound: true,
    size: undefined,
    resolved,
    test,
    collect: (cap) => {
      const result = new Set<string>();
      resolved.clear();
      const complete = walk((entry) => {
        result.add(entry._id);
        resolved.set(entry._id, entry);
        return result.size <= cap;
      });
      return complete ? result : undefined;
    },
  };
}

/**
 * Visits the entries of `tree` with a key in [low, high] (forRange, not entries(): no [key, value]
 * pair allocated per key walked) until `visit` returns false; returns whether it stopped early.
 */
function walkEntries(tree: BTree<number, Entry | Entry[]>, low: number, high: number, visit: (lo: number, entry: Entry) => boolean): boolean {
  let stopped = false;
  tree.forRange(low === -Infinity ? (tree.minKey() ?? low) : low, high, true, (lo, value) => {
    if (!Array.isArray(value)) stopped = !visit(lo, value);
    else {
      for (const entry of value) {
        stopped = !visit(lo, entry);
        if (stopped) break;
      }
    }
    return stopped ? { break: true } : undefined;
  });
  return stopped;
}

function dateAccess(date: DateIndex, code: string, range: RangeCondition): Access {
  return {
    exact: true,
    exactIds: true,
    size: undefined,
    test: (entry) => rangeTest(entry, date.slot, range),
    collect: (cap) => rangeIds(date, range, cap),
    range: { code, condition: range },
  };
}

/** A union of indexable branches; each branch narrows by its most selective indexable clause. */
function analyzeOr(condition: unknown, context: PlannerContext): Access | undefined {
  if (!Array.isArray(condition) || condition.length === 0 || !condition.every(isRecord)) return undefined;
  const branches: Access[] = [];
  let exact = true;
  for (const branch of condition) {
    const clauses = flattenConjunction(branch);
    const usable = clauses.map((c) => analyzeClause(c, context)).filter((a): a is Access => a !== undefined);
    const best = smallestKnown(usable) ?? usable[0];
    if (best === undefined) return undefined;
    if (clauses.length !== 1 || !best.exact || !best.exactIds) exact = false;
    branches.push(best);
  }
  return {
    exact,
    exactIds: exact,
    size: undefined,
    test: (entry) => branches.some((b) => b.test(entry)),
    collect: (cap) => {
      const union = new Set<string>();
      for (const branch of branches) {
        const ids = branch.collect(cap);
        if (ids === undefined) return undefined;
        for (const id of ids) {
          union.add(id);
          if (union.size > cap) return undefined;
        }
      }
      return union;
    },
  };
}

function smallestKnown(accesses: readonly Access[]): Access | undefined {
  let best: Access | undefined;
  for (const a of accesses) if (a.size !== undefined && (best?.size === undefined || a.size < best.size)) best = a;
  return best;
}

/** Both clauses at once from a compound index: per hash key, walk that key's tree over the range. */
function compoundAccess(
  compound: CompoundIndex,
  hash: Access,
  keys: readonly string[],
  range: Access,
  condition: RangeCondition,
): Access {
  return treeAccess(
    (entry) => hash.test(entry) && range.test(entry),
    (keep) => {
      const { low, high } = keyBounds(compound.date, condition);
      if (!(low <= high)) return true;
      for (const key of keys) {
        const tree = compound.trees.get(key);
        if (tree !== undefined && walkEntries(tree, low, high, rangeVisitor(compound.date.slot, condition, keep))) return false;
      }
      return true;
    },
  );
}

/**
 * A tree walk's visitor for a range condition: a key that satisfies the conditions on `lo` is a
 * matching range when there are none on `hi`; else the entry's own ranges decide (the tree holds
 * entries: no look-up by id).
 */
function rangeVisitor(slot: number, condition: RangeCondition, keep: (entry: Entry) => boolean): (lo: number, entry: Entry) => boolean {
  const checkEntries = condition.hi.length > 0;
  return (lo, entry) => !satisfies(lo, condition.lo) || (checkEntries && !rangeTest(entry, slot, condition)) || keep(entry);
}

/** The tree of one (first, second) pair of a NarrowedIndex, built from the first value's compound tree the first time it is asked for. */
function narrowedTree(narrowed: NarrowedIndex, first: string, second: string, context: PlannerContext): BTree<number, Entry | Entry[]> | undefined {
  const key = NarrowedIndex.key(first, second);
  if (!narrowed.isBuilt(key)) {
    const byLo = new Map<number, Entry | Entry[]>();
    const members = context.indexes.hash.get(narrowed.hashCode)?.keys.get(second);
    const tree = narrowed.compound.trees.get(first);
    if (tree !== undefined && members !== undefined) {
      walkEntries(tree, -Infinity, Infinity, (lo, entry) => {
        if (!members.has(entry._id)) return true;
        groupByLo(byLo, lo, entry);
        return true;
      });
    }
    narrowed.buildPair(first, second, byLo);
  }
  return narrowed.trees.get(key);
}

/** Two hash clauses and a range at once from a NarrowedIndex: per pair of values, walk that pair's tree over the range. */
function narrowedAccess(
  narrowed: NarrowedIndex,
  hashes: readonly [Access, Access],
  keys: readonly [readonly string[], readonly string[]],
  range: Access,
  condition: RangeCondition,
  context: PlannerContext,
): Access {
  return treeAccess(
    (entry) => hashes[0].test(entry) && hashes[1].test(entry) && range.test(entry),
    (keep) => {
      const { low, high } = keyBounds(narrowed.compound.date, condition);
      if (!(low <= high)) return true;
      const visit = rangeVisitor(narrowed.compound.date.slot, condition, keep);
      for (const first of keys[0]) {
        for (const second of keys[1]) {
          const tree = narrowedTree(narrowed, first, second, context);
          if (tree !== undefined && walkEntries(tree, low, high, visit)) return false;
        }
      }
      return true;
    },
  );
}

/** A driver this small is not worth looking past (a booking's Slots of one day, an actor's active appointments). */
const SMALL_DRIVER = 256;

export function planQuery(filter: Clause, context: PlannerContext): QueryPlan {
  const residual: Clause[] = [];
  let accesses: Access[] = [];
  for (const clause of flattenConjunction(filter)) {
    const access = analyzeClause(clause, context);
    if (access === undefined || !access.exact) residual.push(clause);
    if (access !== undefined) accesses.push(access);
  }
  if (accesses.length === 0) return { driver: undefined, checks: [], residual };

  for (const narrowed of context.indexes.narrowed) {
    const { compound } = narrowed;
    const hash = accesses.find((a) => a.hash?.code === compound.hashCode);
    const second = accesses.find((a) => a.hash?.code === narrowed.hashCode);
    const range = accesses.find((a) => a.range?.code === compound.dateCode);
    if (hash?.hash === undefined || second?.hash === undefined || range?.range === undefined) continue;
    const combined = narrowedAccess(narrowed, [hash, second], [hash.hash.keys, second.hash.keys], range, range.range.condition, context);
    accesses = [...accesses.filter((a) => a !== hash && a !== second && a !== range), combined];
  }
  for (const compound of context.indexes.compound) {
    const hash = accesses.find((a) => a.hash?.code === compound.hashCode);
    const range = accesses.find((a) => a.range?.code === compound.dateCode);
    if (hash?.hash === undefined || range?.range === undefined) continue;
    const combined = compoundAccess(compound, hash, hash.hash.keys, range, range.range.condition);
    accesses = [...accesses.filter((a) => a !== hash && a !== range), combined];
  }

  // Drive the smallest source. A range's (or union's) size is unknown until walked, so walk it
  // only up to the size of the best so far: past that, testing it per document is cheaper.
  // Compound walks go first: one key's tree over the range is small and then caps the rest.
  // Once the driver is a handful of ids, another walk could save at most that many tests.
  let driver = smallestKnown(accesses);
  let driverIds = driver?.collect(Infinity);
  let cap = driver?.size ?? Infinity;
  const walks = [...accesses.filter((a) => a.compound === true), ...accesses.filter((a) => a.compound !== true)];
  for (const access of walks) {
    if (cap <= SMALL_DRIVER) break;
    if (access.size !== undefined) continue;
    const ids = access.collect(cap);
    if (ids === undefined) continue;
    const size = ids instanceof Set ? ids.size : cap;
    if (driver === undefined || size < cap) {
      driver = access;
      driverIds = ids;
      cap = size;
    }
  }
  // Index-only checks first: a `_block` test parses the candidate's search values.
  const checked = accesses.filter((a) => a !== driver || !a.exactIds);
  const checks = [...checked.filter((a) => a.exactIds), ...checked.filter((a) => !a.exactIds)].map((a) => a.test);
  return { driver: driverIds, checks, residual, ...(driver?.resolved !== undefined ? { resolved: driver.resolved } : {}) };
}
