import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';

/**
 * The storage contract. Two implementations: the embedded store (default, `store/embedded/`) and
 * MongoDB (`store/mongo/`); one contract suite (test/store/store-contract.ts) runs against both.
 *
 * Documents are stored in the shape below in both stores. Search filters are MongoDB filter
 * documents over that shape, produced only by `store/query.ts`; the embedded store evaluates the
 * very same documents with mingo, so every test exercises the Mongo query mapping.
 */

/** A time range in epoch milliseconds: `lo` inclusive, `hi` exclusive (R4 search.html: every date is a range). */
export interface DateRange {
  lo: number;
  hi: number;
}

/**
 * Time an active Appointment blocks for one actor: `[start, end + buffer)`. Indexed under
 * `s._block` so the booking engine can ask "is this actor busy in [a, b)" inside a transaction.
 */
export interface ActorBlock {
  /** The actor reference, `Type/id`. */
  a: string;
  lo: number;
  hi: number;
}

export type IndexValue = string | number | DateRange | ActorBlock;

/**
 * Search values extracted from a resource by `indexResource` (fhir/search-index.ts) before it is
 * written (the store persists them as given and never interprets them beyond indexing), keyed by
 * search parameter code. Conventions (the query translator relies on them):
 * - token: for each coding/identifier/code: `code`, `system|code` and `system|` when there is a
 *   system, `|code` when there is none; booleans as `true`/`false`. `<code>:text` holds the
 *   normalised (lower-case, accent-free) display/text for `:text`.
 * - reference: `Type/id` for relative references (absolute ones under our base are made relative).
 * - string: normalised (lower-case, accent-free) under `<code>`, the original under `<code>:exact`.
 * - date: DateRange; an instant's range is its precision, a Period's is start..end (missing = ±∞,
 *   stored as ±8.64e15, the ECMAScript time limits).
 * - `_lastUpdated`: DateRange; `_block` (Appointment only): ActorBlock.
 * A parameter with no values has no key (so `:missing=true` is `{ 's.code': { $exists: false } }`).
 */
export type SearchIndex = Record<string, IndexValue[]>;

/** One scalar per sortable parameter (`_sort`): a date's `lo`, a string's first normalised value, a token's first code. */
export type SortKeys = Record<string, string | number>;

/** The current version of a resource as stored. A deleted resource keeps a tombstone. */
export interface ResourceDocument {
  /** The resource id (MongoDB's `_id`). */
  _id: string;
  versionId: number;
  /** meta.lastUpdated as epoch ms. */
  lastUpdated: number;
  deleted: boolean;
  /** The resource with meta.versionId/lastUpdated set; null when deleted. The caller's own copy. */
  resource: StoredFhirResource | null;
  /**
   * The same resource as the JSON text the store holds, when it holds text (the embedded store;
   * MongoDB leaves it undefined, as it does for a tombstone). Exactly `JSON.stringify(resource)`
   * of the stored version, so a response can pass it through without parsing and serialising
   * (a read or search answer is mostly this text). Changing `resource` does not change it.
   */
  readonly json?: string;
  /** Search values (`indexResource`), as given with the write; empty for a tombstone. */
  s: SearchIndex;
  o: SortKeys;
}

export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One version in a resource's history. */
export interface HistoryEntry {
  resourceType: ResourceType;
  id: string;
  versionId: number;
  lastUpdated: number;
  method: WriteMethod;
  /** null for a delete. */
  resource: StoredFhirResource | null;
}

