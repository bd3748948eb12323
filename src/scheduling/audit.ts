import type { AuditEvent, AuditEventEntity } from 'fhir/r4';
import type { StoredFhirResource } from '../fhir/resource-types';
import { newId, nextVersion } from '../store/resource-write';
import type { ResourceWrite } from '../store/store';

/** What the booking engine or the generator did (SPEC §4.8). */
export type AuditAction =
  | 'hold'
  | 'book'
  | 'reschedule'
  | 'status-change'
  | 'cancel'
  | 'hold-expired'
  | 'override'
  | 'generate'
  | 'appointment-write';

export const AUDIT_ACTION_SYSTEM = 'https://kairos.dev/fhir/CodeSystem/audit-action';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const AGENT_REFERENCE = /^(Practitioner|PractitionerRole|Patient|RelatedPerson|Device|Organization)\/[A-Za-z0-9\-.]{1,64}$/;

export interface AuditInput {
  action: AuditAction;
  /** Token subject, or `anonymous` when auth is off, or `kairos` for the server's own jobs. */
  agent: string;
  entities: readonly string[];
  outcome: 'success' | 'failure';
  overrideReason?: string;
  description?: string;
  now: number;
}

/** R4 AuditEvent.action: C create, U update, E execute. */
function crud(action: AuditAction): AuditEvent['action'] {
  switch (action) {
    case 'hold':
    case 'book':
    case 'appointment-write':
      return 'C';
    case 'generate':
    case 'override':
      return 'E';
    case 'reschedule':
    case 'status-change':
    case 'cancel':
    case 'hold-expired':
      return 'U';
  }
}

/** Builds the AuditEvent for one booking-engine change; written in the same commit as the change. */
export function auditEvent(input: AuditInput): AuditEvent {
  const entity: AuditEventEntity[] = input.entities.map((reference) => ({ what: { reference } }));
  if (input.overrideReason !== undefined) {
    entity.push({
      what: { reference: input.entities[0] ?? 'Appointment' },
      description: 'policy override',
      detail: [{ type: 'override-reason', valueString: input.overrideReason }],
    });
  }
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    type: { system: DCM, code: '110100', display: 'Application Activity' },
    subtype: [{ system: AUDIT_ACTION_SYSTEM, code: input.action }],
    action: crud(input.action),
    recorded: new Date(input.now).toISOString(),
    // R4 AuditEvent.outcome: 0 success, 4 minor failure.
    outcome: input.outcome === 'success' ? '0' : '4',
    // Searchable as `altid` and `agent-name`; a subject that is a FHIR reference (e.g. a SMART
    // `fhirUser` of Practitioner/x) is also the `who` reference, so `agent=` finds it.
    agent: [
      {
        who: AGENT_REFERENCE.test(input.agent) ? { reference: input.agent, display: input.agent } : { display: input.agent },
        altId: input.agent,
        name: input.agent,
        requestor: input.agent !== 'kairos',
      },
    ],
    source: { observer: { display: 'Kairos' } },
    entity,
  };
  if (input.description !== undefined) event.outcomeDesc = input.description;
  return event;
}

export function auditWrite(input: AuditInput): ResourceWrite {
  const id = newId();
  const event = { ...auditEvent(input), id } as StoredFhirResource;
  return nextVersion('AuditEvent', id, event, 'POST', undefined, input.now);
}
