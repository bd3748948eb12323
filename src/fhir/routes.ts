import { methodNotAllowed, notFound } from './outcome';
import type { ResourceType } from './resource-types';
import { isResourceType } from './resource-types';

/** R4 restful-interaction codes Kairos routes (plus `operation`). */
export type Interaction =
  | 'capabilities'
  | 'batch-transaction'
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'create'
  | 'search-type'
  | 'operation';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A path shape below the base: literal segments, `{type}`, `{id}`, `{vid}`, `{op}` ($name). */
interface RouteSpec {
  readonly path: readonly string[];
  readonly methods: Readonly<Partial<Record<HttpMethod, Interaction>>>;
}

/** The route table (R4 http.html summary table), as data; the CapabilityStatement test reads it. */
export const ROUTES: readonly RouteSpec[] = [
  { path: ['metadata'], methods: { GET: 'capabilities', HEAD: 'capabilities' } },
  { path: [], methods: { POST: 'batch-transaction' } },
  { path: ['{type}'], methods: { GET: 'search-type', HEAD: 'search-type', POST: 'create' } },
  { path: ['{type}', '_search'], methods: { GET: 'search-type', POST: 'search-type' } },
  { path: ['{type}', '_history'], methods: { GET: 'history-type', HEAD: 'history-type' } },
  { path: ['{type}', '{op}'], methods: { GET: 'operation', POST: 'operation' } },
  { path: ['{type}', '{id}'], methods: { GET: 'read', HEAD: 'read', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } },
  { path: ['{type}', '{id}', '_history'], methods: { GET: 'history-instance', HEAD: 'history-instance' } },
  { path: ['{type}', '{id}', '_history', '{vid}'], methods: { GET: 'vread', HEAD: 'vread' } },
  { path: ['{type}', '{id}', '{op}'], methods: { GET: 'operation', POST: 'operation' } },
];

export interface RouteMatch {
  interaction: Interaction;
  resourceType?: ResourceType;
  id?: string;
  versionId?: string;
  operation?: string;
}

function matchSegment(pattern: string, segment: string, into: RouteMatch): boolean {
  switch (pattern) {
    case '{type}':
      if (!isResourceType(segment)) return false;
      into.resourceType = segment;
      return true;
    case '{op}':
      if (!segment.startsWith('$') || segment.length < 2) return false;
      into.operation = segment.slice(1);
      return true;
    case '{id}':
      if (segment.startsWith('$') || segment.startsWith('_')) return false;
      into.id = segment;
      return true;
    case '{vid}':
      into.versionId = segment;
      return true;
    default:
      return pattern === segment;
  }
}

/**
 * Finds the interaction for a method and the path segments below the base. Unknown resource types
 * are 404 (R4 http.html: unsupported type); a known path with another method is 405 with Allow.
 */
export function resolveRoute(method: string, segments: readonly string[]): RouteMatch {
  const [first] = segments;
  if (first !== undefined && first !== 'metadata' && !isResourceType(first)) {
    throw notFound(`Unknown resource type or endpoint "${first}"`);
  }
  for (const route of ROUTES) {
    if (route.path.length !== segments.length) continue;
    const match: RouteMatch = { interaction: 'read' };
    if (!route.path.every((p, i) => matchSegment(p, segments[i] ?? '', match))) continue;
    const interaction = route.methods[method as HttpMethod];
    if (interaction === undefined) {
      throw methodNotAllowed(`${method} is not allowed on this URL`, Object.keys(route.methods));
    }
    match.interaction = interaction;
    return match;
  }
  throw notFound(`No FHIR endpoint at /${segments.join('/')}`);
}
