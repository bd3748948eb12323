import type { Bundle, BundleEntry, BundleEntryResponse } from 'fhir/r4';
import { bundle } from '../fhir/bundle';
import { badRequest, FhirError, internalError, isFhirError, notFound, preconditionFailed } from '../fhir/outcome';
import { parseQueryPairs } from '../fhir/query-string';
import type { ResourceType } from '../fhir/resource-types';
import { isResourceType } from '../fhir/resource-types';
import type { RouteMatch } from '../fhir/routes';
import { resolveRoute } from '../fhir/routes';
import type {
  HistoryEntry,
  HistoryQuery,
  HistoryResult,
  ResourceDocument,
  ResourceWrite,
  Store,
  StoreFindResult,
  StoreQuery,
  StoreReader,
  TransactionPlan,
  TransactionReader,
} from '../store/store';
import { BookingEngine } from '../scheduling/booking-engine';
import type { DispatchContext } from './dispatch';
import { authorizeRequest, dispatch } from './dispatch';
import type { FhirRequest, FhirResult } from './fhir-request';
import { newId } from '../store/resource-write';
import { createResource } from './create';
import { matchCriteria, parseCriteria } from './search';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  410: '410 Gone',
  412: '412 Precondition Failed',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
};

const statusText = (status: number): string => STATUS_TEXT[status] ?? String(status);

/** R4 http.html#trules processing order: DELETE, POST, PUT/PATCH, then reads. */
const ORDER: Readonly<Record<string, number>> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

interface ParsedEntry {
  index: number;
  method: FhirRequest['method'];
  match: RouteMatch;
  request: FhirRequest;
  fullUrl?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entryError(index: number, e: unknown): FhirError {
  if (!isFhirError(e)) throw e;
  const issues = e.outcome.issue.map((issue) => ({
    ...issue,
    diagnostics: `Bundle.entry[${index}]: ${issue.diagnostics ?? ''}`,
    expression: issue.expression ?? [`Bundle.entry[${index}]`],
  }));
  return new FhirError(e.status, { ...e.outcome, issue: issues }, e.headers);
}

/** A JSON Patch inside a Bundle travels as a Binary (R4 http.html#patch). */
function patchBody(resource: unknown): unknown {
  if (isObject(resource) && resource['resourceType'] === 'Binary' && typeof resource['data'] === 'string') {
    try {
      return JSON.parse(Buffer.from(resource['data'], 'base64').toString('utf8'));
    } catch {
      throw badRequest('The Binary holding the JSON Patch is not valid base64 JSON', undefined, 'structure');
    }
  }
  return resource;
}

function parseEntry(entry: BundleEntry, index: number, outer: FhirRequest): ParsedEntry {
  const request = entry.request;
  if (request === undefined) throw badRequest('Every entry of a batch or transaction needs a request (bdl-3)', [`Bundle.entry[${index}].request`]);
  const method = request.method;
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST' && method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE') {
    throw badRequest(`Unsupported entry method "${String(method)}"`, [`Bundle.entry[${index}].request.method`]);
  }
  let url = request.url;
  if (url.startsWith(outer.baseUrl)) url = url.slice(outer.baseUrl.length);
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? [] : parseQueryPairs(url.slice(q + 1));
  const segments = path.split('/').filter((s) => s.length > 0);
  const match = resolveRoute(method, segments);
  if (match.interaction === 'batch-transaction') throw badRequest('A Bundle entry cannot itself be a batch or transaction');
  const body = method === 'PATCH' ? patchBody(entry.resource) : entry.resource;
  return {
    index,
    method,
    match,
    fullUrl: entry.fullUrl,
    request: {
      method,
      baseUrl: outer.baseUrl,
      query,
      body,
      contentType: 'application/fhir+json',
      ifMatch: request.ifMatch,
      ifNoneExist: request.ifNoneExist,
      ifNoneMatch: request.ifNoneMatch,
      preferReturn: outer.preferReturn,
      preferHandling: outer.preferHandling,
      overrideReason: outer.overrideReason,
      caller: outer.caller,
      requestId: `${outer.requestId}/${index}`,
    },
  };
}

