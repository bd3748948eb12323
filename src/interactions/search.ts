import { bundleJson, pagingLinks } from '../fhir/bundle';
import type { EntryText } from '../fhir/bundle';
import { badRequest } from '../fhir/outcome';
import { parseQueryPairs } from '../fhir/query-string';
import type { ResourceType } from '../fhir/resource-types';
import { isResourceType } from '../fhir/resource-types';
import type { IncludeDirective, SearchRequest } from '../fhir/search-request';
import { parseSearchRequest } from '../fhir/search-request';
import { applySubsetting, keepsEverything } from '../fhir/subsetting';
import type { FindIds } from '../store/query';
import { resolveChains, toStoreQuery } from '../store/query';
import type { ResourceDocument, StoreReader } from '../store/store';
import { assertSearchAllowed, canSee, canSeeType } from './access';
import type { ServerContext } from './context';
import { jsonResult } from './fhir-request';
import type { FhirRequest, FhirResult } from './fhir-request';

/** Issue: `_include` fan-out is capped so one search cannot pull the whole store. */
export const MAX_INCLUDED = 1000;

function findIdsWith(reader: StoreReader): FindIds {
  return async (resourceType, query) => {
    const { documents } = await reader.find(resourceType, query);
    return documents.map((d) => d._id);
  };
}

/** The criteria of `If-None-Exist` or a conditional reference: `a=b&c=d`, with or without `Type?`/`?`. */
export function parseCriteria(criteria: string): Array<readonly [string, string]> {
  const q = criteria.indexOf('?');
  return parseQueryPairs(q < 0 ? criteria : criteria.slice(q + 1));
}

/**
 * The current resources matching conditional-interaction criteria (R4 http.html#ccreate). Unknown
 * parameters are an error here, not ignored: ignoring one would widen the match.
 */
export async function matchCriteria(
  reader: StoreReader,
  resourceType: ResourceType,
  criteria: ReadonlyArray<readonly [string, string]>,
  limit: number,
): Promise<ResourceDocument[]> {
  const now = Date.now();
  const parsed = parseSearchRequest(resourceType, criteria, { strict: true });
  if (parsed.filters.length === 0) throw badRequest('Conditional criteria must contain at least one search parameter');
  const request = await resolveChains({ ...parsed, count: limit, offset: 0, total: 'none', sort: [] }, findIdsWith(reader), now);
  const { documents } = await reader.find(resourceType, toStoreQuery(request, now));
  return documents;
}

/** Collects the `Type/id` keys a document's reference parameter points at. */
function referencedKeys(document: ResourceDocument, code: string, target: string | undefined): string[] {
  const values = document.s[code] ?? [];
  const keys: string[] = [];
  for (const value of values) {
    if (typeof value !== 'string') continue;
    const slash = value.indexOf('/');
    if (slash <= 0 || value.includes('://')) continue;
    const type = value.slice(0, slash);
    if (target !== undefined && type !== target) continue;
    keys.push(value);
  }
  return keys;
}

interface Included {
  resourceType: ResourceType;
  document: ResourceDocument;
}

/**
 * `_include` / `_revinclude` (R4 search.html#include): resolves the directives against the matched
 * (and, for `:iterate`, the included) resources; each resource appears once.
 */
