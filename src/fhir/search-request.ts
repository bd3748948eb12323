import type { DateRange } from '../store/store';
import { badRequest } from './outcome';
import { isResourceType, RESOURCE_TYPES } from './resource-types';
import type { ResourceType } from './resource-types';
import { DEFAULT_COUNT, MAX_COUNT } from './param-values';
import { dateRange, normalizeString, referenceKey } from './search-index';
import { searchParameter, searchParameters } from './search-parameters';
import type { ReferenceParameter, SearchParameter } from './search-parameters';

/**
 * A search, parsed once (STYLE §5): every filter checked against the parameter table, values
 * typed but still plain strings/numbers — nothing here is an operator; store/query.ts alone
 * translates this into a store filter.
 */

export const DATE_PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
/** R4 search.html#prefix. */
export type DatePrefix = (typeof DATE_PREFIXES)[number];

export const TOTAL_MODES = ['none', 'estimate', 'accurate'] as const;
export type TotalMode = (typeof TOTAL_MODES)[number];

export const SUMMARY_MODES = ['true', 'text', 'data', 'count', 'false'] as const;
/** R4 search.html#summary (the same values as fhir/subsetting.ts). */
export type SummaryMode = (typeof SUMMARY_MODES)[number];

/**
 * One token value (R4 search.html#token): `code` → { code }; `system|code` → both;
 * `|code` → { system: '', code } (no system); `system|` → { system } (any code).
 */
export interface TokenQuery {
  system?: string;
  code?: string;
}

export interface DateQuery {
  prefix: DatePrefix;
  /** The range the value's precision implies; zoneless values are UTC. */
  range: DateRange;
}

export interface NumberQuery {
  prefix: DatePrefix;
  value: number;
}

/** `<code>:missing=true|false`, any type. */
export interface MissingFilter {
  kind: 'missing';
  code: string;
  missing: boolean;
}

/** `_id` (the document id, not an index entry). */
export interface IdFilter {
  kind: 'id';
  not: boolean;
  values: string[];
}

/** Token: plain (OR of values) or `:not` (none of the values; also matches a missing element). */
export interface TokenFilter {
  kind: 'token';
  code: string;
  not: boolean;
  values: TokenQuery[];
}

/** Token `:text`: normalised text, matched against display/text words. */
export interface TokenTextFilter {
  kind: 'token-text';
  code: string;
  values: string[];
}

/** String: default starts-with, `:contains`, `:exact`. Values are normalised except for `exact`. */
export interface StringFilter {
  kind: 'string';
  code: string;
  match: 'starts-with' | 'contains' | 'exact';
  values: string[];
}

/** Reference: index keys (`Type/id` or an absolute URL), any of which matches. */
export interface ReferenceFilter {
  kind: 'reference';
  code: string;
  values: string[];
}

export interface DateFilter {
  kind: 'date';
  code: string;
  values: DateQuery[];
}

export interface UriFilter {
  kind: 'uri';
  code: string;
  values: string[];
}

export interface NumberFilter {
  kind: 'number';
  code: string;
  values: NumberQuery[];
}

/** A filter the store can evaluate directly. */
export type ValueFilter =
  | MissingFilter
  | IdFilter
  | TokenFilter
  | TokenTextFilter
  | StringFilter
  | ReferenceFilter
  | DateFilter
  | UriFilter
  | NumberFilter;

/**
 * One level of chaining (R4 search.html#chaining): `schedule.actor=Practitioner/1`,
 * `actor:Practitioner.name=smith`. For each stored target type that has the chained parameter,
 * an inner search (`filter` on `resourceType`) yields ids; the chain then becomes a
 * ReferenceFilter on `code` with keys `resourceType/id` (store/query.ts `resolveChains`).
 */
export interface ChainFilter {
  kind: 'chain';
  code: string;
  targets: Array<{ resourceType: ResourceType; filter: ValueFilter }>;
}

export type SearchFilter = ValueFilter | ChainFilter;