/** The response entry for one processed request (R4 bundle.html#transaction-response). */
function responseEntry(baseUrl: string, result: FhirResult, preferReturn: FhirRequest['preferReturn']): BundleEntry {
  const response: BundleEntryResponse = { status: statusText(result.status) };
  const v = result.version;
  if (v !== undefined) {
    response.etag = `W/"${v.versionId}"`;
    response.lastModified = new Date(v.lastUpdated).toISOString();
    if (result.location === true) response.location = `${v.resourceType}/${v.id}/_history/${v.versionId}`;
  }
  const entry: BundleEntry = { response };
  if (result.honoursPrefer === true && preferReturn === 'minimal') return entry;
  if (result.honoursPrefer === true && preferReturn === 'OperationOutcome' && result.outcome !== undefined) {
    response.outcome = result.outcome;
    return entry;
  }
  if (result.resource !== undefined) {
    entry.resource = result.resource;
    if (v !== undefined) entry.fullUrl = `${baseUrl}/${v.resourceType}/${v.id}`;
  }
  return entry;
}

/**
 * Replaces, everywhere in `value`, each string equal to a key of `ids` (a `urn:uuid:` or other
 * fullUrl of an entry) by the resource's new `Type/id` (R4 http.html#trules: references to an
 * entry's fullUrl are rewritten; a `#fragment` suffix is kept).
 */
function rewriteReferences(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') {
    const hash = value.indexOf('#');
    const key = hash > 0 ? value.slice(0, hash) : value;
    const target = ids.get(key);
    return target === undefined ? value : target + (hash > 0 ? value.slice(hash) : '');
  }
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, ids));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = rewriteReferences(v, ids);
    return out;
  }
  return value;
}

/** Collects every `reference` of the form `Type?criteria` (R4 http.html#trules conditional references). */
function collectConditionalReferences(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectConditionalReferences(v, into);
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\?/.test(v)) into.add(v);
      else collectConditionalReferences(v, into);
    }
  }
}

/**
 * A Store seen from inside one Bundle transaction: reads go to the outer transaction's reader with
 * the writes already planned by earlier entries laid over them; `transaction` does not commit but
 * adds the planned writes to the Bundle's single commit. Two entries touching the same resource
 * fail the Bundle (R4 http.html#trules: identities must not overlap).
 */
class BundleStore implements Store, TransactionReader {
  readonly kind: Store['kind'];
  readonly planned: ResourceWrite[] = [];
  private readonly overlay = new Map<string, ResourceDocument>();

  constructor(
    private readonly inner: Store,
    private readonly reader: TransactionReader,
  ) {
    this.kind = inner.kind;
  }

  async read(resourceType: ResourceType, id: string): Promise<ResourceDocument | undefined> {
    return this.overlay.get(`${resourceType}/${id}`) ?? this.reader.read(resourceType, id);
  }

  find(resourceType: ResourceType, query: StoreQuery): Promise<StoreFindResult> {
    return this.reader.find(resourceType, query);
  }

  vread(resourceType: ResourceType, id: string, versionId: number): Promise<HistoryEntry | undefined> {
    return this.inner.vread(resourceType, id, versionId);
  }

  history(resourceType: ResourceType, id: string | undefined, query: HistoryQuery): Promise<HistoryResult> {
    return this.inner.history(resourceType, id, query);
  }

  async commit(writes: ResourceWrite[]): Promise<void> {
    await this.transaction([], () => Promise.resolve({ writes, result: undefined }));
  }

  async transaction<T>(lockKeys: readonly string[], fn: (reader: TransactionReader) => Promise<TransactionPlan<T>>): Promise<T> {
    // The keys an entry's work needs (e.g. a booking's actors) are taken in the Bundle's one transaction.
    await this.reader.lock(lockKeys);
    const plan = await fn(this);
    for (const write of plan.writes) {
      const key = `${write.resourceType}/${write.id}`;
      if (this.overlay.has(key)) {
        throw badRequest(`${key} is changed by more than one entry of the transaction`, undefined, 'duplicate');
      }
      this.overlay.set(key, {
        _id: write.id,
        versionId: write.versionId,
        lastUpdated: write.lastUpdated,
        deleted: write.resource === null,
        resource: write.resource,
        s: write.s,
        o: write.o,
      });
      this.planned.push(write);
    }
    return plan.result;
  }

