import { RESOURCE_TYPES } from './resource-types';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ErrorObject } from 'ajv';
import { FhirError, operationOutcome } from './outcome';
import { checkRepresentation, checkResourceRules } from './validation-rules';
import type { ValidationIssue } from './validation-rules';

/**
 * Resource validation: the R4 4.0.1 JSON Schema (ajv standalone code generated at build time by
 * scripts/generate-validator.js) followed by the rule layer (validation-rules.ts).
 *
 * Status and issue code per problem (SPEC §5):
 *  - not an object, no/unknown resourceType, wrong resourceType for the endpoint → 400 `structure`/`invalid`
 *  - unknown element, wrong JSON type, nesting too deep                           → 400 `structure`
 *  - missing required element                                                     → 422 `required`
 *  - bad code, bad date/number format, out-of-range integer, bad reference target → 422 `invalid`
 *  - invariant (ele-1, app-1..4, start < end, dom-2..5, …)                        → 422 `invariant`
 * One outcome carries every issue found; the status is 400 if any issue is a 400 one, else 422.
 */

/** The types the generated module exports a validator for. */
export const VALIDATED_TYPES = [...RESOURCE_TYPES, 'Bundle', 'Parameters', 'OperationOutcome'] as const;
export type ValidatedType = (typeof VALIDATED_TYPES)[number];

const validatedTypes: ReadonlySet<string> = new Set(VALIDATED_TYPES);
export function isValidatedType(value: string): value is ValidatedType {
  return validatedTypes.has(value);
}

/** An ajv standalone validate function. */
interface SchemaValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
type SchemaValidators = Readonly<Record<ValidatedType, SchemaValidator>>;

const GENERATED_MODULE = path.join('generated', 'fhir-validator.js');
/** Far deeper than any real resource; stops hostile input before the recursive schema code sees it. */
const MAX_DEPTH = 100;

let validators: SchemaValidators | undefined;

/**
 * Loads the generated schema module (~0.2 s, once). Validation loads it on first use; call this at
 * start-up to pay that cost early and to fail fast when `npm run generate` has not run.
 */
export function loadSchemaValidators(): void {
  if (validators !== undefined) return;
  const file = findGeneratedModule();
  // Generated JavaScript outside src/: a static import would resolve differently from dist/src/ (the
  // compiled server) and from src/ (ts-jest), so it is found on disk and required by path.
  const loaded: unknown = require(file);
  if (!isSchemaValidators(loaded)) {
    throw new Error(`${file} does not export a validator for every type; run npm run generate`);
  }
  validators = loaded;
}

function findGeneratedModule(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, GENERATED_MODULE);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(`${GENERATED_MODULE} not found above ${__dirname}; run npm run generate`);
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSchemaValidators(value: unknown): value is SchemaValidators {
  return isJsonObject(value) && VALIDATED_TYPES.every((t) => typeof value[t] === 'function');
}

export interface ValidationOptions {
  /** The type the endpoint expects (`PUT /Slot/1` → `Slot`); another resourceType is a 400. */
  expectedType?: string;
}

/**
 * Checks a parsed JSON body against R4 and the rule layer; returns when it is valid, throws a
 * FhirError (400 or 422) whose OperationOutcome lists every issue otherwise.
 */
export function validateResource(resource: unknown, options: ValidationOptions = {}): void {
  const { type, body } = checkEnvelope(resource, options.expectedType);
  const representationIssues: ValidationIssue[] = [];
  if (!checkRepresentation(body, type, MAX_DEPTH, representationIssues)) {
    throw fail([
      {
        status: 400,
        code: 'structure',
        diagnostics: `The resource is nested more than ${MAX_DEPTH} levels deep`,
        expression: type,
      },
    ]);
  }
  loadSchemaValidators();
  const validate = validators?.[type];
  if (validate === undefined) throw new Error('schema validators not loaded');
  const issues: ValidationIssue[] = [];
  if (!validate(body)) {
    for (const error of validate.errors ?? []) {
      const issue = schemaIssue(error, body, type);
      if (issue !== undefined) issues.push(issue);
    }
  }
  issues.push(...representationIssues, ...checkResourceRules(body, type));
  if (issues.length > 0) throw fail(dedupe(issues));
}

/** The top-level checks; narrows the input to a JSON object of a validated type. */
function checkEnvelope(
  resource: unknown,
  expectedType: string | undefined,
): { type: ValidatedType; body: Record<string, unknown> } {
  if (!isJsonObject(resource)) {
    const found = resource === null ? 'null' : Array.isArray(resource) ? 'an array' : `a ${typeof resource}`;
    const diagnostics = `A resource must be a JSON object, not ${found}`;
    throw fail([{ status: 400, code: 'structure', diagnostics, expression: '' }]);
  }
  const body = resource;
  const type = body.resourceType;
  if (typeof type !== 'string' || type === '') {
    throw fail([
      { status: 400, code: 'structure', diagnostics: 'The resource has no resourceType', expression: 'resourceType' },
    ]);
  }
  if (expectedType !== undefined && type !== expectedType) {
    throw fail([
      {
        status: 400,
        code: 'invalid',
        diagnostics: `Expected a ${expectedType} resource but found ${describe(type)}`,
        expression: 'resourceType',
      },
    ]);
  }
  if (!isValidatedType(type)) {
    throw fail([
      {
        status: 400,
        code: 'invalid',
        diagnostics: `Unknown or unsupported resourceType ${describe(type)}`,
        expression: 'resourceType',
      },
    ]);
  }
  return { type, body };
}

