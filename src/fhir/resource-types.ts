import type { Resource } from 'fhir/r4';

/** The resource types Kairos stores (SPEC: the scheduling resources and their directory). */
export const RESOURCE_TYPES = [
  'Schedule',
  'Slot',
  'Appointment',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Location',
  'HealthcareService',
  'Organization',
  'AuditEvent',
] as const;

export type ResourceType = (typeof RESOURCE_TYPES)[number];

const typeSet: ReadonlySet<string> = new Set(RESOURCE_TYPES);

export function isResourceType(value: string): value is ResourceType {
  return typeSet.has(value);
}

/** A stored resource of one of our types, with id and meta set. */
export type StoredFhirResource = Resource & { resourceType: ResourceType; id: string };

/** R4 id datatype: [A-Za-z0-9\-\.]{1,64}. */
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
export function isValidId(value: string): boolean {
  return ID_PATTERN.test(value);
}
