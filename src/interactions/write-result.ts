import { informational } from '../fhir/outcome';
import type { ResourceWrite } from '../store/store';
import type { FhirResult } from './fhir-request';

/** The result of a successful create/update/patch: the new version, Location, Prefer honoured. */
export function writeResult(write: ResourceWrite, status: 200 | 201, message: string): FhirResult {
  return {
    status,
    resource: write.resource ?? undefined,
    version: { resourceType: write.resourceType, id: write.id, versionId: write.versionId, lastUpdated: write.lastUpdated },
    outcome: informational(message),
    honoursPrefer: true,
    location: true,
  };
}
