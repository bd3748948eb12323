import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { badRequest, forbidden, notFound, tooManyRequests } from './fhir/outcome';
import { resolveRoute } from './fhir/routes';
import { createAuthenticator } from './http/auth';
import type { Authenticator } from './http/auth';
import { errorHandler } from './http/error-handler';
import { parseFhirRequest } from './http/fhir-request-parser';
import { createMetrics, instrumentStore } from './http/metrics';
import type { Metrics } from './http/metrics';
import { bookingOperationCount, createRateLimiter } from './http/rate-limit';
import type { RateLimiter } from './http/rate-limit';
import { describeRequest, interactionLabel, LOCALS, requestLog } from './http/request-log';
import { sendOutcome, sendResult } from './http/respond';
import type { ServerContext } from './interactions/context';
import { dispatch } from './interactions/dispatch';
import type { Caller } from './interactions/fhir-request';
import { appointmentFind } from './operations/appointment-find';
import { appointmentBook, appointmentHold, appointmentReschedule } from './operations/appointment-booking';
import type { FhirOperation } from './operations/operation';
import { scheduleGenerate } from './operations/schedule-generate';
import { BookingEngine } from './scheduling/booking-engine';

export interface AppDependencies extends Omit<ServerContext, 'engine'> {
  readonly operations?: readonly FhirOperation[];
  /** Verifies bearer tokens; by default built from the config's AUTH_MODE (keys are loaded on first use). */
  readonly authenticate?: Authenticator;
  /** Where the app records its metrics; by default a registry of its own. main.ts shares one with the background jobs. */
  readonly metrics?: Metrics;
  /** The per-client limit on booking operations; by default from RATE_LIMIT_BOOKINGS_PER_MINUTE / _BURST. */
  readonly rateLimiter?: RateLimiter;
}

/** Every $operation Kairos serves (their OperationDefinitions are listed in the CapabilityStatement). */
export const OPERATIONS: readonly FhirOperation[] = [appointmentFind, appointmentHold, appointmentBook, appointmentReschedule, scheduleGenerate];

/**
 * The caller of `/fhir/metadata`, which needs no token (SPEC §6): no scopes, so it can do nothing
 * but read the CapabilityStatement.
 */
const UNAUTHENTICATED: Caller = Object.freeze({ subject: 'unauthenticated', kind: 'system', scopes: [] });

/** Body limit (issue: bodies over 1 MB → 413). */
const BODY_LIMIT = '1mb';

function pathSegments(path: string): string[] {
  try {
    return path
      .split('/')
      .filter((s) => s.length > 0)
      .map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest('The URL path is not valid percent-encoding');
  }
}

/**
 * Builds the express app from injected dependencies (STYLE habit 1): no environment, no listen,
 * no I/O — main.ts does those, tests build it on a temporary embedded store.
 */
