import type { Appointment, Bundle, Resource } from 'fhir/r4';
import { applyJsonPatch } from '../fhir/json-patch';
import { FhirError, forbidden, notFound, operationOutcome } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { RouteMatch } from '../fhir/routes';
import { referenceKey } from '../fhir/search-index';
import type { SearchRequest } from '../fhir/search-request';
import type { ScopeContext, ScopeVerb } from '../fhir/smart-scopes';
import { scopeAllows } from '../fhir/smart-scopes';
import type { StoreReader } from '../store/store';
import { withResource } from './fhir-request';
import type { Caller, FhirRequest, FhirResult } from './fhir-request';

/**
 * Authorization (SPEC §6): which SMART permission each interaction and operation needs, and the
 * patient compartment rules for patient-context tokens.
 *
 * Verbs (SMART v2 letters; v1 `.read` = rs, `.write` = cud):
 * - read, vread, instance history: `r`; type search and type history: `s`
 * - create: `c` (conditional create also `s`: it searches); update: `u` (`c` as well when the PUT
 *   creates); patch: `u`; delete: `d`
 * - `Appointment/$find`: `s` on Appointment (it is a search for proposed Appointments)
 * - `$hold`, `$book`: `c` on Appointment; also `u` when they act on a stored Appointment (instance
 *   `$book`, `appointment-reference`, `cancelled-appointment-reference`); `$reschedule`: `u`
 * - any other operation: `r` on its type when it is read-only (GET allowed), else `u`
 * - batch/transaction: nothing itself; every entry is authorized as if sent alone.
 *
 * A patient-context caller additionally sees only its own Patient and the Appointments it takes
 * part in (others are 404, as if absent; searches are filtered), may read the public directory, may
 * write Appointments only through `$hold`/`$book`/`$reschedule` for itself and by cancelling its
 * own (PUT/PATCH that changes nothing but `status` → cancelled and `cancelationReason`), and never
 * gives an override reason. Everything else is 403.
 */

/** SPEC §6: what a patient-context token may read besides its own record. */
export const PUBLIC_DIRECTORY_TYPES: ReadonlySet<ResourceType> = new Set([
  'Practitioner',
  'PractitionerRole',
  'Location',
  'HealthcareService',
  'Organization',
  'Schedule',
  'Slot',
]);

/** Types holding data about patients: a patient caller sees only its own. */
const PATIENT_COMPARTMENT_TYPES: ReadonlySet<ResourceType> = new Set(['Patient', 'Appointment']);

/** The operations a patient-context caller may invoke (all on Appointment). */
const PATIENT_OPERATIONS: ReadonlySet<string> = new Set(['find', 'hold', 'book', 'reschedule']);

/** Elements a patient's cancellation may change; anything else makes it a general update (403). */
const CANCEL_ELEMENTS = ['status', 'cancelationReason', 'meta', 'text'] as const;

export interface AccessCheck {
  resourceType: ResourceType;
  verb: ScopeVerb;
}

/**
 * A patient token's patient/ and user/ scopes both apply (bounded by the compartment rules); staff
 * and backend tokens' patient/ scopes mean nothing without a patient context.
 */
function scopeContexts(caller: Caller): readonly ScopeContext[] {
  return caller.kind === 'patient' ? ['patient', 'user'] : ['user', 'system'];
}

/** Whether the caller's scopes grant `verb` on `resourceType`; without scopes (AUTH_MODE=none) everything is granted. */
export function hasScope(caller: Caller, resourceType: ResourceType, verb: ScopeVerb): boolean {
  if (caller.scopes === undefined) return true;
  return scopeAllows(caller.scopes, resourceType, verb, scopeContexts(caller));
}

/** 403, with the RFC 6750 §3.1 `insufficient_scope` challenge naming the scope that would do. */
export function requireScope(caller: Caller, resourceType: ResourceType, verb: ScopeVerb): void {
  if (hasScope(caller, resourceType, verb)) return;
  const words: Record<ScopeVerb, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };
  const context = caller.kind === 'patient' ? 'patient' : caller.kind === 'system' ? 'system' : 'user';
  const diagnostics = `The token's scopes do not allow ${words[verb]} (${verb}) on ${resourceType}`;
  throw new FhirError(403, operationOutcome({ code: 'forbidden', diagnostics }), {
    'WWW-Authenticate': `Bearer realm="kairos", error="insufficient_scope", scope="${context}/${resourceType}.${verb}"`,
  });
}

