import { preconditionFailed } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { ResourceDocument, ResourceWrite } from '../store/store';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { newId, nextVersion } from '../store/resource-write';
import { writeAppointment } from './appointment-writes';
import { checkResourceBody } from './resource-writes';
import { matchCriteria, parseCriteria } from './search';
import { afterWrite } from './schedule-writes';
import { writeResult } from './write-result';

type CreateOutcome = { kind: 'created'; write: ResourceWrite } | { kind: 'existing'; document: ResourceDocument };

/**
 * POST [base]/[type], optionally conditional (If-None-Exist; R4 http.html#ccreate: no match →
 * create 201, one match → 200 with it and nothing created, several → 412). The criteria check and
 * the insert run in one store transaction locked on the criteria, so two identical conditional
 * creates cannot both insert. `id` is chosen by the caller only inside a transaction Bundle, where
 * references to the entry's fullUrl were already rewritten to it.
 */
export async function createResource(
  req: FhirRequest & { resourceType: ResourceType },
  ctx: ServerContext,
  id: string = newId(),
): Promise<FhirResult> {
  const resourceType = req.resourceType;
  const resource = checkResourceBody(req.body, resourceType, id);
  const criteria = req.ifNoneExist === undefined ? undefined : parseCriteria(req.ifNoneExist);
  if (resourceType === 'Appointment') {
    if (criteria !== undefined) {
      const [first, second] = await matchCriteria(ctx.store, resourceType, criteria, 2);
      if (second !== undefined) throw preconditionFailed(`If-None-Exist matched more than one ${resourceType}`, 'multiple-matches');
      if (first !== undefined) return existingResult(resourceType, first);
    }
    return writeAppointment(req, ctx, id, resource, 'POST');
  }
  const lockKeys = criteria === undefined ? [] : [`If-None-Exist ${resourceType}?${req.ifNoneExist ?? ''}`];
  const outcome = await ctx.store.transaction<CreateOutcome>(lockKeys, async (reader) => {
    if (criteria !== undefined) {
      const matches = await matchCriteria(reader, resourceType, criteria, 2);
      const [first] = matches;
      if (matches.length > 1) {
        throw preconditionFailed(`If-None-Exist matched more than one ${resourceType}`, 'multiple-matches');
      }
      if (first !== undefined) return { writes: [], result: { kind: 'existing', document: first } };
    }
    const write = nextVersion(resourceType, id, resource, 'POST', undefined, ctx.now());
    return { writes: [write], result: { kind: 'created', write } };
  });
  if (outcome.kind === 'existing') return existingResult(resourceType, outcome.document);
  await afterWrite(req, ctx, resourceType, id);
  return writeResult(outcome.write, 201, `Created ${resourceType}/${id}`);
}

/** R4 http.html#ccreate: one match → 200 with the existing resource, nothing created. */
function existingResult(resourceType: ResourceType, document: ResourceDocument): FhirResult {
  return {
    status: 200,
    resource: document.resource ?? undefined,
    version: { resourceType, id: document._id, versionId: document.versionId, lastUpdated: document.lastUpdated },
    honoursPrefer: true,
  };
}
