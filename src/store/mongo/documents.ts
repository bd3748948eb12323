import type { Filter, Sort } from 'mongodb';
import type { ResourceType, StoredFhirResource } from '../../fhir/resource-types';
import type {
  HistoryEntry,
  HistoryQuery,
  ResourceDocument,
  ResourceWrite,
  StoreQuery,
  WriteMethod,
} from '../store';

/**
 * How Kairos lays out its MongoDB database: one collection per resource type (named after the
 * type) holding ResourceDocuments, plus the collections below.
 */
export const HISTORY_COLLECTION = 'history';
/** One document per transaction lock key, bumped by every transaction naming the key. */
export const LOCKS_COLLECTION = 'locks';
/** Leases for work that one process at a time may do (the periodic slot generator). */
export const LEASES_COLLECTION = 'leases';

/** One version of one resource; `_id` is `<Type>/<id>/<versionId>` so vread is a primary-key lookup. */
export interface HistoryDocument {
  _id: string;
  type: ResourceType;
  id: string;
  versionId: number;
  lastUpdated: number;
  method: WriteMethod;
  resource: StoredFhirResource | null;
}

export interface LockDocument {
  _id: string;
  n: number;
}

export interface LeaseDocument {
  _id: string;
  holder: string;
  expiresAt: Date;
}

export function historyId(resourceType: ResourceType, id: string, versionId: number): string {
  return `${resourceType}/${id}/${versionId}`;
}

/** The current-version document a write leaves behind; a delete leaves a tombstone. */
export function toResourceDocument(write: ResourceWrite): ResourceDocument {
  return {
    _id: write.id,
    versionId: write.versionId,
    lastUpdated: write.lastUpdated,
    deleted: write.resource === null,
    resource: write.resource,
    s: write.s,
    o: write.o,
  };
}

export function toHistoryDocument(write: ResourceWrite): HistoryDocument {
  return {
    _id: historyId(write.resourceType, write.id, write.versionId),
    type: write.resourceType,
    id: write.id,
    versionId: write.versionId,
    lastUpdated: write.lastUpdated,
    method: write.method,
    resource: write.resource,
  };
}

export function toHistoryEntry(document: HistoryDocument): HistoryEntry {
  return {
    resourceType: document.type,
    id: document.id,
    versionId: document.versionId,
    lastUpdated: document.lastUpdated,
    method: document.method,
    resource: document.resource,
  };
}

/**
 * The filter `find` runs: the search filter AND "not a tombstone". `$and` rather than a spread, so a
 * search filter that itself mentions `deleted` cannot switch the tombstone guard off.
 */
export function liveFilter(filter: StoreQuery['filter']): Filter<ResourceDocument> {
  const searchFilter: Filter<ResourceDocument> = filter;
  return { $and: [searchFilter, { deleted: false }] };
}

/**
 * The sort `find` applies: the requested keys, then `_id` ascending, so that skip/limit paging is
 * stable when sort values tie (MongoDB's order among equal keys is otherwise unspecified). The
 * embedded store breaks ties the same way (embedded/sort.ts), so both return identical pages.
 */
export function findSort(sort: StoreQuery['sort']): Array<readonly [string, 1 | -1]> {
  const keys: Array<readonly [string, 1 | -1]> = [...(sort ?? [])];
  if (!keys.some(([field]) => field === '_id')) keys.push(['_id', 1]);
  return keys;
}

/** Instance history (with id) or type history; R4 history.html `_since` (>=) and `_at` (<=). */
export function historyFilter(
  resourceType: ResourceType,
  id: string | undefined,
  query: Pick<HistoryQuery, 'since' | 'at'>,
): Filter<HistoryDocument> {
  const filter: Filter<HistoryDocument> = { type: resourceType };
  if (id !== undefined) filter.id = id;
  const range: { $gte?: number; $lte?: number } = {};
  if (query.since !== undefined) range.$gte = query.since;
  if (query.at !== undefined) range.$lte = query.at;
  if (range.$gte !== undefined || range.$lte !== undefined) filter.lastUpdated = range;
  return filter;
}

/**
 * Newest first. An instance's versions are ordered by versionId (two versions may share a
 * millisecond); a type's history by time, then by resource and version so that paging is stable.
 */
export function historySort(id: string | undefined): Sort {
  return id === undefined
    ? [
        ['lastUpdated', -1],
        ['id', -1],
        ['versionId', -1],
      ]
    : [['versionId', -1]];
}