/** `Patient/x` for a patient-context caller. */
export function ownPatientKey(caller: Caller): string | undefined {
  return caller.kind === 'patient' && caller.patientId !== undefined ? `Patient/${caller.patientId}` : undefined;
}

function patientOnly(caller: Caller): caller is Caller & { kind: 'patient' } {
  return caller.kind === 'patient';
}

/** The Patient references an Appointment names as participants, as `Patient/id` keys. */
function appointmentPatients(appointment: Appointment, baseUrl: string): string[] {
  const keys: string[] = [];
  for (const p of appointment.participant ?? []) {
    const ref = p.actor?.reference;
    const key = ref === undefined ? undefined : referenceKey(ref, baseUrl);
    if (key?.startsWith('Patient/') === true) keys.push(key);
  }
  return keys;
}

/**
 * What `canSee` decides from the caller and the type alone, or undefined when it depends on the
 * resource (a patient's own records): a search checks this once, and looks inside each resource
 * only when it must.
 */
export function canSeeType(caller: Caller, resourceType: ResourceType): boolean | undefined {
  if (!hasScope(caller, resourceType, 'r') && !hasScope(caller, resourceType, 's')) return false;
  if (!patientOnly(caller)) return true;
  if (PUBLIC_DIRECTORY_TYPES.has(resourceType)) return true;
  return undefined;
}

/**
 * Whether the caller may see this resource: its scopes allow reading the type, and a patient
 * caller sees only the public directory, its own Patient and Appointments it takes part in.
 */
export function canSee(caller: Caller, resourceType: ResourceType, resource: Resource, baseUrl: string): boolean {
  const byType = canSeeType(caller, resourceType);
  if (byType !== undefined) return byType;
  const own = ownPatientKey(caller);
  if (own === undefined) return false;
  if (resourceType === 'Patient') return `Patient/${resource.id ?? ''}` === own;
  if (resourceType === 'Appointment') return appointmentPatients(resource as Appointment, baseUrl).includes(own);
  return false;
}

/** SPEC §4.2: only staff and system callers may override a policy; a patient asking to is refused outright. */
export function assertMayOverride(caller: Caller, reason: string | undefined): void {
  if (reason !== undefined && caller.kind === 'patient') {
    throw forbidden('A patient-context token cannot override a booking policy (override-reason / X-Override-Reason)');
  }
}

/**
 * The patient references an operation acts for. A patient caller acts only for itself: no
 * reference means itself, any other Patient is 403. Other callers' references pass unchanged.
 */
export function ownPatientReferences(caller: Caller, references: readonly string[], baseUrl: string): string[] {
  const own = ownPatientKey(caller);
  if (!patientOnly(caller)) return [...references];
  if (own === undefined) throw forbidden('The token has a patient context without a Patient id');
  for (const reference of references) {
    if (referenceKey(reference, baseUrl) !== own) throw forbidden(`A patient-context token can act only for ${own}`);
  }
  return [own];
}

/** A proposal (e.g. from $find) booked by a patient caller may name no Patient but itself. */
export function assertOwnParticipants(caller: Caller, appointment: Appointment, baseUrl: string): void {
  const own = ownPatientKey(caller);
  if (!patientOnly(caller)) return;
  for (const key of appointmentPatients(appointment, baseUrl)) {
    if (key !== own) throw forbidden(`A patient-context token can book only for ${own ?? 'its own Patient'}`);
  }
}

/** 404 unless the stored Appointment exists and the caller may see it (another patient's looks absent). */
export async function assertVisibleAppointment(caller: Caller, reader: StoreReader, id: string, baseUrl: string): Promise<void> {
  if (!patientOnly(caller)) return;
  const doc = await reader.read('Appointment', id);
  if (doc?.resource === undefined || doc.resource === null || !canSee(caller, 'Appointment', doc.resource, baseUrl)) {
    throw notFound(`Appointment/${id} is not known`);
  }
}

/** The names of an operation's parameters, from the query and a Parameters body. */
function parameterNames(req: FhirRequest): Set<string> {
  const names = new Set(req.query.map(([k]) => k));
  const body = req.body;
  if (typeof body === 'object' && body !== null && 'parameter' in body) {
    const parameters: unknown = (body as { parameter: unknown }).parameter;
    if (Array.isArray(parameters)) {
      for (const p of parameters) {
        if (typeof p === 'object' && p !== null && typeof (p as { name?: unknown }).name === 'string') names.add((p as { name: string }).name);
      }
    }
  }
  return names;
}