export interface SortDirective {
  /** A parameter code of the type, `_id` or `_lastUpdated`. */
  code: string;
  descending: boolean;
}

/** `_include` / `_revinclude` = `Source:param(:Target)`, with `:iterate` (alias `:recurse`). */
export interface IncludeDirective {
  source: ResourceType;
  code: string;
  target?: string;
  iterate: boolean;
}

export interface SearchRequest<F extends SearchFilter = SearchFilter> {
  resourceType: ResourceType;
  /** All must match (repeated parameters are AND); each filter is an OR of its values. */
  filters: F[];
  sort: SortDirective[];
  /** Page size: default 50, at most 1000; 0 asks only for the total. */
  count: number;
  /** How many matches to skip (Kairos' paging cursor, `_offset`). */
  offset: number;
  total?: TotalMode;
  include: IncludeDirective[];
  revinclude: IncludeDirective[];
  summary?: SummaryMode;
  elements?: string[];
  /** The [name, value] pairs actually applied, in request order, for the Bundle's self link. */
  applied: Array<[string, string]>;
}

/** A SearchRequest whose chains were replaced by reference filters (store/query.ts `resolveChains`). */
export type ResolvedSearchRequest = SearchRequest<ValueFilter>;

export interface SearchOptions {
  /** `Prefer: handling=strict`: an unknown parameter is a 400 instead of being ignored. */
  strict: boolean;
  /** Our FHIR base (no trailing slash): absolute reference values under it are made relative. */
  baseUrl?: string;
}

const DATE_FORMAT = 'yyyy[-mm[-dd[Thh:mm[:ss[.sss]][Z|(+|-)hh:mm]]]]';
const TYPE_NAME = /^[A-Z][A-Za-z]+$/;

/** A parameter we do not know; ignored, or a 400 when strict. */
class UnknownParameter {
  constructor(readonly diagnostics: string) {}
}

// R4 search.html#escaping: `\,` `\|` `\$` `\\` escape the separators.
function splitUnescaped(value: string, separator: ',' | '|'): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '\\' && i + 1 < value.length) {
      current += c + value.charAt(i + 1);
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function unescape(value: string): string {
  return value.replace(/\\([\\,|$])/g, '$1');
}

/** The OR values of one parameter, escapes kept (token splitting still needs them); empty ones dropped. */
function orValues(value: string): string[] {
  return splitUnescaped(value, ',').filter((v) => v.length > 0);
}

function parseToken(name: string, raw: string): TokenQuery {
  const parts = splitUnescaped(raw, '|');
  if (parts.length === 1) return { code: unescape(raw) };
  if (parts.length !== 2) {
    throw badRequest(`Invalid token "${raw}" in search parameter "${name}": expected [system|]code`, undefined, 'value');
  }
  const system = unescape(parts[0] ?? '');
  const code = unescape(parts[1] ?? '');
  if (code === '') {
    if (system === '') throw badRequest(`Invalid token "|" in search parameter "${name}"`, undefined, 'value');
    return { system };
  }
  return { system, code };
}

function parsePrefix(name: string, raw: string): { prefix: DatePrefix; rest: string } {
  const m = /^([a-z]{2})(.*)$/.exec(raw);
  if (m === null) return { prefix: 'eq', rest: raw };
  const prefix = DATE_PREFIXES.find((p) => p === m[1]);
  if (prefix === undefined) {
    throw badRequest(
      `Unknown prefix "${m[1] ?? ''}" in search parameter "${name}": expected one of ${DATE_PREFIXES.join(', ')}`,
      undefined,
      'value',
    );
  }
  return { prefix, rest: m[2] ?? '' };
}

function parseDate(name: string, raw: string): DateQuery {
  const { prefix, rest } = parsePrefix(name, raw);
  // An unencoded `+` in a query string arrives as a space: `T10:00:00 02:00` meant `+02:00`.
  const text = unescape(rest).replace(/ (\d{2}:\d{2})$/, '+$1');
  const range = dateRange(text);
  if (range === undefined) {
    throw badRequest(`Invalid date "${rest}" in search parameter "${name}": expected ${DATE_FORMAT}`, undefined, 'value');
  }
  return { prefix, range };
}

function parseNumber(name: string, raw: string): NumberQuery {
  const { prefix, rest } = parsePrefix(name, raw);
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(rest)) {
    throw badRequest(`Invalid number "${rest}" in search parameter "${name}"`, undefined, 'value');
  }
  return { prefix, value: Number(rest) };
}

