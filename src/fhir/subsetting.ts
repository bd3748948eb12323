import type { Coding, Resource } from 'fhir/r4';
import { ELEMENT_TABLE } from './element-table';
import { badRequest } from './outcome';
import { isResourceType } from './resource-types';

/** R4 search.html#summary: the `_summary` values. */
export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

export interface Subsetting {
  summary?: SummaryMode;
  /** `_elements`: top-level element names to keep. */
  elements?: readonly string[];
}

const SUMMARY_MODES: readonly SummaryMode[] = ['true', 'text', 'data', 'count', 'false'];

/** R4 v3 ObservationValue SUBSETTED: marks a resource that was cut down on request. */
const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'Resource content has been reduced',
};

/** Reads `_summary` and `_elements` from request parameters (the last value wins for `_summary`). */
export function parseSubsetting(query: ReadonlyArray<readonly [string, string]>): Subsetting {
  const result: Subsetting = {};
  for (const [name, value] of query) {
    if (name === '_summary') {
      const mode = SUMMARY_MODES.find((m) => m === value);
      if (mode === undefined) {
        throw badRequest(`Invalid _summary value "${value}": expected one of ${SUMMARY_MODES.join(', ')}`, undefined, 'value');
      }
      result.summary = mode;
    } else if (name === '_elements') {
      const names = value
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n.length > 0);
      // An empty `_elements=` asks for nothing in particular (as search ignores empty values).
      if (names.length > 0) result.elements = [...(result.elements ?? []), ...names];
    }
  }
  return result;
}

/** Whether `applySubsetting` returns resources unchanged (nothing asked, `_summary=false`, or `count`, which drops entries instead). */
export function keepsEverything(subsetting: Subsetting): boolean {
  const { summary, elements } = subsetting;
  return (summary === undefined || summary === 'false' || summary === 'count') && elements === undefined;
}

function matchesElement(key: string, names: ReadonlySet<string>): boolean {
  if (names.has(key)) return true;
  // Choice types: `deceased` keeps `deceasedBoolean` (R4 json.html#choice).
  for (const name of names) {
    if (key.length > name.length && key.startsWith(name) && /^[A-Z]/.test(key.slice(name.length))) return true;
  }
  return false;
}

/**
 * Applies `_summary` / `_elements` to one resource (R4 search.html#summary, #elements). Mandatory
 * and modifier elements are always kept; a reduced resource is tagged SUBSETTED. Returns the
 * resource unchanged when nothing is asked.
 */
export function applySubsetting<R extends Resource>(resource: R, subsetting: Subsetting): R {
  const { summary, elements } = subsetting;
  if (keepsEverything(subsetting)) return resource;
  const always = new Set(['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension']);
  const type = resource.resourceType;
  const table = isResourceType(type) ? ELEMENT_TABLE[type] : undefined;
  let keep: ((key: string) => boolean) | undefined;
  if (summary === 'true') {
    const names = new Set([...always, ...(table?.summary ?? []), ...(table?.mandatory ?? [])]);
    keep = (key) => matchesElement(key, names);
  } else if (summary === 'text') {
    const names = new Set([...always, 'text', ...(table?.mandatory ?? [])]);
    keep = (key) => matchesElement(key, names);
  } else if (summary === 'data') {
    keep = (key) => key !== 'text';
  } else if (elements !== undefined) {
    const names = new Set([...always, ...elements, ...(table?.mandatory ?? [])]);
    keep = (key) => matchesElement(key, names);
  }
  if (keep === undefined) return resource;
  const reduced: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (keep(key)) reduced[key] = value;
  }
  const meta = resource.meta ?? {};
  reduced['meta'] = { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] };
  // The reduced object keeps every key of R it was given but may lack required ones: that is what
  // SUBSETTED announces to the client.
  return reduced as R;
}