/** A new version to commit. The caller sets meta.versionId / meta.lastUpdated on the resource. */
export interface ResourceWrite {
  resourceType: ResourceType;
  id: string;
  method: WriteMethod;
  /** The new content; null for a delete. */
  resource: StoredFhirResource | null;
  versionId: number;
  lastUpdated: number;
  /** Search values of the new content (fhir/search-index.ts `indexResource`); empty for a delete. */
  s: SearchIndex;
  o: SortKeys;
  /**
   * The version the current document must have for the write to apply: 0 when the resource must
   * not exist yet (not even as a tombstone). A mismatch fails the whole commit with a 409 `conflict` FhirError
   * (fhir/outcome.ts) and writes nothing.
   */
  previousVersionId: number;
  /**
   * Optional, an optimisation: `JSON.stringify` of `resource`, `s` and `o`, byte for byte, when the
   * writer has that text more cheaply than by stringifying (the slot generator builds it from a
   * per-run template: scheduling/slot-generation.ts `slotWriter`). The embedded store journals it
   * instead of stringifying again; MongoDB ignores it. Never set for a delete.
   */
  json?: { resource: string; s: string; o: string };
}

export interface StoreQuery {
  /** A MongoDB filter over ResourceDocument fields (`s.*`, `o.*`, `_id`). Tombstones never match. */
  filter: Record<string, unknown>;
  /** Sort fields over ResourceDocument paths, e.g. [['o.start', 1], ['_id', 1]]. */
  sort?: ReadonlyArray<readonly [string, 1 | -1]>;
  skip?: number;
  /** Maximum documents to return; 0 returns none (use with `count`). Undefined = all. */
  limit?: number;
  /** Also count every match (for Bundle.total). */
  count?: boolean;
}

export interface StoreFindResult {
  documents: ResourceDocument[];
  /** All matches, when `count` was asked. */
  total?: number;
}

export interface HistoryQuery {
  /** Only versions with lastUpdated >= since (epoch ms). R4 `_since`. */
  since?: number;
  /** Only versions current at this instant... R4 `_at`: versions with lastUpdated <= at. */
  at?: number;
  skip: number;
  limit: number;
}

export interface HistoryResult {
  /** Newest first. */
  entries: HistoryEntry[];
  total: number;
}

/** Reads available both inside and outside a transaction. */
export interface StoreReader {
  /** The current document, tombstone included; undefined when it never existed. */
  read(resourceType: ResourceType, id: string): Promise<ResourceDocument | undefined>;
  find(resourceType: ResourceType, query: StoreQuery): Promise<StoreFindResult>;
}

/**
 * The reader a transaction function gets. `lock` takes further lock keys mid-transaction, with the
 * same effect as naming them up front — used when the keys are only known once something has been
 * read (a transaction Bundle that books an Appointment). Embedded: a no-op (transactions are
 * serialised). MongoDB: bumps those lock documents inside the session.
 */
export interface TransactionReader extends StoreReader {
  lock(keys: readonly string[]): Promise<void>;
}

/** What a transaction function decides: the writes to commit atomically and the value to return. */
export interface TransactionPlan<T> {
  writes: ResourceWrite[];
  result: T;
}

export interface Store extends StoreReader {
  readonly kind: 'embedded' | 'mongodb';

  /** Reads one version; undefined when that version does not exist. */
  vread(resourceType: ResourceType, id: string, versionId: number): Promise<HistoryEntry | undefined>;

  /** Instance history (with id) or type history (without), newest first. */
  history(resourceType: ResourceType, id: string | undefined, query: HistoryQuery): Promise<HistoryResult>;

  /** Commits the writes atomically (all or none, also across a crash). */
  commit(writes: ResourceWrite[]): Promise<void>;

  /**
   * Runs `fn` (reads only) and commits the writes it returns, atomically and isolated from every
   * other transaction that names one of the same `lockKeys` (e.g. actor references
   * `Practitioner/1`). Embedded: transactions are serialised and journaled. MongoDB: a
   * multi-document transaction that also bumps one lock document per key, so two transactions
   * that share a key conflict (and are retried), while unrelated ones proceed in parallel.
   * `fn` may run more than once (retries) and must have no side effects besides its result.
   * A FhirError thrown by `fn` aborts the transaction and propagates unchanged.
   */
  transaction<T>(lockKeys: readonly string[], fn: (reader: TransactionReader) => Promise<TransactionPlan<T>>): Promise<T>;

  /** Resolves when the store can serve requests (readiness probe). */
  ping(): Promise<void>;

  /** Flushes and releases everything (graceful shutdown). */
  close(): Promise<void>;
}