function parseReference(
  name: string,
  param: ReferenceParameter,
  typeModifier: string | undefined,
  raw: string,
  baseUrl: string | undefined,
): string[] {
  const value = unescape(raw);
  if (value.includes(':') || value.includes('/')) {
    const key = referenceKey(value, baseUrl);
    if (key === undefined) {
      throw badRequest(`Invalid reference "${value}" in search parameter "${name}"`, undefined, 'value');
    }
    if (typeModifier !== undefined && !key.includes(':') && !key.startsWith(`${typeModifier}/`)) {
      throw badRequest(`Reference "${value}" in search parameter "${name}" is not a ${typeModifier}`, undefined, 'value');
    }
    return [key];
  }
  // R4 search.html#reference: a bare id is allowed when the type is known.
  if (typeModifier !== undefined) return [`${typeModifier}/${value}`];
  if (param.targets === undefined) {
    throw badRequest(
      `Search parameter "${name}" can refer to any type: give the reference as Type/id, not "${value}"`,
      undefined,
      'value',
    );
  }
  return param.targets.map((t) => `${t}/${value}`);
}

function unknownModifier(name: string, modifier: string): never {
  throw badRequest(`Unknown modifier ":${modifier}" in search parameter "${name}"`);
}

/** Parses one (non-chained) parameter occurrence `name` = `code[:modifier]` into a filter. */
function parseFilter(
  name: string,
  param: SearchParameter,
  modifier: string | undefined,
  value: string,
  options: SearchOptions,
): ValueFilter {
  const code = param.code;
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') {
      throw badRequest(`Invalid value "${value}" for "${name}": expected true or false`, undefined, 'value');
    }
    return { kind: 'missing', code, missing: value === 'true' };
  }
  const values = orValues(value);
  if (values.length === 0) throw badRequest(`Search parameter "${name}" has no value`, undefined, 'value');
  switch (param.type) {
    case 'token': {
      if (code === '_id') {
        if (modifier !== undefined && modifier !== 'not') unknownModifier(name, modifier);
        return { kind: 'id', not: modifier === 'not', values: values.map(unescape) };
      }
      if (modifier === 'text') return { kind: 'token-text', code, values: values.map((v) => normalizeString(unescape(v))) };
      if (modifier !== undefined && modifier !== 'not') unknownModifier(name, modifier);
      return { kind: 'token', code, not: modifier === 'not', values: values.map((v) => parseToken(name, v)) };
    }
    case 'string': {
      if (modifier === 'exact') return { kind: 'string', code, match: 'exact', values: values.map(unescape) };
      if (modifier !== undefined && modifier !== 'contains') unknownModifier(name, modifier);
      return {
        kind: 'string',
        code,
        match: modifier === 'contains' ? 'contains' : 'starts-with',
        values: values.map((v) => normalizeString(unescape(v))),
      };
    }
    case 'reference': {
      if (modifier !== undefined && !(TYPE_NAME.test(modifier) && (param.targets?.includes(modifier) ?? true))) {
        unknownModifier(name, modifier);
      }
      const keys: string[] = [];
      for (const v of values) for (const key of parseReference(name, param, modifier, v, options.baseUrl)) keys.push(key);
      return { kind: 'reference', code, values: keys };
    }
    case 'date': {
      if (modifier !== undefined) unknownModifier(name, modifier);
      return { kind: 'date', code, values: values.map((v) => parseDate(name, v)) };
    }
    case 'uri': {
      if (modifier !== undefined) unknownModifier(name, modifier);
      return { kind: 'uri', code, values: values.map(unescape) };
    }
    case 'number': {
      if (modifier !== undefined) unknownModifier(name, modifier);
      return { kind: 'number', code, values: values.map((v) => parseNumber(name, v)) };
    }
  }
}

