import type { BundleEntry, OperationDefinition } from 'fhir/r4';
import { randomUUID } from 'node:crypto';
import { bundle } from '../fhir/bundle';
import { badRequest } from '../fhir/outcome';
import { DEFAULT_COUNT, parseCount, parseDateRange, parseOffset } from '../fhir/param-values';
import { ownPatientReferences } from '../interactions/access';
import type { ServerContext } from '../interactions/context';
import type { FhirRequest, FhirResult } from '../interactions/fhir-request';
import { findAppointments, proposedAppointment } from '../scheduling/find';
import type { FhirOperation } from './operation';
import { OperationInput, param } from './parameters';

/** Appointment/$find, named after IHE ITI Scheduling's `$find` (SPEC §4.6). */
export const appointmentFindDefinition: OperationDefinition = {
  resourceType: 'OperationDefinition',
  id: 'appointment-find',
  url: 'https://kairos.dev/fhir/OperationDefinition/appointment-find',
  name: 'AppointmentFind',
  status: 'active',
  kind: 'operation',
  code: 'find',
  resource: ['Appointment'],
  system: false,
  type: true,
  instance: false,
  affectsState: false,
  description: 'Proposes appointment times from free Slots, earliest first. No side effects.',
  parameter: [
    param('start', 'in', 1, '1', 'dateTime', 'Start of the window'),
    param('end', 'in', 1, '1', 'dateTime', 'End of the window (at most 31 days after start)'),
    param('practitioner', 'in', 0, '*', 'Reference', 'Practitioner (or PractitionerRole) to book'),
    param('location-reference', 'in', 0, '*', 'Reference', 'Location to book'),
    param('schedule', 'in', 0, '*', 'Reference', 'Schedule to book'),
    param('specialty', 'in', 0, '*', 'Coding', 'Specialty (token)'),
    param('visit-type', 'in', 0, '*', 'Coding', 'Visit type, matched to Schedule.serviceType'),
    param('service', 'in', 0, '1', 'Reference', 'HealthcareService: sets the duration and room need'),
    param('duration', 'in', 0, '1', 'positiveInt', 'Minutes (default: the service duration, or one slot)'),
    param('location-type', 'in', 0, '1', 'Coding', 'Also needs a free Location of this type for the whole time'),
    param('patient-reference', 'in', 0, '1', 'Reference', 'Skip times this patient is already booked'),
    param('_count', 'in', 0, '1', 'integer', 'Page size (default 50, max 1000)'),
    param('_offset', 'in', 0, '1', 'integer', 'Paging offset'),
    param('return', 'out', 1, '1', 'Bundle', 'searchset of proposed Appointments with total'),
  ],
};

function requiredInstant(input: OperationInput, name: string): number {
  const text = input.string(name);
  const range = text === undefined ? undefined : parseDateRange(text);
  if (range === undefined) throw badRequest(`$find parameter "${name}" must be a dateTime`, ['Parameters.parameter'], 'value');
  return range.lo;
}

export async function appointmentFindHandler(req: FhirRequest, ctx: ServerContext): Promise<FhirResult> {
  const input = OperationInput.from(req, appointmentFindDefinition);
  const durationText = input.string('duration');
  if (durationText !== undefined && !/^[1-9]\d{0,4}$/.test(durationText)) {
    throw badRequest('duration must be a positive number of minutes', ['Parameters.parameter'], 'value');
  }
  const countText = input.string('_count');
  const offsetText = input.string('_offset');
  const count = countText === undefined ? DEFAULT_COUNT : parseCount(countText);
  const offset = offsetText === undefined ? 0 : parseOffset(offsetText);
  // SPEC §6: a patient-context caller finds times only for itself (its own bookings are skipped).
  const [patient] = ownPatientReferences(req.caller, input.strings('patient-reference'), req.baseUrl);
  const result = await findAppointments(
    ctx.store,
    {
      start: requiredInstant(input, 'start'),
      end: requiredInstant(input, 'end'),
      practitioners: input.strings('practitioner'),
      locations: input.strings('location-reference'),
      schedules: input.strings('schedule'),
      specialties: input.strings('specialty'),
      visitTypes: input.strings('visit-type'),
      service: input.string('service'),
      durationMinutes: durationText === undefined ? undefined : Number(durationText),
      locationType: input.string('location-type'),
      patient,
      count,
      offset,
    },
    ctx.now(),
  );
  const entry: BundleEntry[] = result.proposals.map((p) => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: proposedAppointment(p, patient),
    search: { mode: 'match' },
  }));
  return { status: 200, resource: bundle('searchset', entry, { total: result.total }) };
}

export const appointmentFind: FhirOperation = {
  name: 'find',
  resourceType: 'Appointment',
  definition: appointmentFindDefinition,
  allowGet: true,
  handle: appointmentFindHandler,
};
