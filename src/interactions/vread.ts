import { gone, notFound } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { checkUrlId } from './resource-writes';

/** GET [base]/[type]/[id]/_history/[vid] (R4 http.html#vread: a version that is a delete → 410). */
export async function vreadResource(
  req: FhirRequest & { resourceType: ResourceType; id: string; versionId: string },
  ctx: ServerContext,
): Promise<FhirResult> {
  checkUrlId(req.resourceType, req.id);
  const versionId = /^\d{1,15}$/.test(req.versionId) ? Number(req.versionId) : undefined;
  const entry = versionId === undefined ? undefined : await ctx.store.vread(req.resourceType, req.id, versionId);
  if (entry === undefined) throw notFound(`${req.resourceType}/${req.id} has no version "${req.versionId}"`);
  if (entry.resource === null) throw gone(`Version ${entry.versionId} of ${req.resourceType}/${req.id} is a delete`);
  return {
    status: 200,
    resource: entry.resource,
    version: { resourceType: req.resourceType, id: req.id, versionId: entry.versionId, lastUpdated: entry.lastUpdated },
  };
}
