import { informational } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { nextVersion } from '../store/resource-write';
import { checkIfMatch, checkUrlId, currentVersion, resourceVersion } from './resource-writes';
import { assertMutable } from './type-rules';

/**
 * DELETE [base]/[type]/[id] (R4 http.html#delete): idempotent — 200 whether it existed, was
 * already deleted, or never existed. A delete writes a tombstone version so history keeps it and
 * a later read answers 410.
 */
export async function deleteResource(
  req: FhirRequest & { resourceType: ResourceType; id: string },
  ctx: ServerContext,
): Promise<FhirResult> {
  const { resourceType, id } = req;
  assertMutable(resourceType);
  checkUrlId(resourceType, id);
  const deleted =
    resourceType === 'Appointment'
      ? await ctx.engine.remove(id, { caller: req.caller, overrideReason: req.overrideReason }, (current) =>
          checkIfMatch(req.ifMatch, resourceVersion(current), `Appointment/${id}`),
        )
      : await deleteDocument(req, ctx, resourceType, id);
  return {
    status: 200,
    resource: informational(deleted ? `Deleted ${resourceType}/${id}` : `${resourceType}/${id} was not present; nothing to delete`),
  };
}

async function deleteDocument(req: FhirRequest, ctx: ServerContext, resourceType: ResourceType, id: string): Promise<boolean> {
  return ctx.store.transaction<boolean>([`${resourceType}/${id}`], async (reader) => {
    const current = await reader.read(resourceType, id);
    if (current === undefined || current.deleted) return { writes: [], result: false };
    checkIfMatch(req.ifMatch, currentVersion(current), `${resourceType}/${id}`);
    return { writes: [nextVersion(resourceType, id, null, 'DELETE', current, ctx.now())], result: true };
  });
}
