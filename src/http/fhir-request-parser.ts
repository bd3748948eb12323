import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { badRequest, notAcceptable, unsupportedMediaType } from '../fhir/outcome';
import { parseQueryPairs } from '../fhir/query-string';
import type { Caller, FhirRequest, PreferReturn } from '../interactions/fhir-request';

/** Media types Kairos reads as JSON bodies (SPEC §3: application/fhir+json, and plain JSON too). */
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'text/json']);
const PATCH_TYPES = new Set(['application/json-patch+json']);
const FORM_TYPE = 'application/x-www-form-urlencoded';

function headerValue(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) return value.join(', ');
  return value === undefined || value === '' ? undefined : value;
}

function rawQuery(req: Request): string {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

/** R4 http.html#Prefer; unknown values are ignored (clients send e.g. `return=presentation`). */
function parsePrefer(header: string | undefined): { preferReturn?: PreferReturn; preferHandling?: 'strict' | 'lenient' } {
  const result: { preferReturn?: PreferReturn; preferHandling?: 'strict' | 'lenient' } = {};
  if (header === undefined) return result;
  for (const part of header.split(/[,;]/)) {
    const [key, value] = part.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (key === 'return' && (value === 'minimal' || value === 'representation' || value === 'OperationOutcome')) {
      result.preferReturn = value;
    } else if (key === 'handling' && (value === 'strict' || value === 'lenient')) {
      result.preferHandling = value;
    }
  }
  return result;
}

/**
 * R4 http.html#mime: `_format` overrides Accept. JSON is all Kairos speaks; asking only for XML or
 * Turtle is 406.
 */
function checkAcceptable(req: Request, query: ReadonlyArray<readonly [string, string]>): void {
  const format = query.find(([k]) => k === '_format')?.[1];
  if (format !== undefined) {
    if (!/json/i.test(format)) throw notAcceptable(`_format "${format}" is not supported; Kairos serves JSON`);
    return;
  }
  const accept = headerValue(req, 'accept');
  if (accept === undefined) return;
  if (/json|\*\/\*|application\/\*/i.test(accept)) return;
  throw notAcceptable(`Accept "${accept}" is not supported; Kairos serves application/fhir+json`);
}

function mediaType(req: Request): string | undefined {
  const header = headerValue(req, 'content-type');
  return header?.split(';')[0]?.trim().toLowerCase();
}

function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? e.message : 'syntax error';
    throw badRequest(`The body is not valid JSON: ${detail}`, undefined, 'structure');
  }
}

export interface ParsedHttpRequest {
  request: FhirRequest;
  pretty: boolean;
}

/** A request id for logs and the X-Request-Id header: the client's when it is sane, else new. */
export function requestIdOf(req: Request): string {
  const given = headerValue(req, 'x-request-id');
  return given !== undefined && /^[A-Za-z0-9._\-:]{1,128}$/.test(given) ? given : randomUUID();
}

/**
 * Turns an express request below the FHIR base into a FhirRequest: query pairs, a JSON (or form,
 * for `_search`) body by media type (415 otherwise), and the FHIR headers.
 */
export function parseFhirRequest(req: Request, baseUrl: string, caller: Caller, requestId: string): ParsedHttpRequest {
  const method = req.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST' && method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE') {
    throw badRequest(`HTTP method ${method} is not used by FHIR`);
  }
  const query = parseQueryPairs(rawQuery(req));
  checkAcceptable(req, query);
  let body: unknown;
  const raw: unknown = req.body;
  const contentType = mediaType(req);
  if (Buffer.isBuffer(raw) && raw.length > 0 && method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
    const text = raw.toString('utf8');
    if (contentType !== undefined && (JSON_TYPES.has(contentType) || PATCH_TYPES.has(contentType))) {
      body = parseJsonBody(text);
    } else if (contentType === FORM_TYPE && method === 'POST' && req.path.replace(/\/+$/, '').endsWith('/_search')) {
      // R4 http.html#search: POST [type]/_search with form-encoded parameters, joined to the URL's.
      query.push(...parseQueryPairs(text));
    } else {
      throw unsupportedMediaType(
        `Content-Type "${contentType ?? '(none)'}" is not supported; send application/fhir+json` +
          (method === 'PATCH' ? ' or application/json-patch+json' : ''),
      );
    }
  }
  const pretty = query.some(([k, v]) => k === '_pretty' && v === 'true');
  const request: FhirRequest = {
    method,
    baseUrl,
    query,
    body,
    contentType,
    ifMatch: headerValue(req, 'if-match'),
    ifNoneExist: headerValue(req, 'if-none-exist'),
    ifNoneMatch: headerValue(req, 'if-none-match'),
    ...parsePrefer(headerValue(req, 'prefer')),
    overrideReason: headerValue(req, 'x-override-reason'),
    idempotencyKey: headerValue(req, 'idempotency-key'),
    caller,
    requestId,
  };
  return { request, pretty };
}
