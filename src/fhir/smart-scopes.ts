/**
 * SMART App Launch clinical scopes (hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html),
 * v1 (`patient/Appointment.read`, `user/*.write`, `system/*.*`) and v2 (`patient/Appointment.rs`,
 * `user/*.cruds`) syntax. Pure: no I/O, no knowledge of callers.
 */

/** The compartment a scope is granted in: the launch patient, the signed-in user, or a backend service. */
export type ScopeContext = 'patient' | 'user' | 'system';

export const SCOPE_CONTEXTS: readonly ScopeContext[] = ['patient', 'user', 'system'];

/**
 * SMART v2 permissions: c create, r read (read, vread, instance history), u update (and patch),
 * d delete, s search (type search, type history).
 */
export type ScopeVerb = 'c' | 'r' | 'u' | 'd' | 's';

const V2_ORDER = 'cruds';

export interface SmartScope {
  readonly context: ScopeContext;
  /** A resource type name, or `*` for all types. */
  readonly resourceType: string;
  readonly verbs: ReadonlySet<ScopeVerb>;
}

/** SMART v1 permission words mapped to the v2 letters they stand for. */
const V1_VERBS: Readonly<Record<string, readonly ScopeVerb[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

const SCOPE_PATTERN = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.([A-Za-z*]+)$/;

function isScopeContext(value: string): value is ScopeContext {
  return value === 'patient' || value === 'user' || value === 'system';
}

function v2Verbs(text: string): ScopeVerb[] | undefined {
  // SMART v2: the letters appear at most once each, in the order c r u d s.
  let last = -1;
  const verbs: ScopeVerb[] = [];
  for (const letter of text) {
    const at = V2_ORDER.indexOf(letter);
    if (at <= last) return undefined;
    last = at;
    verbs.push(letter as ScopeVerb);
  }
  return verbs;
}

/**
 * Parses one clinical scope. Returns undefined for anything else: non-clinical scopes (`openid`,
 * `fhirUser`, `launch/patient`, `offline_access`) and malformed ones. A v2 scope with search
 * restrictions (`patient/Observation.rs?category=…`) is also undefined: Kairos cannot enforce the
 * restriction, so it grants nothing rather than more than was meant.
 */
export function parseScope(text: string): SmartScope | undefined {
  const match = SCOPE_PATTERN.exec(text);
  if (match === null) return undefined;
  const [, context, resourceType, permission] = match;
  if (context === undefined || resourceType === undefined || permission === undefined || !isScopeContext(context)) return undefined;
  const verbs = V1_VERBS[permission] ?? v2Verbs(permission);
  if (verbs === undefined || verbs.length === 0) return undefined;
  return { context, resourceType, verbs: new Set(verbs) };
}

/** Splits a `scope` claim (space-separated per RFC 6749 §3.3, or an array as some issuers send). */
export function scopeList(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(/\s+/).filter((s) => s.length > 0);
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}

/** The clinical scopes among `scopes`, parsed; everything else is dropped. */
export function parseScopes(scopes: readonly string[]): SmartScope[] {
  const parsed: SmartScope[] = [];
  for (const text of scopes) {
    const scope = parseScope(text);
    if (scope !== undefined) parsed.push(scope);
  }
  return parsed;
}

/**
 * Whether any scope grants `verb` on `resourceType`, counting only scopes of the given contexts
 * (a caller's kind decides which contexts apply to it; see interactions/access.ts).
 */
export function scopeAllows(
  scopes: readonly string[],
  resourceType: string,
  verb: ScopeVerb,
  contexts: readonly ScopeContext[] = SCOPE_CONTEXTS,
): boolean {
  return parseScopes(scopes).some(
    (s) => contexts.includes(s.context) && (s.resourceType === '*' || s.resourceType === resourceType) && s.verbs.has(verb),
  );
}
