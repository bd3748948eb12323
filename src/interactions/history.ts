import type { BundleEntry } from 'fhir/r4';
import { bundle, pagingLinks } from '../fhir/bundle';
import { badRequest, notFound } from '../fhir/outcome';
import type { ResourceType } from '../fhir/resource-types';
import type { HistoryEntry } from '../store/store';
import type { ServerContext } from './context';
import type { FhirRequest, FhirResult } from './fhir-request';
import { checkUrlId } from './resource-writes';
import { parseCount, parseInstantParam, parseOffset } from '../fhir/param-values';

const STATUS_TEXT = { POST: '201 Created', PUT: '200 OK', PATCH: '200 OK', DELETE: '204 No Content' } as const;

function historyEntry(base: string, entry: HistoryEntry): BundleEntry {
  const url = `${entry.resourceType}/${entry.id}`;
  const result: BundleEntry = {
    fullUrl: `${base}/${url}`,
    request: { method: entry.method === 'PATCH' ? 'PATCH' : entry.method, url: entry.method === 'POST' ? entry.resourceType : url },
    response: {
      status: STATUS_TEXT[entry.method],
      etag: `W/"${entry.versionId}"`,
      lastModified: new Date(entry.lastUpdated).toISOString(),
    },
  };
  if (entry.resource !== null) result.resource = entry.resource;
  return result;
}

/**
 * GET [base]/[type]/[id]/_history and [base]/[type]/_history (R4 http.html#history): newest
 * first, deletes included as entries without a resource; `_count`, `_since`, `_at`, paging.
 */
export async function historyResource(req: FhirRequest & { resourceType: ResourceType }, ctx: ServerContext): Promise<FhirResult> {
  const { resourceType, id } = req;
  if (id !== undefined) checkUrlId(resourceType, id);
  let count = 50;
  let offset = 0;
  let since: number | undefined;
  let at: number | undefined;
  const applied: Array<readonly [string, string]> = [];
  for (const [name, value] of req.query) {
    switch (name) {
      case '_count':
        count = parseCount(value);
        break;
      case '_offset':
        offset = parseOffset(value);
        break;
      case '_since':
        since = parseInstantParam('_since', value).lo;
        applied.push([name, value]);
        break;
      case '_at':
        // R4 http.html#history: `_at` — versions current at some point in the given time.
        at = parseInstantParam('_at', value).hi - 1;
        applied.push([name, value]);
        break;
      case '_format':
      case '_pretty':
        break;
      default:
        if (req.preferHandling === 'strict') throw badRequest(`Unknown history parameter "${name}"`, undefined, 'not-supported');
    }
  }
  const result = await ctx.store.history(resourceType, id, { since, at, skip: offset, limit: count });
  const url = id === undefined ? `${req.baseUrl}/${resourceType}/_history` : `${req.baseUrl}/${resourceType}/${id}/_history`;
  if (id !== undefined && result.total === 0) {
    const current = await ctx.store.read(resourceType, id);
    if (current === undefined) throw notFound(`${resourceType}/${id} is not known`);
  }
  return {
    status: 200,
    resource: bundle(
      'history',
      result.entries.map((e) => historyEntry(req.baseUrl, e)),
      { total: result.total, link: pagingLinks(url, applied, offset, count, result.entries.length, result.total) },
    ),
  };
}