function fail(issues: ValidationIssue[]): FhirError {
  const status = issues.some((i) => i.status === 400) ? 400 : 422;
  return new FhirError(
    status,
    operationOutcome(
      ...issues.map((i) => ({
        code: i.code,
        diagnostics: i.diagnostics,
        expression: i.expression === '' ? undefined : [i.expression],
      })),
    ),
  );
}

/** The schema and the rule layer both know some required elements; report each once. */
function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.code}|${i.expression}`;
    if (i.code === 'required' && seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function decodePointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(root: unknown, segments: readonly string[]): unknown {
  let node = root;
  for (const segment of segments) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** `/participant/0/_status` → `Appointment.participant[0].status` (R4 json.html: `_x` carries x's id/extensions). */
function toFhirPath(type: string, segments: readonly string[]): string {
  let expression = type;
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) expression += `[${segment}]`;
    else expression += `.${segment.startsWith('_') ? segment.slice(1) : segment}`;
  }
  return expression;
}

/** R4 datatypes.html formats, for messages about pattern failures. */
const FORMAT_HINTS: Readonly<Record<string, string>> = {
  instant: 'an instant needs a date, a time with seconds and a timezone, e.g. 2025-01-06T09:00:00Z',
  dateTime: 'a dateTime is YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a timezone',
  date: 'a date is YYYY, YYYY-MM or YYYY-MM-DD',
  time: 'a time is hh:mm:ss',
  id: 'an id is 1-64 characters of A-Z, a-z, 0-9, - and .',
};

function schemaIssue(error: ErrorObject, resource: object, type: string): ValidationIssue | undefined {
  const segments = decodePointer(error.instancePath);
  const value = valueAt(resource, segments);
  const at = toFhirPath(type, segments);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      return {
        status: 400,
        code: 'structure',
        diagnostics: `Unknown element '${name}' in ${at}`,
        expression: toFhirPath(type, [...segments, name]),
      };
    }
    case 'required': {
      const name = String(params.missingProperty);
      return {
        status: 422,
        code: 'required',
        diagnostics: `Missing required element '${name}' in ${at}`,
        expression: toFhirPath(type, [...segments, name]),
      };
    }
    case 'discriminator':
      return {
        status: 400,
        code: 'structure',
        diagnostics:
          params.error === 'mapping'
            ? `Unknown resourceType ${describe(params.tagValue)} at ${at}`
            : `The resource at ${at} has no resourceType`,
        expression: `${at}.resourceType`,
      };
    case 'type': {
      // An integer datatype given a fraction is a bad value, not a bad shape.
      const expected = String(params.type);
      const badNumber = expected === 'integer' && typeof value === 'number';
      return {
        status: badNumber ? 422 : 400,
        code: badNumber ? 'invalid' : 'structure',
        diagnostics: `${at} must be ${expected === 'array' ? 'an array' : `a JSON ${expected}`}, found ${describe(value)}`,
        expression: at,
      };
    }
    case 'enum':
    case 'pattern':
    case 'const': {
      // The rule layer reports empty strings once, as ele-1.
      if (value === '') return undefined;
      const datatype = /#\/definitions\/([A-Za-z]+)\/pattern$/.exec(error.schemaPath)?.[1];
      const hint = datatype === undefined ? undefined : FORMAT_HINTS[datatype];
      let detail: string;
      if (error.keyword === 'enum') {
        const allowed = Array.isArray(params.allowedValues) ? params.allowedValues.map(String).join(' | ') : '';
        detail = `is not one of ${allowed}`;
      } else if (error.keyword === 'const') {
        detail = `must be ${describe(params.allowedValue)}`;
      } else {
        detail = `is not a valid ${datatype ?? 'value for this element'}${hint === undefined ? '' : ` (${hint})`}`;
      }
      return { status: 422, code: 'invalid', diagnostics: `${at}: ${describe(value)} ${detail}`, expression: at };
    }
    case 'minimum':
    case 'maximum':
      return {
        status: 422,
        code: 'invalid',
        diagnostics: `${at}: ${describe(value)} is out of range (${error.message ?? ''})`,
        expression: at,
      };
    default:
      return { status: 422, code: 'invalid', diagnostics: `${at} ${error.message ?? 'is invalid'}`, expression: at };
  }
}
