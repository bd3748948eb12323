import { MongoServerError } from 'mongodb';
import type { Db, IndexDescription } from 'mongodb';
import { RESOURCE_TYPES } from '../../fhir/resource-types';
import type { ResourceType } from '../../fhir/resource-types';
import { HISTORY_COLLECTION, LEASES_COLLECTION, LOCKS_COLLECTION } from './documents';

/** A named index: explicit names make `createIndexes` idempotent and conflicts easy to diagnose. */
export interface IndexSpec {
  name: string;
  key: Record<string, 1 | -1>;
  sparse?: boolean;
}

/*
 * Every SearchIndex value is an array (store.ts), so every `s.<code>` path is multikey. MongoDB
 * refuses to insert a document into a compound index over two different arrays ("cannot index
 * parallel arrays"), so a compound index may combine at most one `s.<code>` with scalar fields
 * (`o.*`, `_id`, `deleted`) or with subfields of that same array (`s._block.a` + `s._block.lo`).
 * That is why "the slots of a schedule by start" is `s.schedule` + `o.start`, not `s.start.lo`.
 * Indexes used for sorting end in `_id` because find() breaks ties on `_id` ascending
 * (documents.ts findSort): ascending sorts come straight from the index, descending ones are sorted
 * over the matches (a bounded top-k sort when the search has a `_count`).
 */
const COMMON_INDEXES: readonly IndexSpec[] = [
  // Sparse: most Slots and Appointments carry no identifier, and sparse multikey entries stay small.
  { name: 'identifier', key: { 's.identifier': 1 }, sparse: true },
  { name: '_lastUpdated', key: { 's._lastUpdated.lo': 1 } },
  // find() always adds `deleted: false`, so this serves `_sort=_lastUpdated` over live documents.
  { name: 'deleted_sort_lastUpdated', key: { deleted: 1, 'o._lastUpdated': 1, _id: 1 } },
];

const TYPE_INDEXES: Readonly<Partial<Record<ResourceType, readonly IndexSpec[]>>> = {
  Slot: [
    { name: 'schedule_sort_start', key: { 's.schedule': 1, 'o.start': 1, _id: 1 } },
    { name: 'start', key: { 's.start.lo': 1 } },
    { name: 'status', key: { 's.status': 1 } },
  ],
  Appointment: [
    { name: 'actor', key: { 's.actor': 1 } },
    // SPEC 4.5: "is this actor busy in [a, b)" inside booking transactions.
    { name: 'block', key: { 's._block.a': 1, 's._block.lo': 1, 's._block.hi': 1 } },
    { name: 'slot', key: { 's.slot': 1 } },
    { name: 'patient', key: { 's.patient': 1 } },
    { name: 'date', key: { 's.date.lo': 1 } },
  ],
  Schedule: [{ name: 'actor', key: { 's.actor': 1 } }],
  // SPEC 4.8: AuditEvents are searched by entity, agent and date.
  AuditEvent: [
    { name: 'entity', key: { 's.entity': 1 } },
    { name: 'agent', key: { 's.agent': 1 } },
    { name: 'date', key: { 's.date.lo': 1 } },
  ],
};

export function resourceIndexes(resourceType: ResourceType): readonly IndexSpec[] {
  return [...COMMON_INDEXES, ...(TYPE_INDEXES[resourceType] ?? [])];
}

export const HISTORY_INDEXES: readonly IndexSpec[] = [
  // Instance history and vread-by-version: newest version first.
  { name: 'instance', key: { type: 1, id: 1, versionId: -1 } },
  // Type history: the whole sort of documents.ts historySort comes from the index.
  { name: 'type_lastUpdated', key: { type: 1, lastUpdated: -1, id: -1, versionId: -1 } },
];

/** Every collection Kairos uses with the indexes it needs (beyond `_id`). */
export function collectionIndexes(): ReadonlyMap<string, readonly IndexSpec[]> {
  const all = new Map<string, readonly IndexSpec[]>();
  for (const type of RESOURCE_TYPES) all.set(type, resourceIndexes(type));
  all.set(HISTORY_COLLECTION, HISTORY_INDEXES);
  all.set(LOCKS_COLLECTION, []);
  all.set(LEASES_COLLECTION, []);
  return all;
}

function toIndexDescription(spec: IndexSpec): IndexDescription {
  const description: IndexDescription = { name: spec.name, key: spec.key };
  if (spec.sparse === true) description.sparse = true;
  return description;
}

// Server error codes (src/mongo/base/error_codes.yml in the server repository).
const NAMESPACE_EXISTS = 48;
const INDEX_CONFLICT_CODES: ReadonlySet<number> = new Set([85, 86]); // IndexOptionsConflict, IndexKeySpecsConflict

/**
 * Creates the collections and indexes, idempotently: safe on every start and when several Kairos
 * processes start at once. Collections are created up front because a transaction should not be
 * the first to touch a collection (implicit creation inside transactions needs 4.4+ and is not
 * allowed in cross-shard transactions).
 */
export async function ensureCollectionsAndIndexes(db: Db): Promise<void> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const [name, specs] of collectionIndexes()) {
    if (!existing.has(name)) {
      try {
        await db.createCollection(name);
      } catch (e) {
        if (!(e instanceof MongoServerError && e.code === NAMESPACE_EXISTS)) throw e;
      }
    }
    if (specs.length === 0) continue;
    try {
      await db.collection(name).createIndexes(specs.map(toIndexDescription));
    } catch (e) {
      if (e instanceof MongoServerError && typeof e.code === 'number' && INDEX_CONFLICT_CODES.has(e.code)) {
        throw new Error(
          `MongoDB store: an existing index on collection "${name}" conflicts with the one Kairos needs ` +
            `(${e.message}). Drop that index and restart; Kairos recreates it.`,
          { cause: e },
        );
      }
      throw e;
    }
  }
}
