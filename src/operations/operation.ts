import type { OperationDefinition } from 'fhir/r4';
import type { ServerContext } from '../interactions/context';
import type { FhirRequest, FhirResult } from '../interactions/fhir-request';
import type { ResourceType } from '../fhir/resource-types';

/** One `$operation`: its OperationDefinition as data plus the handler (STYLE: one file per operation). */
export interface FhirOperation {
  /** Name without `$`. */
  readonly name: string;
  readonly resourceType: ResourceType;
  readonly definition: OperationDefinition;
  /** Whether GET is allowed (the operation has no side effects; R4 operations.html#request). */
  readonly allowGet: boolean;
  handle(req: FhirRequest, ctx: ServerContext): Promise<FhirResult>;
}
