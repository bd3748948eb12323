import { gone, notFound } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { ResourceDocument, StoreReader } from '../store/store';
import type { ServerContext } from './context';
import { jsonResult } from './fhir-request';
import type { FhirRequest, FhirResult } from './fhir-request';
import { checkUrlId } from './resource-writes';

/** Reads the current document or answers 404 (never existed) / 410 (deleted; R4 http.html#read). */
export async function readCurrent(reader: StoreReader, resourceType: ResourceType, id: string): Promise<ResourceDocument> {
  checkUrlId(resourceType, id);
  const document = await reader.read(resourceType, id);
  if (document === undefined) throw notFound(`${resourceType}/${id} is not known`);
  // `deleted`, not `resource === null`: the resource is parsed only if a caller looks at it (store.ts).
  if (document.deleted) throw gone(`${resourceType}/${id} was deleted`);
  return document;
}

/** GET [base]/[type]/[id] */
export async function readResource(req: FhirRequest & { resourceType: ResourceType; id: string }, ctx: ServerContext): Promise<FhirResult> {
  const document = await readCurrent(ctx.store, req.resourceType, req.id);
  const version = { resourceType: req.resourceType, id: req.id, versionId: document.versionId, lastUpdated: document.lastUpdated };
  const json = document.json;
  if (json !== undefined) return jsonResult({ status: 200, version }, json);
  return { status: 200, resource: document.resource ?? undefined, version };
}