  lock(keys: readonly string[]): Promise<void> {
    return this.reader.lock(keys);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function runBatch(entries: readonly BundleEntry[], req: FhirRequest, ctx: DispatchContext): Promise<Bundle> {
  const responses: BundleEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const parsed = parseEntry(entry, index, req);
      const result = await dispatch(parsed.match, parsed.request, ctx);
      responses.push(responseEntry(req.baseUrl, result, req.preferReturn));
    } catch (e) {
      if (!isFhirError(e)) {
        ctx.logger.error({ err: e, requestId: req.requestId, entry: index }, 'batch entry failed');
        const error = internalError(`${req.requestId}/${index}`);
        responses.push({ response: { status: statusText(error.status), outcome: error.outcome } });
      } else {
        responses.push({ response: { status: statusText(e.status), outcome: e.outcome } });
      }
    }
  }
  return bundle('batch-response', responses);
}

async function runTransaction(entries: readonly BundleEntry[], req: FhirRequest, ctx: DispatchContext): Promise<Bundle> {
  const parsed: ParsedEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const p = parseEntry(entry, index, req);
      // Creates below bypass dispatch, so every entry is authorized up front (and nothing is written
      // when one is refused); dispatch checks the others again in the transaction's view.
      await authorizeRequest(p.match, p.request, ctx);
      parsed.push(p);
    } catch (e) {
      throw entryError(index, e);
    }
  }
  // Assign ids to created resources first, so references to their fullUrl can be rewritten.
  const ids = new Map<string, string>();
  const createdIds = new Map<number, string>();
  for (const p of parsed) {
    if (p.match.interaction === 'create' && p.match.resourceType !== undefined) {
      const id = newId();
      createdIds.set(p.index, id);
      if (p.fullUrl !== undefined) ids.set(p.fullUrl, `${p.match.resourceType}/${id}`);
    } else if (p.fullUrl !== undefined && p.match.resourceType !== undefined && p.match.id !== undefined) {
      ids.set(p.fullUrl, `${p.match.resourceType}/${p.match.id}`);
    }
  }
  const seenFullUrls = new Set<string>();
  for (const p of parsed) {
    if (p.fullUrl === undefined) continue;
    if (seenFullUrls.has(p.fullUrl)) throw badRequest(`fullUrl ${p.fullUrl} appears twice (bdl-7)`, [`Bundle.entry[${p.index}].fullUrl`]);
    seenFullUrls.add(p.fullUrl);
  }
  // R4 http.html#trules: identities must not overlap across DELETE/POST/PUT/PATCH; checked before
  // anything runs so that the outcome does not depend on the order of the entries.
  const touched = new Map<string, number>();
  for (const p of parsed) {
    if (p.method === 'GET' || p.method === 'HEAD' || p.match.resourceType === undefined || p.match.id === undefined) continue;
    const key = `${p.match.resourceType}/${p.match.id}`;
    const first = touched.get(key);
    if (first !== undefined) {
      throw badRequest(
        `${key} is changed by entries ${first} and ${p.index} of the transaction`,
        [`Bundle.entry[${p.index}].request.url`],
        'duplicate',
      );
    }
    touched.set(key, p.index);
  }
  const ordered = [...parsed].sort((a, b) => (ORDER[a.method] ?? 9) - (ORDER[b.method] ?? 9) || a.index - b.index);
  const writes = ordered.filter((p) => p.method !== 'GET' && p.method !== 'HEAD');
  const reads = ordered.filter((p) => p.method === 'GET' || p.method === 'HEAD');

  const results = new Map<number, FhirResult>();
  await ctx.store.transaction<void>([], async (reader) => {
    results.clear();
    const store = new BundleStore(ctx.store, reader);
    const engine = new BookingEngine({ store, now: ctx.now, holdTtlSeconds: ctx.config.holdTtlSeconds });
    const inner: DispatchContext = { ...ctx, store, engine };
    // Conditional references resolve against the state before the transaction (R4 http.html#trules).
    const conditional = new Set<string>();
    for (const p of writes) collectConditionalReferences(p.request.body, conditional);
    const resolved = new Map(ids);
    for (const ref of conditional) {
      const q = ref.indexOf('?');
      const type = ref.slice(0, q);
      if (!isResourceType(type)) throw badRequest(`Conditional reference ${ref} names an unknown type`);
      const matches = await matchCriteria(reader, type, parseQueryPairs(ref.slice(q + 1)), 2);
      const [only] = matches;
      if (matches.length > 1) throw preconditionFailed(`Conditional reference ${ref} matches more than one ${type}`, 'multiple-matches');
      if (only === undefined) throw notFound(`Conditional reference ${ref} matches no ${type}`);
      resolved.set(ref, `${type}/${only._id}`);
    }
    // A conditional create that matches stands for the existing resource (R4 http.html#ccreate).
    for (const p of writes) {
      const type = p.match.resourceType;
      if (p.match.interaction !== 'create' || p.request.ifNoneExist === undefined || type === undefined) continue;
      const matches = await matchCriteria(reader, type, parseCriteria(p.request.ifNoneExist), 2);
      const [only] = matches;
      if (matches.length > 1) throw entryError(p.index, preconditionFailed(`If-None-Exist matched more than one ${type}`, 'multiple-matches'));
      if (only === undefined) continue;
      if (p.fullUrl !== undefined) resolved.set(p.fullUrl, `${type}/${only._id}`);
      results.set(p.index, {
        status: 200,
        resource: only.resource ?? undefined,
        version: { resourceType: type, id: only._id, versionId: only.versionId, lastUpdated: only.lastUpdated },
        honoursPrefer: true,
      });
    }
    for (const p of writes) {
      if (results.has(p.index)) continue;
      const body = rewriteReferences(p.request.body, resolved);
      const createdId = createdIds.get(p.index);
      const type = p.match.resourceType;
      try {
        const result =
          createdId !== undefined && type !== undefined
            ? await createResource({ ...p.request, resourceType: type, body, ifNoneExist: undefined }, inner, createdId)
            : await dispatch(p.match, { ...p.request, body }, inner);
        results.set(p.index, result);
      } catch (e) {
        throw entryError(p.index, e);
      }
    }
    return { writes: store.planned, result: undefined };
  });
  // Reads run after the commit, so they see the transaction's writes (processing order step 4).
  // The writes are durable by now: a read that fails (e.g. 410 for what an entry deleted) is
  // answered in its own entry; failing the whole response would tell the client that nothing
  // was written when everything was.
  const failedReads = new Map<number, BundleEntry>();
  for (const p of reads) {
    try {
      results.set(p.index, await dispatch(p.match, p.request, ctx));
    } catch (e) {
      const error = entryError(p.index, e);
      failedReads.set(p.index, { response: { status: statusText(error.status), outcome: error.outcome } });
    }
  }
  return bundle(
    'transaction-response',
    parsed.map((p) => {
      const failed = failedReads.get(p.index);
      if (failed !== undefined) return failed;
      const result = results.get(p.index);
      return result === undefined ? { response: { status: '200 OK' } } : responseEntry(req.baseUrl, result, req.preferReturn);
    }),
  );
}

/** POST [base] with a Bundle of type batch or transaction (R4 http.html#transaction). */
export async function batchOrTransaction(req: FhirRequest, ctx: DispatchContext): Promise<FhirResult> {
  const body = req.body;
  if (!isObject(body) || body['resourceType'] !== 'Bundle') {
    throw badRequest('POST to the base takes a Bundle of type batch or transaction', undefined, 'structure');
  }
  const type = body['type'];
  const entries = body['entry'] === undefined ? [] : body['entry'];
  if (!Array.isArray(entries)) throw badRequest('Bundle.entry must be an array', ['Bundle.entry'], 'structure');
  const typed = entries.filter(isObject) as BundleEntry[];
  if (typed.length !== entries.length) throw badRequest('Every Bundle.entry must be an object', ['Bundle.entry'], 'structure');
  if (type === 'batch') return { status: 200, resource: await runBatch(typed, req, ctx) };
  if (type === 'transaction') return { status: 200, resource: await runTransaction(typed, req, ctx) };
  throw badRequest(`Bundle.type must be batch or transaction, got "${String(type)}"`, ['Bundle.type'], 'value');
}
