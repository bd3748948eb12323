import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

/** R4 IssueType codes Kairos emits (valueset-issue-type). */
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'multiple-matches'
  | 'not-found'
  | 'deleted'
  | 'too-long'
  | 'too-costly'
  | 'business-rule'
  | 'conflict'
  | 'throttled'
  | 'exception'
  | 'timeout'
  | 'informational';

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

export interface IssueInput {
  code: IssueCode;
  diagnostics: string;
  severity?: IssueSeverity;
  /** FHIRPath of the offending element, e.g. `Slot.start` or `Bundle.entry[2].resource`. */
  expression?: string[];
}

/** Builds an OperationOutcome from one or more issues. */
export function operationOutcome(...issues: IssueInput[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i): OperationOutcomeIssue => {
      const issue: OperationOutcomeIssue = {
        severity: i.severity ?? 'error',
        code: i.code,
        diagnostics: i.diagnostics,
      };
      if (i.expression && i.expression.length > 0) issue.expression = i.expression;
      return issue;
    }),
  };
}

/**
 * The one error type of Kairos. Thrown anywhere, mapped to HTTP once at the edge
 * (http/respond.ts). `status` is explicit because the same issue code can mean several statuses
 * (R4 http.html: `invalid` is 400 for syntax but 422 for a profile failure).
 */
export class FhirError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  /** Extra response headers, e.g. WWW-Authenticate on a 401 or Allow on a 405. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, outcome: OperationOutcome, headers: Record<string, string> = {}) {
    super(outcome.issue[0]?.diagnostics ?? `HTTP ${status}`);
    this.name = 'FhirError';
    this.status = status;
    this.outcome = outcome;
    this.headers = headers;
  }
}

export function isFhirError(e: unknown): e is FhirError {
  return e instanceof FhirError;
}

function error(status: number, code: IssueCode, diagnostics: string, expression?: string[]): FhirError {
  return new FhirError(status, operationOutcome({ code, diagnostics, expression }));
}

// Outcome factories, named after what happened (STYLE: nouns). Statuses per SPEC §5.

/** 400: unparseable or structurally wrong input, a bad search value. */
export const badRequest = (diagnostics: string, expression?: string[], code: IssueCode = 'invalid'): FhirError =>
  error(400, code, diagnostics, expression);
/** 400 with issue code `structure`. */
export const structureError = (diagnostics: string, expression?: string[]): FhirError =>
  error(400, 'structure', diagnostics, expression);
/** 422: fails the schema, a profile, or an invariant. */
export const unprocessable = (diagnostics: string, expression?: string[], code: IssueCode = 'invalid'): FhirError =>
  error(422, code, diagnostics, expression);
/** 422 `business-rule`: a scheduling policy or lifecycle rule refuses the change. */
export const businessRule = (diagnostics: string, expression?: string[]): FhirError =>
  error(422, 'business-rule', diagnostics, expression);
export const notFound = (diagnostics: string): FhirError => error(404, 'not-found', diagnostics);
export const gone = (diagnostics: string): FhirError => error(410, 'deleted', diagnostics);
/** 409: a booking conflict (the slot or actor is taken) or another concurrent-change conflict. */
export const conflict = (diagnostics: string, expression?: string[]): FhirError =>
  error(409, 'conflict', diagnostics, expression);
/** 412: If-Match mismatch, or a conditional interaction that matched more than one resource. */
export const preconditionFailed = (diagnostics: string, code: IssueCode = 'conflict'): FhirError =>
  error(412, code, diagnostics);
export const methodNotAllowed = (diagnostics: string, allow: string[]): FhirError =>
  new FhirError(405, operationOutcome({ code: 'not-supported', diagnostics }), { Allow: allow.join(', ') });
export const notAcceptable = (diagnostics: string): FhirError => error(406, 'not-supported', diagnostics);
export const unsupportedMediaType = (diagnostics: string): FhirError => error(415, 'not-supported', diagnostics);
export const tooLarge = (diagnostics: string): FhirError => error(413, 'too-long', diagnostics);
export const unauthorized = (diagnostics: string, wwwAuthenticate: string): FhirError =>
  new FhirError(401, operationOutcome({ code: 'login', diagnostics }), { 'WWW-Authenticate': wwwAuthenticate });
export const forbidden = (diagnostics: string): FhirError => error(403, 'forbidden', diagnostics);
export const tooManyRequests = (diagnostics: string, retryAfterSeconds: number): FhirError =>
  new FhirError(429, operationOutcome({ code: 'throttled', diagnostics }), { 'Retry-After': String(retryAfterSeconds) });
/** 500: never carries internals; the request id lets an operator find the logged cause. */
export const internalError = (requestId: string): FhirError =>
  error(500, 'exception', `An unexpected error occurred; it was logged with request id ${requestId}.`);

/** An informational outcome, for `Prefer: return=OperationOutcome` and delete responses. */
export function informational(diagnostics: string): OperationOutcome {
  return operationOutcome({ code: 'informational', severity: 'information', diagnostics });
}
