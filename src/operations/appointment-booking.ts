import type { Appointment, OperationDefinition } from 'fhir/r4';
import { badRequest, conflict, notFound } from '../fhir/outcome';
import { referenceKey } from '../fhir/search-index';
import { assertMayOverride, assertOwnParticipants, assertVisibleAppointment, canSee, ownPatientReferences } from '../interactions/access';
import type { ServerContext } from '../interactions/context';
import type { FhirRequest, FhirResult } from '../interactions/fhir-request';
import type { EngineResult } from '../scheduling/booking-engine';
import type { FhirOperation } from './operation';
import { OperationInput, param } from './parameters';

const RETURN = param('return', 'out', 1, '1', 'Appointment', 'The stored Appointment');

function definition(id: string, code: string, instance: boolean, description: string, parameters: OperationDefinition['parameter']): OperationDefinition {
  return {
    resourceType: 'OperationDefinition',
    id,
    url: `https://kairos.dev/fhir/OperationDefinition/${id}`,
    name: id
      .split('-')
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join(''),
    status: 'active',
    kind: 'operation',
    code,
    resource: ['Appointment'],
    system: false,
    type: !instance || code === 'book',
    instance,
    affectsState: true,
    description,
    parameter: [...(parameters ?? []), RETURN],
  };
}

export const appointmentHoldDefinition = definition('appointment-hold', 'hold', false, 'Holds a proposed time: Appointment pending, Slots busy-tentative, until hold-expires.', [
  param('appointment-resource', 'in', 0, '1', 'Appointment', 'A proposed Appointment, e.g. from $find'),
  param('appointment-reference', 'in', 0, '1', 'Reference', 'A stored proposed Appointment'),
  param('patient-reference', 'in', 0, '*', 'Reference', 'Patient(s) the time is held for'),
]);

export const appointmentBookDefinition = definition('appointment-book', 'book', true, 'Books a proposed or held Appointment atomically (409 when the time is taken).', [
  param('appointment-resource', 'in', 0, '1', 'Appointment', 'A proposed Appointment, e.g. from $find'),
  param('appointment-reference', 'in', 0, '1', 'Reference', 'A held (pending) Appointment'),
  param('patient-reference', 'in', 0, '*', 'Reference', 'Patient(s) to book for'),
  param('comment', 'in', 0, '1', 'string', 'Appointment.comment'),
  param('cancelled-appointment-reference', 'in', 0, '1', 'Reference', 'Appointment cancelled in the same atomic step (reschedule)'),
  param('override-reason', 'in', 0, '1', 'string', 'Staff/system only: why a booking policy is overridden'),
]);

export const appointmentRescheduleDefinition = definition('appointment-reschedule', 'reschedule', true, 'Moves an Appointment to a new time atomically, keeping its id.', [
  param('appointment-resource', 'in', 0, '1', 'Appointment', 'The new proposed time (e.g. from $find)'),
  param('start', 'in', 0, '1', 'instant', 'New start (with optional end) instead of a resource'),
  param('end', 'in', 0, '1', 'instant', 'New end'),
  param('override-reason', 'in', 0, '1', 'string', 'Staff/system only: why a booking policy is overridden'),
]);

function isAppointment(value: unknown): value is Appointment {
  return typeof value === 'object' && value !== null && (value as { resourceType?: unknown }).resourceType === 'Appointment';
}

/** The Appointment id of an `appointment-reference` / `cancelled-appointment-reference`. */
function appointmentId(reference: string | undefined, name: string): string | undefined {
  if (reference === undefined) return undefined;
  const key = referenceKey(reference);
  if (key === undefined || !key.startsWith('Appointment/')) throw badRequest(`${name} must reference an Appointment`, ['Parameters.parameter'], 'value');
  return key.slice('Appointment/'.length);
}

function engineResult(result: EngineResult, req: FhirRequest): FhirResult {
  // An Idempotency-Key replay answers the first result: never another patient's appointment.
  if (req.caller.kind === 'patient' && !canSee(req.caller, 'Appointment', result.appointment, req.baseUrl)) {
    throw conflict('This Idempotency-Key was already used for another request');
  }
  return {
    status: result.created ? 201 : 200,
    resource: result.appointment,
    version: { resourceType: 'Appointment', id: result.appointment.id, versionId: result.versionId, lastUpdated: result.lastUpdated },
    location: result.created,
  };
}

function proposalOf(input: OperationInput, instanceId: string | undefined): { proposal?: Appointment; reference?: string } {
  const resource = input.resource('appointment-resource');
  if (resource !== undefined && !isAppointment(resource)) throw badRequest('appointment-resource must be an Appointment', ['Parameters.parameter'], 'value');
  const reference = appointmentId(input.string('appointment-reference'), 'appointment-reference');
  // Appointment/{id}/$book names the held appointment in the URL: no other input is needed.
  if (resource === undefined && reference === undefined && instanceId === undefined) {
    throw badRequest('Give appointment-resource or appointment-reference', ['Parameters.parameter'], 'required');
  }
  return { proposal: resource, reference };
}

