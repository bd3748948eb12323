import type { OperationDefinition, OperationDefinitionParameter, Parameters, ParametersParameter, Resource } from 'fhir/r4';
import { badRequest } from '../fhir/outcome';
import type { FhirRequest } from '../interactions/fhir-request';

/** One operation input value: a string (query or primitive value[x]), a Reference or a resource. */
export type OperationValue = { kind: 'string'; value: string } | { kind: 'resource'; resource: Resource };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The primitive value of a `value[x]` as text, or a Reference's `reference`. */
function parameterText(p: ParametersParameter): string | undefined {
  for (const [key, value] of Object.entries(p)) {
    if (!key.startsWith('value')) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (isObject(value) && typeof value['reference'] === 'string') return value['reference'];
    if (isObject(value) && Array.isArray(value['coding'])) {
      const first: unknown = value['coding'][0];
      if (isObject(first) && typeof first['code'] === 'string') {
        return typeof first['system'] === 'string' ? `${first['system']}|${first['code']}` : first['code'];
      }
    }
    if (isObject(value) && typeof value['code'] === 'string') {
      return typeof value['system'] === 'string' ? `${value['system']}|${value['code']}` : value['code'];
    }
  }
  return undefined;
}

/**
 * An operation's inputs, from a `Parameters` body (POST) or the query string (GET; R4
 * operations.html#request). Every name is checked against the OperationDefinition's `in`
 * parameters: an unknown one is a 400, so a typo never silently widens a search.
 */
export class OperationInput {
  private constructor(private readonly values: ReadonlyMap<string, readonly OperationValue[]>) {}

  static from(req: FhirRequest, definition: OperationDefinition): OperationInput {
    const known = new Map<string, OperationDefinitionParameter>();
    for (const p of definition.parameter ?? []) if (p.use === 'in') known.set(p.name, p);
    const values = new Map<string, OperationValue[]>();
    const add = (name: string, value: OperationValue): void => {
      if (!known.has(name)) throw badRequest(`Unknown parameter "${name}" for $${definition.code}`, [`Parameters.parameter`], 'not-supported');
      values.set(name, [...(values.get(name) ?? []), value]);
    };
    for (const [name, value] of req.query) {
      if (name === '_format' || name === '_pretty') continue;
      if (name === '_count' && !known.has('_count')) continue;
      add(name, { kind: 'string', value });
    }
    const body = req.body;
    if (body !== undefined) {
      if (!isObject(body) || body['resourceType'] !== 'Parameters') {
        throw badRequest(`$${definition.code} takes a Parameters resource as its body`, undefined, 'structure');
      }
      const parameters = (body as unknown as Parameters).parameter ?? [];
      if (!Array.isArray(parameters)) throw badRequest('Parameters.parameter must be an array', ['Parameters.parameter'], 'structure');
      for (const [i, p] of parameters.entries()) {
        if (!isObject(p) || typeof p.name !== 'string') throw badRequest(`Parameters.parameter[${i}] needs a name`, [`Parameters.parameter[${i}]`], 'structure');
        if (p.resource !== undefined) {
          if (!isObject(p.resource)) throw badRequest(`Parameters.parameter[${i}].resource must be a resource`, undefined, 'structure');
          add(p.name, { kind: 'resource', resource: p.resource });
          continue;
        }
        const text = parameterText(p);
        if (text === undefined) throw badRequest(`Parameters.parameter[${i}] (${p.name}) has no usable value`, [`Parameters.parameter[${i}]`], 'value');
        add(p.name, { kind: 'string', value: text });
      }
    }
    for (const [name, p] of known) {
      const count = values.get(name)?.length ?? 0;
      if (count < p.min) throw badRequest(`$${definition.code} needs the parameter "${name}"`, [`Parameters.parameter`], 'required');
      if (p.max !== '*' && count > Number(p.max)) {
        throw badRequest(`$${definition.code} takes "${name}" at most ${p.max} time(s)`, [`Parameters.parameter`], 'value');
      }
    }
    return new OperationInput(values);
  }

  strings(name: string): string[] {
    return (this.values.get(name) ?? []).flatMap((v) => (v.kind === 'string' ? v.value.split(',').filter((s) => s !== '') : []));
  }

  string(name: string): string | undefined {
    const [first] = this.strings(name);
    return first;
  }

  resource(name: string): Resource | undefined {
    for (const v of this.values.get(name) ?? []) if (v.kind === 'resource') return v.resource;
    return undefined;
  }
}

/** Builds one `in`/`out` parameter definition (R4 OperationDefinition.parameter). */
export function param(
  name: string,
  use: 'in' | 'out',
  min: number,
  max: string,
  type: NonNullable<OperationDefinitionParameter['type']>,
  documentation: string,
): OperationDefinitionParameter {
  return { name, use, min, max, type, documentation };
}
