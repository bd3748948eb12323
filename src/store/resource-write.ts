import { randomUUID } from 'node:crypto';
import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';
import { indexResource } from '../fhir/search-index';
import type { ResourceDocument, ResourceWrite, WriteMethod } from './store';

/** A new server-assigned logical id (R4 http.html#create: the server assigns the id). */
export function newId(): string {
  return randomUUID();
}

// Writes of one transaction share `now`: format it once (toISOString costs ~1 µs per write).
let formattedNow = Number.NaN;
let formattedText = '';

function isoInstant(now: number): string {
  if (now !== formattedNow) {
    formattedText = new Date(now).toISOString();
    formattedNow = now;
  }
  return formattedText;
}

/**
 * Builds the next version of a resource: sets meta.versionId / meta.lastUpdated (the server owns
 * both; R4 http.html#update says body values are ignored) and the search index.
 */
export function nextVersion(
  resourceType: ResourceType,
  id: string,
  resource: StoredFhirResource | null,
  method: WriteMethod,
  current: ResourceDocument | undefined,
  now: number,
): ResourceWrite {
  const previousVersionId = current?.versionId ?? 0;
  const versionId = previousVersionId + 1;
  if (resource === null) {
    return { resourceType, id, method, resource: null, versionId, lastUpdated: now, previousVersionId, s: {}, o: {} };
  }
  // resourceType, id and meta first, as FHIR JSON conventionally reads.
  const stored: StoredFhirResource = {
    resourceType: resource.resourceType,
    id,
    meta: { ...resource.meta, versionId: String(versionId), lastUpdated: isoInstant(now) },
  };
  // A shallow copy: the caller's object is left as it was. Object.keys, not Object.entries: no pair arrays per key.
  const source = resource as unknown as Record<string, unknown>;
  const target = stored as unknown as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    if (key !== 'resourceType' && key !== 'id' && key !== 'meta') target[key] = source[key];
  }
  const { s, o } = indexResource(stored);
  return { resourceType, id, method, resource: stored, versionId, lastUpdated: now, previousVersionId, s, o };
}
