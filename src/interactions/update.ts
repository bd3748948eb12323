import type { ResourceType } from '../fhir/resource-types';
import type { ResourceWrite } from '../store/store';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { nextVersion } from '../store/resource-write';
import { writeAppointment } from './appointment-writes';
import { checkBodyIdMatches, checkIfMatch, checkResourceBody, checkUrlId, currentVersion } from './resource-writes';
import { assertMutable } from './type-rules';
import { afterWrite } from './schedule-writes';
import { writeResult } from './write-result';

/**
 * PUT [base]/[type]/[id] (R4 http.html#update). Update-as-create is allowed: 201 when nothing
 * current existed (never created, or deleted — a PUT revives a deleted resource), 200 otherwise.
 * If-Match is checked inside the transaction against the version actually replaced.
 */
export async function updateResource(
  req: FhirRequest & { resourceType: ResourceType; id: string },
  ctx: ServerContext,
): Promise<FhirResult> {
  const { resourceType, id } = req;
  assertMutable(resourceType);
  checkUrlId(resourceType, id);
  checkBodyIdMatches(req.body, resourceType, id);
  const resource = checkResourceBody(req.body, resourceType, id);
  if (resourceType === 'Appointment') return writeAppointment(req, ctx, id, resource, 'PUT');
  const { write, created } = await ctx.store.transaction<{ write: ResourceWrite; created: boolean }>(
    [`${resourceType}/${id}`],
    async (reader) => {
      const current = await reader.read(resourceType, id);
      checkIfMatch(req.ifMatch, currentVersion(current), `${resourceType}/${id}`);
      const next = nextVersion(resourceType, id, resource, 'PUT', current, ctx.now());
      return { writes: [next], result: { write: next, created: current === undefined || current.deleted } };
    },
  );
  await afterWrite(req, ctx, resourceType, id);
  return writeResult(write, created ? 201 : 200, `${created ? 'Created' : 'Updated'} ${resourceType}/${id}`);
}
