import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { badRequest, notFound } from './fhir/outcome';
import { resolveRoute } from './fhir/routes';
import { errorHandler } from './http/error-handler';
import { parseFhirRequest, requestIdOf } from './http/fhir-request-parser';
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
}

/** Every $operation Kairos serves (their OperationDefinitions are listed in the CapabilityStatement). */
export const OPERATIONS: readonly FhirOperation[] = [appointmentFind, appointmentHold, appointmentBook, appointmentReschedule, scheduleGenerate];

/** SPEC §6: with AUTH_MODE=none every caller is staff, recorded as `anonymous`. */
const ANONYMOUS: Caller = { subject: 'anonymous', kind: 'user' };

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
  const engine = new BookingEngine({ store: deps.store, now: deps.now, holdTtlSeconds: deps.config.holdTtlSeconds });
  const ctx = { ...deps, engine, operations: deps.operations ?? OPERATIONS };
  const app = express();
  app.disable('x-powered-by');
  // Kairos parses query strings itself (http/fhir-request-parser.ts) so values stay strings.
  app.set('query parser', false);
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals['requestId'] = requestIdOf(req);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res, next) => {
    ctx.store.ping().then(
      () => res.json({ status: 'ready', store: ctx.store.kind }),
      (e: unknown) => next(e),
    );
  });

  const fhir = express.Router({ caseSensitive: true, strict: false });
  fhir.use(express.raw({ type: () => true, limit: BODY_LIMIT }));
  fhir.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = String(res.locals['requestId']);
    const run = async (): Promise<void> => {
      const segments = pathSegments(req.path);
      const { request, pretty } = parseFhirRequest(req, ctx.config.baseUrl, ANONYMOUS, requestId);
      const match = resolveRoute(request.method, segments);
      const result = await dispatch(match, request, ctx);
      sendResult(res, result, { baseUrl: ctx.config.baseUrl, pretty, preferReturn: request.preferReturn, requestId });
    };
    run().catch(next);
  });
  app.use('/fhir', fhir);

  app.use((_req: Request, res: Response) => {
    const error = notFound('No such endpoint; the FHIR base is /fhir');
    sendOutcome(res, error.status, error.outcome, error.headers, String(res.locals['requestId']));
  });
  app.use(errorHandler(ctx.logger));
  return app;
}