function operationChecks(type: ResourceType, name: string, req: FhirRequest, readOnly: boolean): AccessCheck[] {
  if (type === 'Appointment') {
    switch (name) {
      case 'find':
        return [{ resourceType: type, verb: 's' }];
      case 'hold':
      case 'book': {
        const names = parameterNames(req);
        const stored = req.id !== undefined || names.has('appointment-reference') || names.has('cancelled-appointment-reference');
        return stored ? [{ resourceType: type, verb: 'c' }, { resourceType: type, verb: 'u' }] : [{ resourceType: type, verb: 'c' }];
      }
      case 'reschedule':
        return [{ resourceType: type, verb: 'u' }];
    }
  }
  return [{ resourceType: type, verb: readOnly ? 'r' : 'u' }];
}

/**
 * The scope checks an interaction needs (see the table at the top of this file). `exists` tells
 * whether an update's target exists (a PUT that creates also needs `c`).
 */
export function requiredAccess(match: RouteMatch, req: FhirRequest, exists: boolean, operationReadOnly = false): AccessCheck[] {
  const type = match.resourceType;
  if (type === undefined) return [];
  switch (match.interaction) {
    case 'capabilities':
    case 'batch-transaction':
      return [];
    case 'read':
    case 'vread':
    case 'history-instance':
      return [{ resourceType: type, verb: 'r' }];
    case 'search-type':
    case 'history-type':
      return [{ resourceType: type, verb: 's' }];
    case 'create':
      return req.ifNoneExist === undefined ? [{ resourceType: type, verb: 'c' }] : [{ resourceType: type, verb: 'c' }, { resourceType: type, verb: 's' }];
    case 'update':
      return exists ? [{ resourceType: type, verb: 'u' }] : [{ resourceType: type, verb: 'u' }, { resourceType: type, verb: 'c' }];
    case 'patch':
      return [{ resourceType: type, verb: 'u' }];
    case 'delete':
      return [{ resourceType: type, verb: 'd' }];
    case 'operation':
      return operationChecks(type, match.operation ?? '', { ...req, id: match.id }, operationReadOnly);
  }
}

/** JSON with sorted keys, so two resources compare by content. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function withoutCancelElements(resource: unknown): unknown {
  if (typeof resource !== 'object' || resource === null) return resource;
  const copy: Record<string, unknown> = { ...(resource as Record<string, unknown>) };
  for (const element of CANCEL_ELEMENTS) delete copy[element];
  return copy;
}

/** A patient's PUT/PATCH of its own Appointment is allowed only as a cancellation. */
function assertCancellationOnly(current: Resource, next: unknown): void {
  const status = typeof next === 'object' && next !== null ? (next as { status?: unknown }).status : undefined;
  if (status !== 'cancelled' || canonical(withoutCancelElements(current)) !== canonical(withoutCancelElements(next))) {
    throw forbidden(
      'A patient-context token may change its Appointment only by cancelling it (status cancelled, optional cancelationReason); use $book or $reschedule for new times',
    );
  }
}

async function authorizePatient(match: RouteMatch, req: FhirRequest, reader: StoreReader): Promise<FhirRequest> {
  const { caller } = req;
  const own = ownPatientKey(caller);
  if (own === undefined) throw forbidden('The token has a patient context without a Patient id');
  assertMayOverride(caller, req.overrideReason);
  const type = match.resourceType;
  if (type === undefined) return req;
  const isPublic = PUBLIC_DIRECTORY_TYPES.has(type);
  if (!isPublic && !PATIENT_COMPARTMENT_TYPES.has(type)) throw forbidden(`A patient-context token cannot access ${type}`);
  const visibleCurrent = async (id: string): Promise<Resource> => {
    const doc = await reader.read(type, id);
    if (doc?.resource === undefined || doc.resource === null || !canSee(caller, type, doc.resource, req.baseUrl)) {
      throw notFound(`${type}/${id} is not known`);
    }
    return doc.resource;
  };
  switch (match.interaction) {
    case 'capabilities':
    case 'batch-transaction':
      return req;
    case 'read':
    case 'vread':
    case 'history-instance':
      if (!isPublic && match.id !== undefined) await visibleCurrent(match.id);
      return req;
    case 'search-type':
      // Forced criteria are ANDed with the client's (R4 search.html: repeated parameters are AND).
      if (type === 'Appointment') return { ...req, query: [...req.query, ['patient', own]] };
      if (type === 'Patient') return { ...req, query: [...req.query, ['_id', caller.patientId ?? '']] };
      return req;
    case 'history-type':
      if (!isPublic) throw forbidden(`A patient-context token cannot read the history of all ${type} resources`);
      return req;
    case 'create':
    case 'delete':
      if (isPublic) throw forbidden(`A patient-context token cannot change ${type} resources`);
      throw forbidden(
        type === 'Appointment'
          ? 'A patient-context token books through Appointment/$hold and $book and cancels by updating status; it cannot create or delete Appointments'
          : `A patient-context token cannot create or delete ${type} resources`,
      );
    case 'update':
    case 'patch': {
      if (type !== 'Appointment' || match.id === undefined) throw forbidden(`A patient-context token cannot change ${type} resources`);
      const doc = await reader.read(type, match.id);
      if (doc?.resource === undefined || doc.resource === null || !canSee(caller, type, doc.resource, req.baseUrl)) {
        throw notFound(`${type}/${match.id} is not known`);
      }
      const next = match.interaction === 'patch' ? applyJsonPatch(doc.resource, req.body) : req.body;
      assertCancellationOnly(doc.resource, next);
      // Pins the version just checked: a concurrent change makes the write fail (412) instead of
      // applying this cancellation to content that was never checked.
      return { ...req, ifMatch: req.ifMatch ?? `W/"${doc.versionId}"` };
    }
    case 'operation':
      if (type !== 'Appointment' || !PATIENT_OPERATIONS.has(match.operation ?? '')) {
        throw forbidden(`A patient-context token cannot invoke $${match.operation ?? ''} on ${type}`);
      }
      if (match.id !== undefined) await visibleCurrent(match.id);
      return req;
  }
}