export function createApp(deps: AppDependencies): Express {
  const metrics = deps.metrics ?? createMetrics();
  const store = instrumentStore(deps.store, metrics);
  const engine = new BookingEngine({ store, now: deps.now, holdTtlSeconds: deps.config.holdTtlSeconds });
  const ctx = { ...deps, store, engine, operations: deps.operations ?? OPERATIONS };
  const authenticate = deps.authenticate ?? createAuthenticator(deps.config);
  // Wall-clock, not ctx.now: tests pin "now" for scheduling, which must not freeze the buckets.
  const limiter =
    deps.rateLimiter ??
    createRateLimiter({ perMinute: deps.config.rateLimitBookingsPerMinute, burst: deps.config.rateLimitBookingsBurst, now: Date.now });
  const app = express();
  app.disable('x-powered-by');
  // Kairos parses query strings itself (http/fhir-request-parser.ts) so values stay strings.
  app.set('query parser', false);
  app.set('etag', false);

  app.use(requestLog(ctx.logger, metrics));

  // SPEC §6: a request needs a valid bearer token (when AUTH_MODE=jwt), checked before any body is read.
  const authenticated = (req: Request, res: Response, next: NextFunction): void => {
    if ((req.method === 'GET' || req.method === 'HEAD') && /^\/fhir\/metadata\/?$/.test(req.originalUrl.split('?')[0] ?? '')) {
      res.locals['caller'] = UNAUTHENTICATED;
      next();
      return;
    }
    authenticate(req.headers.authorization).then(
      (caller) => {
        res.locals['caller'] = caller;
        res.locals[LOCALS.subject] = caller.subject;
        next();
      },
      (e: unknown) => next(e),
    );
  };
  const readBody = express.raw({ type: () => true, limit: BODY_LIMIT });

  const handleFhir = (req: Request, res: Response, next: NextFunction): void => {
    const requestId = String(res.locals[LOCALS.requestId]);
    const caller = res.locals['caller'] as Caller;
    const run = async (): Promise<void> => {
      const segments = pathSegments(req.path);
      const { request, pretty } = parseFhirRequest(req, ctx.config.baseUrl, caller, requestId);
      const match = resolveRoute(request.method, segments);
      describeRequest(res, interactionLabel(match), match.resourceType);
      const bookings = bookingOperationCount(match, request.body);
      if (bookings > 0) {
        // Issue "abuse limits": per client — the token subject, or the address when auth is off.
        const key = caller.subject === 'anonymous' ? `ip:${req.ip ?? 'unknown'}` : `sub:${caller.subject}`;
        const decision = limiter.take(key, bookings);
        if (!decision.allowed) {
          throw tooManyRequests(`Too many booking operations; retry in ${decision.retryAfterSeconds} s`, decision.retryAfterSeconds);
        }
      }
      const result = await dispatch(match, request, ctx);
      sendResult(res, result, { baseUrl: ctx.config.baseUrl, pretty, preferReturn: request.preferReturn, requestId });
    };
    run().catch(next);
  };

  // The FHIR base comes first and is one middleware (token, body, route, answer): every FHIR
  // request then walks one layer rather than the health routes and a sub-router
  // (measured: ~10% of the CPU of a read went to express' layer matching).
  app.use('/fhir', (req: Request, res: Response, next: NextFunction) => {
    authenticated(req, res, (authError?: unknown) => {
      if (authError !== undefined) {
        next(authError);
        return;
      }
      readBody(req, res, (bodyError?: unknown) => {
        if (bodyError !== undefined) next(bodyError);
        else handleFhir(req, res, next);
      });
    });
  });

  // SPEC §7: liveness and readiness, unauthenticated (orchestrators probe them without tokens).
  app.get('/healthz', (_req, res) => {
    describeRequest(res, 'healthz');
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    describeRequest(res, 'readyz');
    const checks = async (): Promise<void> => {
      await ctx.store.ping();
      // The embedded store appends its journal under DATA_DIR: a read-only volume means no writes.
      if (ctx.store.kind === 'embedded') await access(ctx.config.dataDir, fsConstants.W_OK);
    };
    checks().then(
      () => res.json({ status: 'ready', store: ctx.store.kind }),
      (e: unknown) => {
        ctx.logger.warn({ err: e }, 'readiness check failed');
        res.status(503).json({ status: 'unavailable', store: ctx.store.kind });
      },
    );
  });

  // Everything else but the health routes needs a token too (unknown paths included).
  app.use(authenticated);

  app.get('/metrics', (_req, res, next) => {
    describeRequest(res, 'metrics');
    const caller = res.locals['caller'] as Caller;
    if (caller.kind === 'patient') {
      next(forbidden('Metrics are for operators, not patient-context tokens'));
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.setHeader('Content-Type', metrics.registry.contentType);
        res.send(text);
      },
      (e: unknown) => next(e),
    );
  });

  app.use((_req: Request, res: Response) => {
    const error = notFound('No such endpoint; the FHIR base is /fhir');
    sendOutcome(res, error.status, error.outcome, error.headers, String(res.locals[LOCALS.requestId]));
  });
  app.use(errorHandler(ctx.logger));
  return app;
}
