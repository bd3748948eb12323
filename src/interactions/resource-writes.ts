import { badRequest, preconditionFailed } from '../fhir/outcome';
import type { ResourceType, StoredFhirResource } from '../fhir/resource-types';
import { isValidId } from '../fhir/resource-types';
import { validateResource } from '../fhir/validation';
import { validateKairosExtensions } from '../scheduling/availability';
import type { ResourceDocument } from '../store/store';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a request body meant to become a `resourceType` and returns it typed: the type must
 * match the URL (400), it must pass the R4 schema and rule layer (400/422) and Kairos' extension
 * profiles (422). `id` is the id it will be stored under (R4 http.html#create: a body id on create
 * is ignored; #update: a body id must equal the URL id, checked by the caller).
 */
export function checkResourceBody(body: unknown, resourceType: ResourceType, id: string): StoredFhirResource {
  if (!isObject(body)) {
    throw badRequest('The request body must be a JSON object holding a FHIR resource', undefined, 'structure');
  }
  if (body['resourceType'] !== resourceType) {
    throw badRequest(
      `The body's resourceType "${String(body['resourceType'])}" does not match the URL's type ${resourceType}`,
      [`${resourceType}.resourceType`],
    );
  }
  const candidate: Record<string, unknown> = { ...body, id };
  validateResource(candidate, { expectedType: resourceType });
  // validateResource accepted it as an R4 resource of this type.
  const resource = candidate as unknown as StoredFhirResource;
  validateKairosExtensions(resource);
  return resource;
}

/** Checks that an update's body carries the URL's id (R4 http.html#update: missing or different → 400). */
export function checkBodyIdMatches(body: unknown, resourceType: ResourceType, urlId: string): void {
  if (!isObject(body)) return;
  const bodyId = body['id'];
  if (bodyId === undefined) {
    throw badRequest(`The body of an update must carry the id "${urlId}" (R4 http.html#update)`, [`${resourceType}.id`]);
  }
  if (bodyId !== urlId) {
    throw badRequest(`The body's id "${String(bodyId)}" does not match the URL id "${urlId}"`, [`${resourceType}.id`]);
  }
}

export function checkUrlId(resourceType: ResourceType, id: string): void {
  if (!isValidId(id)) {
    throw badRequest(`"${id}" is not a valid ${resourceType} id ([A-Za-z0-9-.]{1,64})`, undefined, 'value');
  }
}

/**
 * Reads the version out of an ETag (`W/"3"`, `"3"` or a bare `3`; R4 http.html#versioning — some
 * clients send it unquoted). Returns undefined when it is not a version at all.
 */
export function parseEtagVersion(etag: string): number | undefined {
  const match = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(etag);
  if (match === null || match[1] === undefined) return undefined;
  const version = Number(match[1]);
  return Number.isSafeInteger(version) ? version : undefined;
}

/** The version of a current document, undefined when there is none (absent or deleted). */
export function currentVersion(current: ResourceDocument | undefined): number | undefined {
  return current === undefined || current.deleted ? undefined : current.versionId;
}

/** The version of a stored resource, from its meta. */
export function resourceVersion(resource: StoredFhirResource | undefined): number | undefined {
  const v = resource?.meta?.versionId;
  return v === undefined ? undefined : Number(v);
}

/** R4 http.html#concurrency: an If-Match that names another version fails with 412 and changes nothing. */
export function checkIfMatch(ifMatch: string | undefined, actual: number | undefined, what: string): void {
  if (ifMatch === undefined) return;
  const expected = parseEtagVersion(ifMatch);
  if (expected === undefined || actual !== expected) {
    throw preconditionFailed(
      `If-Match ${ifMatch} does not match the current version of ${what} (${actual === undefined ? 'none' : `W/"${actual}"`})`,
    );
  }
}