function overrideReason(req: FhirRequest, input: OperationInput): string | undefined {
  return input.string('override-reason') ?? req.overrideReason;
}

async function take(req: FhirRequest, ctx: ServerContext, mode: 'hold' | 'book'): Promise<FhirResult> {
  const input = OperationInput.from(req, mode === 'hold' ? appointmentHoldDefinition : appointmentBookDefinition);
  const { proposal, reference } = proposalOf(input, req.id);
  let heldId = req.id ?? reference;
  // A hold given back as appointment-resource (as $hold returned it) books that hold, keeping its id.
  if (heldId === undefined && proposal?.status === 'pending' && proposal.id !== undefined) {
    const held = await ctx.store.read('Appointment', proposal.id);
    if ((held?.resource as Appointment | null | undefined)?.status === 'pending') heldId = proposal.id;
  }
  // SPEC §6: a patient-context caller holds and books only for itself, on its own appointments, without overrides.
  const reason = overrideReason(req, input);
  assertMayOverride(req.caller, reason);
  const cancelAppointmentId = appointmentId(input.string('cancelled-appointment-reference'), 'cancelled-appointment-reference');
  if (heldId !== undefined) await assertVisibleAppointment(req.caller, ctx.store, heldId, req.baseUrl);
  if (cancelAppointmentId !== undefined) await assertVisibleAppointment(req.caller, ctx.store, cancelAppointmentId, req.baseUrl);
  const patientReferences = ownPatientReferences(req.caller, input.strings('patient-reference'), req.baseUrl);
  let base = proposal;
  if (heldId !== undefined && proposal === undefined) {
    const doc = await ctx.store.read('Appointment', heldId);
    if (doc?.resource === undefined || doc.resource === null) throw notFound(`Appointment/${heldId} is not known`);
    base = doc.resource as Appointment;
  }
  if (base === undefined) throw badRequest('No appointment to book', ['Parameters.parameter'], 'required');
  assertOwnParticipants(req.caller, base, req.baseUrl);
  const stored = heldId !== undefined && (base.status === 'pending' || base.id === heldId);
  const result = await ctx.engine.take({
    proposal: base,
    mode,
    appointmentId: stored ? heldId : undefined,
    patientReferences,
    comment: input.string('comment'),
    cancelAppointmentId,
    overrideReason: reason,
    caller: req.caller,
    idempotencyKey: req.idempotencyKey,
  });
  return engineResult(result, req);
}

export const appointmentHold: FhirOperation = {
  name: 'hold',
  resourceType: 'Appointment',
  definition: appointmentHoldDefinition,
  allowGet: false,
  handle: (req, ctx) => take(req, ctx, 'hold'),
};

export const appointmentBook: FhirOperation = {
  name: 'book',
  resourceType: 'Appointment',
  definition: appointmentBookDefinition,
  allowGet: false,
  handle: (req, ctx) => take(req, ctx, 'book'),
};

export const appointmentReschedule: FhirOperation = {
  name: 'reschedule',
  resourceType: 'Appointment',
  definition: appointmentRescheduleDefinition,
  allowGet: false,
  handle: async (req, ctx) => {
    if (req.id === undefined) throw badRequest('$reschedule is invoked on an Appointment: POST Appointment/{id}/$reschedule');
    const input = OperationInput.from(req, appointmentRescheduleDefinition);
    const reason = overrideReason(req, input);
    assertMayOverride(req.caller, reason);
    await assertVisibleAppointment(req.caller, ctx.store, req.id, req.baseUrl);
    const resource = input.resource('appointment-resource');
    let proposal: Appointment;
    if (resource !== undefined) {
      if (!isAppointment(resource)) throw badRequest('appointment-resource must be an Appointment', ['Parameters.parameter'], 'value');
      proposal = resource;
    } else {
      const start = input.string('start');
      if (start === undefined) throw badRequest('Give appointment-resource, or start (and end)', ['Parameters.parameter'], 'required');
      if (Number.isNaN(Date.parse(start))) throw badRequest('start must be an instant', ['Parameters.parameter'], 'value');
      let end = input.string('end');
      if (end === undefined) {
        const doc = await ctx.store.read('Appointment', req.id);
        const current = doc?.resource as Appointment | null | undefined;
        if (current === null || current === undefined) throw notFound(`Appointment/${req.id} is not known`);
        if (current.start === undefined || current.end === undefined) throw badRequest('end is needed: the appointment has no duration to keep');
        end = new Date(Date.parse(start) + Date.parse(current.end) - Date.parse(current.start)).toISOString();
      }
      proposal = { resourceType: 'Appointment', status: 'proposed', start, end, participant: [] };
    }
    assertOwnParticipants(req.caller, proposal, req.baseUrl);
    const result = await ctx.engine.reschedule(req.id, proposal, {
      caller: req.caller,
      overrideReason: reason,
      idempotencyKey: req.idempotencyKey,
    });
    return engineResult(result, req);
  },
};