async function includes(reader: StoreReader, request: SearchRequest, matches: readonly ResourceDocument[], now: number): Promise<Included[]> {
  if (request.include.length === 0 && request.revinclude.length === 0) return [];
  const seen = new Set<string>(matches.map((m) => `${request.resourceType}/${m._id}`));
  const out: Included[] = [];
  const add = (resourceType: ResourceType, document: ResourceDocument): void => {
    const key = `${resourceType}/${document._id}`;
    if (seen.has(key) || out.length >= MAX_INCLUDED || document.deleted) return;
    seen.add(key);
    out.push({ resourceType, document });
  };
  let frontier: Included[] = matches.map((document) => ({ resourceType: request.resourceType, document }));
  const rounds = request.include.some((i) => i.iterate) || request.revinclude.some((i) => i.iterate) ? 2 : 1;
  for (let round = 0; round < rounds && frontier.length > 0; round++) {
    const before = out.length;
    const applies = (d: IncludeDirective): boolean => round === 0 || d.iterate;
    for (const directive of request.include.filter(applies)) {
      for (const item of frontier) {
        if (item.resourceType !== directive.source) continue;
        for (const key of referencedKeys(item.document, directive.code, directive.target)) {
          const slash = key.indexOf('/');
          const type = key.slice(0, slash);
          if (!isResourceType(type)) continue;
          const document = await reader.read(type, key.slice(slash + 1));
          if (document !== undefined) add(type, document);
        }
      }
    }
    for (const directive of request.revinclude.filter(applies)) {
      const refs = frontier
        .filter((i) => directive.target === undefined || i.resourceType === directive.target)
        .map((i) => `${i.resourceType}/${i.document._id}`);
      if (refs.length === 0) continue;
      const inner = parseSearchRequest(directive.source, [[directive.code, refs.join(',')]], { strict: true });
      const resolved = await resolveChains({ ...inner, count: MAX_INCLUDED, total: 'none' }, findIdsWith(reader), now);
      const query = toStoreQuery(resolved, now);
      const { documents } = await reader.find(directive.source, query);
      for (const document of documents) add(directive.source, document);
    }
    frontier = out.slice(before);
  }
  return out;
}

/**
 * GET [base]/[type]?… and POST [base]/[type]/_search (R4 http.html#search): a searchset Bundle
 * with `total`, the matches, included resources (search.mode `include`) and paging links whose
 * `self` lists only the parameters applied.
 */
export async function searchResources(req: FhirRequest & { resourceType: ResourceType }, ctx: ServerContext): Promise<FhirResult> {
  const now = ctx.now();
  // R4 search.html#reference: an absolute URL on this server names the same resource as Type/id.
  const parsed = parseSearchRequest(req.resourceType, req.query, { strict: req.preferHandling === 'strict', baseUrl: req.baseUrl });
  assertSearchAllowed(req.caller, parsed);
  const request = await resolveChains(parsed, findIdsWith(ctx.store), now);
  const { documents, total } = await ctx.store.find(req.resourceType, toStoreQuery(request, now));
  const subsetting = { summary: parsed.summary, elements: parsed.elements };
  const unchanged = keepsEverything(subsetting);
  const entries: EntryText[] = [];
  // What the caller may see of each type, decided once per type rather than per entry.
  const typeVisibility = new Map<ResourceType, boolean | undefined>();
  const add = (resourceType: ResourceType, document: ResourceDocument, mode: 'match' | 'include'): void => {
    if (document.deleted) return;
    // SPEC §6: the caller's compartment criteria already bound the matches (access.ts); this is
    // the backstop, and it keeps _include/_revinclude from carrying other patients' records.
    if (!typeVisibility.has(resourceType)) typeVisibility.set(resourceType, canSeeType(req.caller, resourceType));
    const visible = typeVisibility.get(resourceType);
    if (visible === false || (visible === undefined && (document.resource === null || !canSee(req.caller, resourceType, document.resource, req.baseUrl)))) return;
    // The stored text passes through when nothing is cut (store.ts ResourceDocument.json).
    const json = unchanged ? document.json : undefined;
    const resource = json ?? (document.resource === null ? undefined : JSON.stringify(applySubsetting(document.resource, subsetting)));
    if (resource !== undefined) entries.push({ fullUrl: `${req.baseUrl}/${resourceType}/${document._id}`, resource, mode });
  };
  for (const document of documents) add(req.resourceType, document, 'match');
  if (parsed.summary !== 'count') {
    for (const inc of await includes(ctx.store, parsed, documents, now)) add(inc.resourceType, inc.document, 'include');
  }
  const url = `${req.baseUrl}/${req.resourceType}`;
  const applied = parsed.applied.filter(([k]) => k !== '_count' && k !== '_offset');
  const json = bundleJson('searchset', entries, {
    ...(total !== undefined ? { total } : {}),
    link: pagingLinks(url, applied, parsed.offset, parsed.count, documents.length, total),
  });
  return jsonResult({ status: 200 }, json);
}
