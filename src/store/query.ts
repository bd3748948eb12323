import type { ResourceType } from '../fhir/resource-types';
import type {
  DateQuery,
  NumberQuery,
  ResolvedSearchRequest,
  SearchRequest,
  SortDirective,
  StringFilter,
  TokenQuery,
  ValueFilter,
} from '../fhir/search-request';
import type { StoreQuery } from './store';

/**
 * The one translation of a parsed search into a MongoDB filter over ResourceDocument (STYLE §5).
 * Both stores run these documents (the embedded one with mingo, planning its indexes from the
 * shapes below), so only these shapes are produced:
 *   `{}` | `{ $and: [clause…] }`, clause =
 *   `{ 's.<code>': { $in: [key…] } }` · `{ _id: { $in: [id…] } }` ·
 *   `{ 's.<code>': { $elemMatch: { lo: {…}, hi: {…} } } }` · `{ $or: [clause…] }`
 *   and, where no index can help: `$nin`, `$exists`, `$regex`, `$not`.
 * Field names come from the parameter table, never from the request; request values only
 * ever appear as operands.
 */

type Clause = Record<string, unknown>;

/** Escapes text for use inside a regular expression (every metacharacter, literally). */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function indexPath(code: string): string {
  return code === '_id' ? '_id' : `s.${code}`;
}

function anyOf(clauses: Clause[]): Clause {
  const [only] = clauses;
  return clauses.length === 1 && only !== undefined ? only : { $or: clauses };
}

/** The SearchIndex key a token value matches (search-index.ts writes the same keys). */
function tokenKey(q: TokenQuery): string {
  if (q.system === undefined) return q.code ?? '';
  if (q.code === undefined) return `${q.system}|`;
  return `${q.system}|${q.code}`;
}

/**
 * R4 search.html#prefix over ranges. The value's range is S = [a, b), each indexed range
 * T = [lo, hi) (both `hi` exclusive, so "T ends at or before b" is `hi <= b`):
 *   eq  S fully contains T                        lo >= a  and hi <= b
 *   ne  not eq                                     lo < a   or  hi > b
 *   gt  the range above S, [b, ∞), meets T         hi > b
 *   lt  the range below S, (−∞, a), meets T        lo < a
 *   ge  gt or eq                                   hi > b   or (lo >= a and hi <= b)
 *   le  lt or eq                                   lo < a   or (lo >= a and hi <= b)
 *   sa  T starts after S (no overlap, above)       lo >= b
 *   eb  T ends before S (no overlap, below)        hi <= a
 *   ap  T overlaps S widened on each side by 10% of that bound's distance from now
 *                                                  lo < b' and hi > a'
 * `ge` is not `hi > a`: a T that starts before S and ends inside it is neither above S nor
 * inside it. `ne` asks whether some indexed range lies outside S, so a resource without the
 * element does not match it (use `:missing` for that).
 */
function dateClause(path: string, q: DateQuery, now: number): Clause {
  const { lo: a, hi: b } = q.range;
  const range = (bounds: Record<string, unknown>): Clause => ({ [path]: { $elemMatch: bounds } });
  const eq = (): Clause => range({ lo: { $gte: a }, hi: { $lte: b } });
  switch (q.prefix) {
    case 'eq':
      return eq();
    case 'ne':
      return { $or: [range({ lo: { $lt: a } }), range({ hi: { $gt: b } })] };
    case 'gt':
      return range({ hi: { $gt: b } });
    case 'lt':
      return range({ lo: { $lt: a } });
    case 'ge':
      return { $or: [range({ hi: { $gt: b } }), eq()] };
    case 'le':
      return { $or: [range({ lo: { $lt: a } }), eq()] };
    case 'sa':
      return range({ lo: { $gte: b } });
    case 'eb':
      return range({ hi: { $lte: a } });
    case 'ap': {
      const widenedLo = a - Math.abs(now - a) * 0.1;
      const widenedHi = b + Math.abs(now - b) * 0.1;
      return range({ lo: { $lt: widenedHi }, hi: { $gt: widenedLo } });
    }
  }
}

/** Numbers are indexed as plain values; `ap` is within 10% of the value (R4 search.html#number). */
function numberClause(path: string, q: NumberQuery): Clause {
  const v = q.value;
  switch (q.prefix) {
    case 'eq':
      return { [path]: { $in: [v] } };
    case 'ne':
      return { [path]: { $nin: [v] } };
    case 'gt':
    case 'sa':
      return { [path]: { $gt: v } };
    case 'lt':
    case 'eb':
      return { [path]: { $lt: v } };
    case 'ge':
      return { [path]: { $gte: v } };
    case 'le':
      return { [path]: { $lte: v } };
    case 'ap':
      return { [path]: { $elemMatch: { $gte: v - Math.abs(v) * 0.1, $lte: v + Math.abs(v) * 0.1 } } };
  }
}