function splitModifier(name: string): { code: string; modifier: string | undefined } {
  const colon = name.indexOf(':');
  if (colon === -1) return { code: name, modifier: undefined };
  return { code: name.slice(0, colon), modifier: name.slice(colon + 1) };
}

function parseChain(type: ResourceType, name: string, value: string, options: SearchOptions): ChainFilter {
  const dot = name.indexOf('.');
  const { code, modifier } = splitModifier(name.slice(0, dot));
  const chained = name.slice(dot + 1);
  const param = searchParameter(type, code);
  if (param === undefined) throw new UnknownParameter(`Unknown search parameter "${code}" for ${type}`);
  if (param.type !== 'reference') throw badRequest(`Search parameter "${code}" is not a reference; "${name}" cannot chain`);
  if (chained.includes('.')) {
    throw badRequest(`Chained parameter "${name}": Kairos supports one level of chaining`, undefined, 'not-supported');
  }
  if (modifier !== undefined && !(TYPE_NAME.test(modifier) && (param.targets?.includes(modifier) ?? true))) {
    unknownModifier(name, modifier);
  }
  const candidates: readonly string[] = modifier !== undefined ? [modifier] : (param.targets ?? RESOURCE_TYPES);
  const stored = candidates.filter(isResourceType);
  const inner = splitModifier(chained);
  const targets: ChainFilter['targets'] = [];
  for (const target of stored) {
    const innerParam = searchParameter(target, inner.code);
    if (innerParam !== undefined) {
      targets.push({ resourceType: target, filter: parseFilter(name, innerParam, inner.modifier, value, options) });
    }
  }
  if (targets.length === 0) {
    const types = candidates.join(' or ');
    throw new UnknownParameter(`Chained parameter "${name}": no ${types} search parameter "${inner.code}"`);
  }
  return { kind: 'chain', code, targets };
}

function parseSort(type: ResourceType, value: string): SortDirective[] {
  const sort: SortDirective[] = [];
  for (const item of value.split(',')) {
    const text = item.trim();
    if (text === '') continue;
    const descending = text.startsWith('-');
    const code = descending ? text.slice(1) : text;
    if (searchParameter(type, code) === undefined) {
      throw badRequest(`Unknown _sort parameter "${code}" for ${type}`);
    }
    sort.push({ code, descending });
  }
  return sort;
}

function parseWholeNumber(name: string, value: string): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw badRequest(`Invalid ${name} "${value}": expected a whole number from 0`, undefined, 'value');
  }
  return Number(value);
}

function parseInclude(
  type: ResourceType,
  name: string,
  value: string,
  reverse: boolean,
  iterate: boolean,
): IncludeDirective[] {
  const bad = (why: string): never => {
    throw badRequest(`Invalid ${name} "${value}": ${why}`, undefined, 'value');
  };
  // R4 search.html#include: `_include=*` includes every reference of the matches.
  if (value === '*' && !reverse) {
    return searchParameters(type)
      .filter((p) => p.type === 'reference')
      .map((p) => ({ source: type, code: p.code, iterate }));
  }
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) return bad('expected SourceType:parameter[:TargetType]');
  const [source = '', code = '', target] = parts;
  if (!TYPE_NAME.test(source)) return bad(`"${source}" is not a resource type`);
  if (!isResourceType(source)) throw new UnknownParameter(`${name} "${value}": Kairos does not store ${source}`);
  if (!reverse && !iterate && source !== type) return bad(`the source type must be ${type} (or use ${name}:iterate)`);
  const param = searchParameter(source, code);
  if (param?.type !== 'reference') return bad(`${source} has no reference search parameter "${code}"`);
  const targets = param.targets;
  if (target !== undefined && (!TYPE_NAME.test(target) || (targets !== undefined && !targets.includes(target)))) {
    return bad(`"${target}" is not a target of ${source}:${code}`);
  }
  if (reverse && !iterate && targets !== undefined && !targets.includes(type)) {
    return bad(`${source}:${code} does not refer to ${type}`);
  }
  const directive: IncludeDirective = { source, code, iterate };
  if (target !== undefined) directive.target = target;
  return [directive];
}

