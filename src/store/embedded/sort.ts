import type { StoreQuery } from '../store';
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
  const rankA = typeRank(a);
  const rankB = typeRank(b);
  if (rankA !== rankB) return rankA - rankB;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return 0;
}

function valueAt(entry: Entry, path: readonly string[]): unknown {
  let value: unknown = path[0] === 'resource' ? (entry.json === null ? null : JSON.parse(entry.json)) : entry;
  for (const [i, part] of path.entries()) {
    if (i === 0 && part === 'resource') continue;
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The value a document sorts by on one key (arrays collapse to min or max). */
function sortValue(entry: Entry, path: readonly string[], direction: 1 | -1): unknown {
  const value = valueAt(entry, path);
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

/**
 * The page `[skip, skip + limit)` of `entries` in sort order. Keys are computed once per
 * document; when the page is a small part of the matches only the top `skip + limit` are kept
 * (a bounded heap), so "first 50 of 300k" costs O(n log 50) instead of a full sort.
 */
export function sortPage(entries: readonly Entry[], sort: SortSpec, skip: number, limit: number | undefined): Entry[] {
  const paths = sort.map(([field]) => field.split('.'));
  const directions = sort.map(([, direction]) => direction);
  const keyed = entries.map((entry) => ({ entry, keys: paths.map((p, i) => sortValue(entry, p, directions[i] ?? 1)) }));
  const compare = (a: (typeof keyed)[number], b: (typeof keyed)[number]): number => {
    for (let i = 0; i < directions.length; i++) {
      const c = compareScalars(a.keys[i], b.keys[i]);
      if (c !== 0) return c * (directions[i] ?? 1);
    }
    return 0;
  };
  const wanted = limit === undefined ? keyed.length : Math.min(keyed.length, skip + limit);
  if (wanted * 8 >= keyed.length) {
    keyed.sort(compare);
    return keyed.slice(skip, wanted).map((k) => k.entry);
  }
  // A max-heap of the `wanted` smallest so far: its root is the largest kept.
  const heap: typeof keyed = [];
  const siftUp = (start: number): void => {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const child = heap[i];
      const up = heap[parent];
      if (child === undefined || up === undefined || compare(child, up) <= 0) return;
      heap[i] = up;
      heap[parent] = child;
      i = parent;
    }
  };
  const siftDown = (): void => {
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      const at = (k: number): (typeof keyed)[number] | undefined => heap[k];
      const l = at(left);
      const r = at(right);
      const cur = at(largest);
      if (l !== undefined && cur !== undefined && compare(l, cur) > 0) largest = left;
      const big = at(largest);
      if (r !== undefined && big !== undefined && compare(r, big) > 0) largest = right;
      if (largest === i) return;
      const a = heap[i];
      const b = heap[largest];
      if (a === undefined || b === undefined) return;
      heap[i] = b;
      heap[largest] = a;
      i = largest;
    }
  };
  for (const item of keyed) {
    if (heap.length < wanted) {
      heap.push(item);
      siftUp(heap.length - 1);
    } else {
      const root = heap[0];
      if (root !== undefined && compare(item, root) < 0) {
        heap[0] = item;
        siftDown();
      }
    }
  }
  heap.sort(compare);
  return heap.slice(skip, wanted).map((k) => k.entry);
}