/** R4 search.html#string: starts-with by default, over normalised text; `:exact` over the original. */
function stringClause(f: StringFilter): Clause {
  const path = indexPath(f.code);
  switch (f.match) {
    case 'exact':
      return { [`${path}:exact`]: { $in: f.values } };
    case 'contains':
      return anyOf(f.values.map((v) => ({ [path]: { $regex: escapeRegex(v) } })));
    case 'starts-with':
      return anyOf(f.values.map((v) => ({ [path]: { $regex: `^${escapeRegex(v)}` } })));
  }
}

function filterClause(f: ValueFilter, now: number): Clause {
  switch (f.kind) {
    case 'missing':
      return { [indexPath(f.code)]: { $exists: !f.missing } };
    case 'id':
      return { _id: { [f.not ? '$nin' : '$in']: f.values } };
    case 'token': {
      const keys = f.values.map(tokenKey);
      // R4 search.html#token `:not`: resources without the element match too, as `$nin` does.
      return { [indexPath(f.code)]: { [f.not ? '$nin' : '$in']: keys } };
    }
    case 'token-text':
      // Kairos: `:text` matches the start of any word of a display/text (normalised).
      return anyOf(f.values.map((v) => ({ [`s.${f.code}:text`]: { $regex: `(?:^|\\s)${escapeRegex(v)}` } })));
    case 'string':
      return stringClause(f);
    case 'reference':
    case 'uri':
      return { [indexPath(f.code)]: { $in: f.values } };
    case 'date':
      return anyOf(f.values.map((q) => dateClause(indexPath(f.code), q, now)));
    case 'number':
      return anyOf(f.values.map((q) => numberClause(indexPath(f.code), q)));
  }
}

/** The filter for an AND of value filters; `now` anchors the `ap` prefix. */
export function toFilter(filters: readonly ValueFilter[], now: number): Record<string, unknown> {
  if (filters.length === 0) return {};
  return { $and: filters.map((f) => filterClause(f, now)) };
}

/** `_sort` over the SortKeys (`o.<code>`), `_id` last so that paging is stable. */
export function toSort(sort: readonly SortDirective[]): Array<readonly [string, 1 | -1]> {
  const fields: Array<readonly [string, 1 | -1]> = [];
  for (const s of sort) {
    const direction = s.descending ? -1 : 1;
    fields.push([s.code === '_id' ? '_id' : `o.${s.code}`, direction]);
    if (s.code === '_id') return fields;
  }
  fields.push(['_id', 1]);
  return fields;
}

/**
 * The store query for a search whose chains are resolved. `_count=0` and `_summary=count` ask
 * only for the total; the total is counted unless `_total=none`.
 */
export function toStoreQuery(request: ResolvedSearchRequest, now: number): StoreQuery {
  const countOnly = request.count === 0 || request.summary === 'count';
  return {
    filter: toFilter(request.filters, now),
    sort: toSort(request.sort),
    skip: request.offset,
    limit: countOnly ? 0 : request.count,
    count: countOnly || request.total !== 'none',
  };
}

/** Runs an inner search and answers the ids it matches (the caller's store, e.g. `store.find`). */
export type FindIds = (resourceType: ResourceType, query: StoreQuery) => Promise<readonly string[]>;

/**
 * Replaces each chain (R4 search.html#chaining) by a reference filter: the inner search runs on
 * each target type through `findIds`, and the chain matches references to any id found (none
 * found → the chain matches nothing).
 */
export async function resolveChains(request: SearchRequest, findIds: FindIds, now: number): Promise<ResolvedSearchRequest> {
  const filters: ValueFilter[] = [];
  for (const f of request.filters) {
    if (f.kind !== 'chain') {
      filters.push(f);
      continue;
    }
    const values: string[] = [];
    for (const target of f.targets) {
      const ids = await findIds(target.resourceType, { filter: toFilter([target.filter], now) });
      for (const id of ids) values.push(`${target.resourceType}/${id}`);
    }
    filters.push({ kind: 'reference', code: f.code, values });
  }
  return { ...request, filters };
}

/**
 * The clause the booking engine uses for "is one of these actors busy in [lo, hi)" over the
 * ActorBlocks of active Appointments (two half-open ranges overlap when each starts before the
 * other ends).
 */
export function toOverlapClause(actors: readonly string[], lo: number, hi: number): Record<string, unknown> {
  return { 's._block': { $elemMatch: { a: { $in: [...actors] }, lo: { $lt: hi }, hi: { $gt: lo } } } };
}
