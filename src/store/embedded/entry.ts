import type { ResourceType } from '../../fhir/resource-types';
import type { IndexValue, ResourceDocument, SearchIndex, SortKeys, WriteMethod } from '../store';

/**
 * The in-memory form of a current document. Entries are immutable (every write replaces the
 * entry), which is what lets a snapshot be written in the background from a captured list of
 * entries. The resource is kept as its JSON text: about a third of the heap an object tree
 * takes, and parsing it on the way out gives every caller its own copy. Filters only address
 * `_id`, `s.*` and `o.*` (store.ts StoreQuery), so mingo evaluates entries directly.
 */
// A type alias (not an interface) so that an Entry is assignable to mingo's `Record<string, unknown>`.
export type Entry = {
  readonly _id: string;
  readonly versionId: number;
  readonly lastUpdated: number;
  readonly deleted: boolean;
  /** Deep-frozen: returned to callers as is. */
  readonly s: SearchIndex;
  /** Frozen: returned to callers as is. */
  readonly o: SortKeys;
  /** The resource's JSON; null for a tombstone. */
  readonly json: string | null;
  /** This resource's versions as positions in its type's HistoryLog, oldest first (a number when there is one). */
  readonly h: number | readonly number[];
};

/** What the journal and snapshot record for one version (write lines, see write-codec.ts). */
export interface WriteRecord {
  resourceType: ResourceType;
  id: string;
  versionId: number;
  lastUpdated: number;
  method: WriteMethod;
  s: SearchIndex;
  o: SortKeys;
  /** The resource's JSON, or null for a delete. */
  json: string | null;
}

export function toResourceDocument(entry: Entry): ResourceDocument {
  return {
    _id: entry._id,
    versionId: entry.versionId,
    lastUpdated: entry.lastUpdated,
    deleted: entry.deleted,
    resource: entry.json === null ? null : JSON.parse(entry.json),
    s: entry.s,
    o: entry.o,
  };
}

export function historyPositions(h: Entry['h']): readonly number[] {
  return typeof h === 'number' ? [h] : h;
}

export function appendPosition(h: Entry['h'] | undefined, position: number): Entry['h'] {
  if (h === undefined) return position;
  return typeof h === 'number' ? [h, position] : [...h, position];
}

/**
 * Shares one string instance per distinct value. References (`Schedule/s1`), status codes and
 * `system|code` keys repeat across hundreds of thousands of documents; without this each parsed
 * document would hold its own copies.
 */
export class StringPool {
  private readonly pool = new Map<string, string>();

  intern(value: string): string {
    // Long strings are rarely repeated (free text); keep the pool for the short, repetitive ones.
    if (value.length > 128) return value;
    const known = this.pool.get(value);
    if (known !== undefined) return known;
    this.pool.set(value, value);
    return value;
  }
}

function copyIndexValue(value: IndexValue, pool: StringPool): IndexValue {
  if (typeof value === 'string') return pool.intern(value);
  if (typeof value === 'number') return value;
  if ('a' in value) return Object.freeze({ a: pool.intern(value.a), lo: value.lo, hi: value.hi });
  return Object.freeze({ lo: value.lo, hi: value.hi });
}

/** A deep-frozen, interned copy of a search index, independent of the caller's object. */
export function freezeSearchIndex(s: SearchIndex, pool: StringPool): SearchIndex {
  const copy: SearchIndex = {};
  for (const [code, values] of Object.entries(s)) {
    const frozen = values.map((v) => copyIndexValue(v, pool));
    Object.freeze(frozen);
    copy[code] = frozen;
  }
  return Object.freeze(copy);
}

export function freezeSortKeys(o: SortKeys, pool: StringPool): SortKeys {
  const copy: SortKeys = {};
  for (const [code, value] of Object.entries(o)) copy[code] = typeof value === 'string' ? pool.intern(value) : value;
  return Object.freeze(copy);
}
