import { applyJsonPatch } from '../fhir/json-patch';
import { unprocessable } from '../fhir/outcome';
import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';
import type { ResourceWrite } from '../store/store';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { readCurrent } from './read';
import { nextVersion } from '../store/resource-write';
import { writeAppointment } from './appointment-writes';
import { checkIfMatch, checkResourceBody } from './resource-writes';
import { assertMutable } from './type-rules';
import { afterWrite } from './schedule-writes';
import { writeResult } from './write-result';

/**
 * PATCH [base]/[type]/[id] with a JSON Patch (R4 http.html#patch). The patched resource is then
 * processed as an update: validated, versioned, If-Match honoured. A patch may not change the
 * resource's type or id.
 */
export async function patchResource(
  req: FhirRequest & { resourceType: ResourceType; id: string },
  ctx: ServerContext,
): Promise<FhirResult> {
  const { resourceType, id } = req;
  assertMutable(resourceType);
  if (resourceType === 'Appointment') {
    const current = await readCurrent(ctx.store, resourceType, id);
    checkIfMatch(req.ifMatch, current.versionId, `${resourceType}/${id}`);
    const resource = patchedResource(current.resource, req.body, resourceType, id);
    return writeAppointment(req, ctx, id, resource, 'PATCH', current.versionId);
  }
  const write = await ctx.store.transaction<ResourceWrite>([`${resourceType}/${id}`], async (reader) => {
    const current = await readCurrent(reader, resourceType, id);
    checkIfMatch(req.ifMatch, current.versionId, `${resourceType}/${id}`);
    const resource = patchedResource(current.resource, req.body, resourceType, id);
    const next = nextVersion(resourceType, id, resource, 'PATCH', current, ctx.now());
    return { writes: [next], result: next };
  });
  await afterWrite(req, ctx, resourceType, id);
  return writeResult(write, 200, `Patched ${resourceType}/${id}`);
}

/** Applies a JSON Patch and checks the result as a new version of the same resource. */
function patchedResource(current: unknown, patch: unknown, resourceType: ResourceType, id: string): StoredFhirResource {
  const patched = applyJsonPatch(current, patch);
  if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) {
    throw unprocessable('The patch must leave a resource object');
  }
  const record = patched as Record<string, unknown>;
  if (record['resourceType'] !== resourceType || record['id'] !== id) {
    throw unprocessable('A patch may not change the resource type or id', [`${resourceType}.id`]);
  }
  return checkResourceBody(patched, resourceType, id);
}
