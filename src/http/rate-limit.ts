import type { RouteMatch } from '../fhir/routes';

/** The operations that take time (SPEC §4.6) and so are rate-limited per client. */
export const BOOKING_OPERATIONS: ReadonlySet<string> = new Set(['hold', 'book', 'reschedule']);

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes `cost` tokens from the client's bucket, or says how long until they would be there. */
  take(key: string, cost?: number): RateDecision;
}

export interface RateLimiterOptions {
  /** Tokens added per minute. */
  perMinute: number;
  /** Bucket size: how many may be spent at once. */
  burst: number;
  /** Epoch ms clock (injectable for tests). */
  now: () => number;
  /** Buckets kept; the least recently used are dropped (a dropped bucket starts full again). */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per client key, in memory (one process; with several Kairos processes behind a
 * balancer each limits on its own). Memory is bounded by `maxClients`.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const perMs = options.perMinute / 60_000;
  const maxClients = options.maxClients ?? 10_000;
  const buckets = new Map<string, Bucket>();
  return {
    take(key, cost = 1) {
      const now = options.now();
      const previous = buckets.get(key);
      const tokens = previous === undefined ? options.burst : Math.min(options.burst, previous.tokens + (now - previous.at) * perMs);
      // Re-inserting keeps the Map in least-recently-used order for eviction.
      buckets.delete(key);
      if (tokens >= cost) {
        buckets.set(key, { tokens: tokens - cost, at: now });
        if (buckets.size > maxClients) {
          const oldest = buckets.keys().next();
          if (oldest.done !== true) buckets.delete(oldest.value);
        }
        return { allowed: true };
      }
      buckets.set(key, { tokens, at: now });
      const missing = Math.min(cost, options.burst) - tokens;
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / perMs / 1000)) };
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How many booking operations a request runs: one for `$hold`/`$book`/`$reschedule`, and for a
 * batch or transaction one per such entry (so a Bundle cannot slip past the limit).
 */
export function bookingOperationCount(match: RouteMatch, body: unknown): number {
  if (match.interaction === 'operation') return BOOKING_OPERATIONS.has(match.operation ?? '') ? 1 : 0;
  if (match.interaction !== 'batch-transaction' || !isObject(body) || !Array.isArray(body['entry'])) return 0;
  let count = 0;
  for (const entry of body['entry']) {
    const url = isObject(entry) && isObject(entry['request']) ? entry['request']['url'] : undefined;
    if (typeof url !== 'string') continue;
    const path = url.split('?')[0] ?? '';
    const last = path.split('/').filter((s) => s.length > 0).pop() ?? '';
    if (last.startsWith('$') && BOOKING_OPERATIONS.has(last.slice(1))) count++;
  }
  return count;
}