/**
 * Authorizes one interaction before it runs (dispatch calls it for every request and every
 * Bundle entry): 403 when a scope is missing or a patient caller steps outside its compartment,
 * 404 for another patient's records. Returns the request to run — for a patient caller, searches
 * carry the compartment criteria and cancellations an If-Match on the checked version.
 */
export async function authorize(match: RouteMatch, req: FhirRequest, reader: StoreReader, operationReadOnly = false): Promise<FhirRequest> {
  const { caller } = req;
  if (caller.scopes === undefined && !patientOnly(caller)) return req;
  let exists = true;
  if (match.interaction === 'update' && match.resourceType !== undefined && match.id !== undefined) {
    const current = await reader.read(match.resourceType, match.id);
    exists = current !== undefined && !current.deleted;
  }
  for (const check of requiredAccess(match, req, exists, operationReadOnly)) requireScope(caller, check.resourceType, check.verb);
  return patientOnly(caller) ? authorizePatient(match, req, reader) : req;
}

/**
 * A search must not reach, through a chain, a type the caller may not search (a chain's inner
 * search would reveal which resources of that type match). A patient caller may chain only into
 * the public directory.
 */
export function assertSearchAllowed(caller: Caller, request: SearchRequest): void {
  for (const filter of request.filters) {
    if (filter.kind !== 'chain') continue;
    for (const target of filter.targets) {
      if (!hasScope(caller, target.resourceType, 's')) {
        throw forbidden(`The chained parameter ${filter.code} searches ${target.resourceType}, which the token's scopes do not allow`);
      }
      if (patientOnly(caller) && !PUBLIC_DIRECTORY_TYPES.has(target.resourceType)) {
        throw forbidden(
          `A patient-context token cannot chain ${filter.code} into ${target.resourceType}; name a directory type (e.g. ${filter.code}:Practitioner.name)`,
        );
      }
    }
  }
}

/**
 * After a patient caller's vread or instance history: versions of an Appointment that did not name
 * the patient stay hidden (the current version naming it does not open the earlier ones).
 */
export function restrictResult(match: RouteMatch, req: FhirRequest, result: FhirResult): FhirResult {
  const { caller } = req;
  const type = match.resourceType;
  if (!patientOnly(caller) || type === undefined || PUBLIC_DIRECTORY_TYPES.has(type)) return result;
  if (match.interaction === 'vread' && result.resource !== undefined && !canSee(caller, type, result.resource, req.baseUrl)) {
    throw notFound(`${type}/${match.id ?? ''} has no version "${match.versionId ?? ''}"`);
  }
  if (match.interaction === 'history-instance' && result.resource?.resourceType === 'Bundle') {
    const history = result.resource as Bundle;
    const entries = history.entry ?? [];
    const kept = entries.filter((e) => e.resource === undefined || canSee(caller, type, e.resource, req.baseUrl));
    const removed = entries.length - kept.length;
    if (removed === 0) return result;
    const filtered: Bundle = { ...history, entry: kept };
    if (history.total !== undefined) filtered.total = history.total - removed;
    return withResource(result, filtered);
  }
  return result;
}