/** Result parameters the HTTP layer honours (R4 http.html#general). */
const HTTP_PARAMETERS: ReadonlySet<string> = new Set(['_format', '_pretty']);
/** Result parameters that take one value: a repeat replaces the earlier one, also in `applied`. */
const SINGLE_VALUED: ReadonlySet<string> = new Set([
  '_sort',
  '_count',
  '_offset',
  '_total',
  '_summary',
  '_format',
  '_pretty',
]);

/**
 * Parses search parameters (R4 search.html) for `resourceType`. Repeated parameters are AND,
 * comma-separated values OR. Empty values are ignored. Unknown parameters are ignored (and left
 * out of `applied`) unless `options.strict`. Errors are 400 FhirErrors naming the parameter.
 */
export function parseSearchRequest(
  resourceType: ResourceType,
  params: ReadonlyArray<readonly [string, string]>,
  options: SearchOptions,
): SearchRequest {
  const request: SearchRequest = {
    resourceType,
    filters: [],
    sort: [],
    count: DEFAULT_COUNT,
    offset: 0,
    include: [],
    revinclude: [],
    applied: [],
  };
  for (const [name, value] of params) {
    if (value === '') continue;
    try {
      let applied = value;
      const { code: base, modifier } = splitModifier(name);
      if (base === '_include' || base === '_revinclude') {
        if (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse') unknownModifier(name, modifier);
        const reverse = base === '_revinclude';
        const directives = parseInclude(resourceType, name, value, reverse, modifier !== undefined);
        (reverse ? request.revinclude : request.include).push(...directives);
      } else if (name === '_sort') {
        request.sort = parseSort(resourceType, value);
      } else if (name === '_count') {
        // R4 search.html#count: the server may return fewer than asked.
        request.count = Math.min(parseWholeNumber(name, value), MAX_COUNT);
        applied = String(request.count);
      } else if (name === '_offset') {
        request.offset = parseWholeNumber(name, value);
      } else if (name === '_total') {
        const total = TOTAL_MODES.find((t) => t === value);
        if (total === undefined) {
          throw badRequest(`Invalid _total "${value}": expected one of ${TOTAL_MODES.join(', ')}`, undefined, 'value');
        }
        request.total = total;
      } else if (name === '_summary') {
        const summary = SUMMARY_MODES.find((m) => m === value);
        if (summary === undefined) {
          throw badRequest(`Invalid _summary "${value}": expected one of ${SUMMARY_MODES.join(', ')}`, undefined, 'value');
        }
        request.summary = summary;
      } else if (name === '_elements') {
        const elements = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
        request.elements = [...(request.elements ?? []), ...elements];
      } else if (HTTP_PARAMETERS.has(name)) {
        // Honoured by the HTTP layer; listed in `applied` because they do take effect.
      } else if (name.includes('.')) {
        request.filters.push(parseChain(resourceType, name, value, options));
      } else {
        const param = searchParameter(resourceType, base);
        if (param === undefined) throw new UnknownParameter(`Unknown search parameter "${base}" for ${resourceType}`);
        request.filters.push(parseFilter(name, param, modifier, value, options));
      }
      if (SINGLE_VALUED.has(name)) request.applied = request.applied.filter(([n]) => n !== name);
      request.applied.push([name, applied]);
    } catch (e) {
      if (!(e instanceof UnknownParameter)) throw e;
      if (options.strict) throw badRequest(`${e.diagnostics} (Prefer: handling=strict)`);
    }
  }
  return request;
}
