import type { Appointment } from 'fhir/r4';
import type { StoredFhirResource } from '../fhir/resource-types';
import type { EngineResult } from '../scheduling/booking-engine';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { checkIfMatch, resourceVersion } from './resource-writes';

/**
 * SPEC §4.5: a plain POST/PUT/PATCH of an Appointment goes through the booking engine, like the
 * operations — there is no way around the invariant. `expectedVersion` (PATCH) makes the write
 * fail if the Appointment changed since it was read.
 */
export async function writeAppointment(
  req: FhirRequest,
  ctx: ServerContext,
  id: string,
  resource: StoredFhirResource,
  method: 'POST' | 'PUT' | 'PATCH',
  expectedVersion?: number,
): Promise<FhirResult> {
  const result: EngineResult = await ctx.engine.write(
    id,
    resource as StoredFhirResource & Appointment,
    { caller: req.caller, overrideReason: req.overrideReason },
    (current) => {
      checkIfMatch(req.ifMatch, resourceVersion(current), `Appointment/${id}`);
      if (expectedVersion !== undefined) checkIfMatch(`W/"${expectedVersion}"`, resourceVersion(current), `Appointment/${id}`);
    },
  );
  const created = method === 'POST' || result.created;
  return {
    status: created ? 201 : 200,
    resource: result.appointment,
    version: { resourceType: 'Appointment', id, versionId: result.versionId, lastUpdated: result.lastUpdated },
    honoursPrefer: true,
    location: true,
  };
}
