import type { OperationOutcome, Resource } from 'fhir/r4';
import type { ResourceType } from '../fhir/resource-types';

/** R4 http.html#Prefer `return=` values. */
export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** Who is calling, as established by the auth middleware (SPEC §6). */
export interface Caller {
  /** Token `sub`, or `anonymous` when AUTH_MODE=none. */
  subject: string;
  /** `patient` for a patient-context token, `user` for staff, `system` for a backend service. */
  kind: 'patient' | 'user' | 'system';
  /** For patient-context tokens: the Patient id the token is bound to. */
  patientId?: string;
  /** Granted SMART scopes, parsed; undefined when auth is off (everything allowed). */
  scopes?: readonly string[];
}

/**
 * A FHIR request with everything HTTP-specific already parsed (http/ builds it). Interactions and
 * operations take this and return a FhirResult; they never see express.
 */
export interface FhirRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute base URL, e.g. `http://127.0.0.1:8080/fhir`, no trailing slash. */
  baseUrl: string;
  resourceType?: ResourceType;
  id?: string;
  versionId?: string;
  /** Operation name without `$`. */
  operation?: string;
  /** Query (and form-encoded `_search` body) parameters as ordered string pairs. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Parsed JSON body, when there is one. */
  body?: unknown;
  /** The body's media type without parameters, e.g. `application/fhir+json`. */
  contentType?: string;
  ifMatch?: string;
  ifNoneExist?: string;
  ifNoneMatch?: string;
  preferReturn?: PreferReturn;
  preferHandling?: 'strict' | 'lenient';
  /** `X-Override-Reason` (SPEC §4.2). */
  overrideReason?: string;
  idempotencyKey?: string;
  caller: Caller;
  requestId: string;
}

/** What an interaction answers; only http/respond.ts turns it into HTTP. */
export interface FhirResult {
  status: number;
  /** The body resource; omitted for 204 or `return=minimal`. */
  resource?: Resource;
  /**
   * The body as JSON text (or its UTF-8 bytes) when the interaction has it without serialising
   * `resource` (a stored resource passed through, see `jsonResult`; a searchset assembled from
   * stored texts); respond.ts then sends it as is. Exactly `JSON.stringify(resource)`: a result
   * with another resource must drop it (`withResource`).
   */
  json?: string | Buffer;
  /** Sets ETag / Last-Modified / Location from this stored version (R4 http.html#versioning). */
  version?: { resourceType: ResourceType; id: string; versionId: number; lastUpdated: number };
  /** Shown instead of the resource when the client asked `Prefer: return=OperationOutcome`. */
  outcome?: OperationOutcome;
  /** When true, `Prefer: return=` applies to this result (create/update/patch). */
  honoursPrefer?: boolean;
  /** Whether `Location` should be set (create, update-as-create). */
  location?: boolean;
  headers?: Record<string, string>;
}

/**
 * A result whose body is JSON text: `resource` is parsed from it on first use (batch entries and
 * access checks need the object; a plain read or search response never does).
 */
export function jsonResult(fields: Omit<FhirResult, 'resource' | 'json'>, json: string | Buffer): FhirResult {
  let resource: Resource | undefined;
  const result: FhirResult = { ...fields, json };
  Object.defineProperty(result, 'resource', {
    enumerable: true,
    configurable: true,
    get: (): Resource => {
      resource ??= JSON.parse(typeof json === 'string' ? json : json.toString('utf8')) as Resource;
      return resource;
    },
  });
  return result;
}

/** The same result with another body resource (and no longer its JSON text). */
export function withResource(result: FhirResult, resource: Resource): FhirResult {
  const { json: _stale, ...rest } = result;
  return { ...rest, resource };
}
