import { randomUUID } from 'node:crypto';
import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';
import { indexResource } from '../fhir/search-index';
import type { ResourceDocument, ResourceWrite, WriteMethod } from './store';

/** A new server-assigned logical id (R4 http.html#create: the server assigns the id). */
export function newId(): string {
  return randomUUID();
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
    meta: { ...resource.meta, versionId: String(versionId), lastUpdated: new Date(now).toISOString() },
  };
  for (const [key, value] of Object.entries(resource)) {
    if (key !== 'resourceType' && key !== 'id' && key !== 'meta') (stored as unknown as Record<string, unknown>)[key] = value;
  }
  const { s, o } = indexResource(stored);
  return { resourceType, id, method, resource: stored, versionId, lastUpdated: now, previousVersionId, s, o };
}
