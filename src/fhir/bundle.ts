import type { Bundle, BundleEntry, BundleLink, Resource } from 'fhir/r4';

/** R4 bundle.html: one search/history page link. */
export function bundleLink(relation: 'self' | 'first' | 'previous' | 'next' | 'last', url: string): BundleLink {
  return { relation, url };
}

/** Builds a query string from ordered pairs, encoding each part (paging links are followed with GET). */
export function toQueryString(params: ReadonlyArray<readonly [string, string]>): string {
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

export function pageUrl(base: string, params: ReadonlyArray<readonly [string, string]>): string {
  const query = toQueryString(params);
  return query === '' ? base : `${base}?${query}`;
}

/**
 * Paging links for an offset-paged result (R4 http.html#paging: no `previous` on the first page,
 * no `next` on the last). `params` are the applied parameters without paging ones.
 */
export function pagingLinks(
  url: string,
  params: ReadonlyArray<readonly [string, string]>,
  offset: number,
  count: number,
  pageSize: number,
  total: number | undefined,
): BundleLink[] {
  const withPage = (o: number): Array<readonly [string, string]> => [
    ...params,
    ['_count', String(count)],
    ...(o > 0 ? [['_offset', String(o)] as const] : []),
  ];
  const links: BundleLink[] = [bundleLink('self', pageUrl(url, withPage(offset)))];
  if (count === 0) return links;
  links.push(bundleLink('first', pageUrl(url, withPage(0))));
  if (offset > 0) links.push(bundleLink('previous', pageUrl(url, withPage(Math.max(0, offset - count)))));
  const hasNext = total !== undefined ? offset + pageSize < total : pageSize >= count;
  if (hasNext) links.push(bundleLink('next', pageUrl(url, withPage(offset + count))));
  if (total !== undefined && total > 0) {
    links.push(bundleLink('last', pageUrl(url, withPage(Math.floor((total - 1) / count) * count))));
  }
  return links;
}

export function resourceUrl(base: string, resource: Resource): string {
  return `${base}/${resource.resourceType}/${resource.id ?? ''}`;
}

export function bundle(type: Bundle['type'], entry: BundleEntry[], extra: Partial<Bundle> = {}): Bundle {
  return { resourceType: 'Bundle', type, ...extra, ...(entry.length > 0 ? { entry } : {}) };
}

/** One entry of a search answer with its resource as stored JSON text (R4 bundle.html: fullUrl, resource, search.mode). */
export interface EntryText {
  readonly fullUrl: string;
  readonly resource: string;
  readonly mode: 'match' | 'include';
}

// An entry's fixed parts, in the order JSON.stringify gives `{ fullUrl, resource, search: { mode } }`:
// each entry is `{"fullUrl":"` url `","resource":` resource `,"search":{"mode":"…"}}`, and the
// close of one entry is written with the opening of the next.
const ENTRY_OPEN = '{"fullUrl":"';
const ENTRY_RESOURCE = '","resource":';
const ENTRY_CLOSE = { match: ',"search":{"mode":"match"}}', include: ',"search":{"mode":"include"}}' } as const;
const ENTRY_CLOSE_OPEN = { match: `${ENTRY_CLOSE.match},${ENTRY_OPEN}`, include: `${ENTRY_CLOSE.include},${ENTRY_OPEN}` } as const;
/** Printable ASCII but `"` and `\`: JSON.stringify writes such a string as it is, between quotes. */
const PLAIN_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * `bundle(type, entries, extra)` as UTF-8 JSON bytes, with the entries' resources as their stored
 * JSON texts: a search passes them through instead of parsing and serialising them again.
 * Bytes, not one string: a searchset is ~25 KB, and a string that size, referenced by the response
 * while it is written, outlived young-generation GCs and was promoted — measured: ~17 KB promoted
 * per search and a third of the server's CPU in scavenges (before http/server.ts stopped express
 * from keeping every request's objects alive, much of the reason). The parts are measured, then written
 * into one Buffer (outside the JS heap) in place: one allocation, and no string per entry (an
 * entry's text joined from its parts was ~0.8 KB of garbage, flattened once to be measured).
 * A resource text that is all ASCII (its UTF-8 length is its length) is copied as Latin-1, which
 * needs no encoding; so is a fullUrl of plain ASCII (the usual one), which is then not quoted
 * with JSON.stringify nor measured.
 */
export function bundleJson(type: Bundle['type'], entries: readonly EntryText[], extra: Partial<Bundle> = {}): Buffer {
  const head = JSON.stringify(bundle(type, [], extra));
  if (entries.length === 0) return Buffer.from(head);
  // `bundle` puts `entry` last, so it goes just before the closing brace.
  const open = `${head.slice(0, -1)},"entry":[${ENTRY_OPEN}`;
  const parts = entries.map((e) => {
    const plainUrl = PLAIN_TEXT.test(e.fullUrl);
    // Without its quotes: they are in ENTRY_OPEN and ENTRY_RESOURCE.
    const url = plainUrl ? e.fullUrl : JSON.stringify(e.fullUrl).slice(1, -1);
    const resourceBytes = Buffer.byteLength(e.resource);
    return {
      url,
      urlBytes: plainUrl ? url.length : Buffer.byteLength(url),
      urlEncoding: plainUrl ? ('latin1' as const) : ('utf8' as const),
      resource: e.resource,
      resourceBytes,
      resourceEncoding: resourceBytes === e.resource.length ? ('latin1' as const) : ('utf8' as const),
      mode: e.mode,
    };
  });
  let length = Buffer.byteLength(open) + 2;
  for (const [i, p] of parts.entries()) {
    length += p.urlBytes + ENTRY_RESOURCE.length + p.resourceBytes + (i + 1 < parts.length ? ENTRY_CLOSE_OPEN[p.mode].length : ENTRY_CLOSE[p.mode].length);
  }
  const body = Buffer.allocUnsafe(length);
  let at = body.write(open);
  for (const [i, p] of parts.entries()) {
    at += body.write(p.url, at, p.urlEncoding);
    at += body.write(ENTRY_RESOURCE, at, 'latin1');
    at += body.write(p.resource, at, p.resourceEncoding);
    at += body.write(i + 1 < parts.length ? ENTRY_CLOSE_OPEN[p.mode] : ENTRY_CLOSE[p.mode], at, 'latin1');
  }
  at += body.write(']}', at);
  if (at !== length) throw new Error(`searchset body: wrote ${at} of ${length} bytes`);
  return body;
}
