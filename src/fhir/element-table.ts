import type { ResourceType } from './resource-types';

/**
 * Elements per type that `_summary=true` keeps (isSummary in the R4 4.0.1 StructureDefinitions) and
 * that `_elements` must keep anyway (min ≥ 1 or isModifier; R4 search.html#elements). Choice types
 * are listed by their stem (`deceased` covers `deceasedBoolean`, `deceasedDateTime`).
 */
export const ELEMENT_TABLE: Readonly<Record<ResourceType, { summary: readonly string[]; mandatory: readonly string[] }>> = {
  Schedule: {
    summary: ['identifier', 'active', 'serviceCategory', 'serviceType', 'specialty', 'actor', 'planningHorizon'],
    mandatory: ['active', 'actor'],
  },
  Slot: {
    summary: ['identifier', 'serviceCategory', 'serviceType', 'specialty', 'appointmentType', 'schedule', 'status', 'start', 'end'],
    mandatory: ['schedule', 'status', 'start', 'end'],
  },
  Appointment: {
    summary: ['identifier', 'status', 'cancelationReason', 'serviceCategory', 'serviceType', 'specialty', 'appointmentType', 'reasonCode', 'start', 'end'],
    mandatory: ['status', 'participant'],
  },
  Patient: {
    summary: ['identifier', 'active', 'name', 'telecom', 'gender', 'birthDate', 'deceased', 'address', 'managingOrganization', 'link'],
    mandatory: ['active', 'deceased', 'link'],
  },
  Practitioner: {
    summary: ['identifier', 'active', 'name', 'telecom', 'address', 'gender', 'birthDate'],
    mandatory: [],
  },
  PractitionerRole: {
    summary: ['identifier', 'active', 'period', 'practitioner', 'organization', 'code', 'specialty', 'location', 'telecom'],
    mandatory: [],
  },
  Location: {
    summary: ['identifier', 'status', 'operationalStatus', 'name', 'description', 'mode', 'type', 'physicalType', 'managingOrganization'],
    mandatory: ['status'],
  },
  HealthcareService: {
    summary: ['identifier', 'active', 'providedBy', 'category', 'type', 'specialty', 'location', 'name', 'comment', 'photo'],
    mandatory: ['active'],
  },
  Organization: {
    summary: ['identifier', 'active', 'type', 'name', 'partOf'],
    mandatory: ['active'],
  },
  AuditEvent: {
    summary: ['type', 'subtype', 'action', 'recorded', 'outcome', 'outcomeDesc', 'purposeOfEvent'],
    mandatory: ['type', 'recorded', 'agent', 'source'],
  },
};
