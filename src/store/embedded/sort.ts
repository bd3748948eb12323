import type { StoreQuery } from '../store';
import { parseSearchIndex } from './entry';
import type { Entry } from './entry';

/**
 * MongoDB's sort over entries: BSON type order (missing/null < numbers < strings < objects <
 * arrays < booleans), an array sorts by its smallest element ascending and its largest
 * descending, and `_id` is appended as the last key (as the MongoDB store does,
 * mongo/documents.ts findSort) so that paging is stable when keys tie.
 */

type SortSpec = ReadonlyArray<readonly [string, 1 | -1]>;

function typeRank(value: unknown): number {
  if (value === undefined || value === null) return 0;
  switch (typeof value) {
    case 'number':
      return 1;
    case 'string':
      return 2;
    case 'boolean':
      return 5;
    default:
      return Array.isArray(value) ? 4 : 3;
  }
}

function compareScalars(a: unknown, b: unknown): number {
  // Same-type keys first (nearly every comparison: ids, instants, codes); the ranks decide the rest.
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const rankA = typeRank(a);
  const rankB = typeRank(b);
  if (rankA !== rankB) return rankA - rankB;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return 0;
}

/** Reads the stored resource, for the rare sort on a `resource.*` path. */
export type ResourceLoader = (entry: Entry) => unknown;

function valueAt(entry: Entry, path: readonly string[], loadResource: ResourceLoader): unknown {
  const root = path[0];
  let value: unknown = root === 'resource' ? loadResource(entry) : root === 's' ? parseSearchIndex(entry) : entry;
  for (const [i, part] of path.entries()) {
    if (i === 0 && (part === 'resource' || part === 's')) continue;
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The value a document sorts by on one key (arrays collapse to min or max). */
function sortValue(entry: Entry, path: readonly string[], direction: 1 | -1, loadResource: ResourceLoader): unknown {
  const value = valueAt(entry, path, loadResource);
  if (!Array.isArray(value)) return value;
  if (value.length === 0) return undefined;
  let chosen: unknown = value[0];
  for (const item of value) if (compareScalars(item, chosen) * direction < 0) chosen = item;
  return chosen;
}

export function effectiveSort(sort: StoreQuery['sort']): SortSpec {
  const keys: Array<readonly [string, 1 | -1]> = [...(sort ?? [])];
  if (!keys.some(([field]) => field === '_id')) keys.push(['_id', 1]);
  return keys;
}

/** How to get one sort key from an entry: direct for the usual paths, generic otherwise. */
function accessor(path: readonly string[], direction: 1 | -1, loadResource: ResourceLoader): (entry: Entry) => unknown {
  const [root, leaf] = path;
  if (path.length === 1 && root === '_id') return (e) => e._id;
  if (path.length === 1 && root === 'lastUpdated') return (e) => e.lastUpdated;
  if (path.length === 1 && root === 'versionId') return (e) => e.versionId;
  if (path.length === 2 && root === 'o' && leaf !== undefined) return (e) => e.o[leaf];
  return (e) => sortValue(e, path, direction, loadResource);
}

/**
 * The page `[skip, skip + limit)` of `entries` in sort order. Keys are computed once per
 * document into a flat array and positions are sorted; when the page is a small part of the
 * matches only the top `skip + limit` are kept (a bounded heap), so "first 50 of 300k" costs
 * O(n log 50) instead of a full sort.
 */
export function sortPage(
  entries: readonly Entry[],
  sort: SortSpec,
  skip: number,
  limit: number | undefined,
  loadResource: ResourceLoader,
): Entry[] {
  const width = sort.length;
  const only = width === 1 ? sort[0] : undefined;
  const wanted = limit === undefined ? entries.length : Math.min(entries.length, skip + limit);
  if (only?.[0] === '_id' && wanted * 8 >= entries.length) {
    // The default order (no _sort) of a page that is most of the matches: ids are unique strings,
    // so a direct comparison is the whole rule (measured: a third of the generic path's cost on a
    // 36-Slot search page). A small page of many matches takes the bounded heap below.
    const direction = only[1];
    const byId = [...entries].sort((a, b) => (a._id < b._id ? -direction : a._id > b._id ? direction : 0));
    return byId.slice(skip, wanted);
  }
  const directions = sort.map(([, direction]) => direction);
  const getters = sort.map(([field], i) => accessor(field.split('.'), directions[i] ?? 1, loadResource));
  const keys: unknown[] = new Array(entries.length * width);
  entries.forEach((entry, n) => {
    for (let i = 0; i < width; i++) keys[n * width + i] = getters[i]?.(entry);
  });
  const compare = (a: number, b: number): number => {
    for (let i = 0; i < width; i++) {
      const c = compareScalars(keys[a * width + i], keys[b * width + i]);
      if (c !== 0) return c * (directions[i] ?? 1);
    }
    return 0;
  };
  const pick = (positions: readonly number[]): Entry[] => {
    const page: Entry[] = [];
    for (const p of positions.slice(skip)) {
      const entry = entries[p];
      if (entry !== undefined) page.push(entry);
    }
    return page;
  };
  // Index walks often yield the matches in order already (one schedule's Slots by start): one
  // pass confirms it. In a strictly increasing run no two keys tie, so it is the sort's own answer.
  let sorted = true;
  for (let n = 1; n < entries.length && sorted; n++) sorted = compare(n - 1, n) < 0;
  if (sorted) return entries.slice(skip, wanted);
  if (wanted * 8 >= entries.length) {
    const order = entries.map((_, i) => i).sort(compare);
    return pick(order.slice(0, wanted));
  }
  // A max-heap of the `wanted` smallest so far: its root is the largest kept.
  const heap: number[] = [];
  const swap = (i: number, j: number): void => {
    const a = heap[i];
    const b = heap[j];
    if (a === undefined || b === undefined) return;
    heap[i] = b;
    heap[j] = a;
  };
  const above = (i: number, j: number): boolean => {
    const a = heap[i];
    const b = heap[j];
    return a !== undefined && b !== undefined && compare(a, b) > 0;
  };
  for (let n = 0; n < entries.length; n++) {
    if (heap.length < wanted) {
      heap.push(n);
      for (let i = heap.length - 1; i > 0 && above(i, (i - 1) >> 1); i = (i - 1) >> 1) swap(i, (i - 1) >> 1);
      continue;
    }
    const root = heap[0];
    if (root === undefined || compare(n, root) >= 0) continue;
    heap[0] = n;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < heap.length && above(left, largest)) largest = left;
      if (right < heap.length && above(right, largest)) largest = right;
      if (largest === i) break;
      swap(i, largest);
      i = largest;
    }
  }
  return pick(heap.sort(compare));
}
