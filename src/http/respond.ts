import type { Response } from 'express';
import type { OperationOutcome, Resource } from 'fhir/r4';
import type { FhirResult, PreferReturn } from '../interactions/fhir-request';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface ResponseOptions {
  baseUrl: string;
  pretty: boolean;
  preferReturn: PreferReturn | undefined;
  requestId: string;
}

function writeBody(res: Response, body: Resource | OperationOutcome, pretty: boolean): void {
  res.setHeader('Content-Type', FHIR_JSON);
  res.send(pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body));
}

/**
 * The one place that turns a FhirResult into HTTP (STYLE habit 2): status, ETag / Last-Modified /
 * Location (R4 http.html#versioning), and the `Prefer: return=` choice (R4 http.html#ops).
 */
export function sendResult(res: Response, result: FhirResult, options: ResponseOptions): void {
  res.status(result.status);
  res.setHeader('X-Request-Id', options.requestId);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  const version = result.version;
  if (version !== undefined) {
    res.setHeader('ETag', `W/"${version.versionId}"`);
    res.setHeader('Last-Modified', new Date(version.lastUpdated).toUTCString());
    if (result.location === true) {
      res.setHeader('Location', `${options.baseUrl}/${version.resourceType}/${version.id}/_history/${version.versionId}`);
    }
  }
  if (result.honoursPrefer === true) {
    if (options.preferReturn === 'minimal') {
      res.end();
      return;
    }
    if (options.preferReturn === 'OperationOutcome' && result.outcome !== undefined) {
      writeBody(res, result.outcome, options.pretty);
      return;
    }
  }
  if (result.json !== undefined && !options.pretty) {
    // Stored text passed through (FhirResult.json): the same bytes JSON.stringify would give.
    res.setHeader('Content-Type', FHIR_JSON);
    res.send(result.json);
    return;
  }
  if (result.resource === undefined) {
    res.end();
    return;
  }
  writeBody(res, result.resource, options.pretty);
}

/** Writes an error OperationOutcome (every error body is one; SPEC §5). */
export function sendOutcome(
  res: Response,
  status: number,
  outcome: OperationOutcome,
  headers: Readonly<Record<string, string>>,
  requestId: string,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status);
  res.setHeader('X-Request-Id', requestId);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  writeBody(res, outcome, false);
}
