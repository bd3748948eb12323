import { methodNotAllowed } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';

/**
 * SPEC §4.8: AuditEvents are an append-only trail — created and read, never updated, patched or
 * deleted (R4 http.html: an interaction refused for the whole type is 405).
 */
export function assertMutable(resourceType: ResourceType): void {
  if (resourceType === 'AuditEvent') {
    throw methodNotAllowed('AuditEvent is append-only: it cannot be updated, patched or deleted', ['GET', 'POST']);
  }
}
