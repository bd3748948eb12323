import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { RouteMatch } from '../fhir/routes';
import { requestIdOf } from './fhir-request-parser';
import type { Metrics } from './metrics';
import { recordRequest } from './metrics';

/** res.locals keys the handlers fill in for the log line and the metrics labels. */
export const LOCALS = {
  requestId: 'requestId',
  interaction: 'interaction',
  resourceType: 'resourceType',
  subject: 'subject',
} as const;

/** The metrics label of a routed FHIR request: the interaction, or `$name` for an operation. */
export function interactionLabel(match: RouteMatch): string {
  return match.interaction === 'operation' ? `$${match.operation ?? ''}` : match.interaction;
}

/** Tells the request log and metrics what a request turned out to be. */
export function describeRequest(res: Response, interaction: string, resourceType?: string): void {
  res.locals[LOCALS.interaction] = interaction;
  if (resourceType !== undefined) res.locals[LOCALS.resourceType] = resourceType;
}

function local(res: Response, key: string): string | undefined {
  const value: unknown = res.locals[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The first middleware (SPEC §7): gives every request an id (the client's `X-Request-Id` when it is
 * sane, else a new UUID), echoes it in the response, and when the response is done writes one
 * structured log line and the request metrics. Only the path is logged, never the query string:
 * search parameters carry names and birth dates.
 */
export function requestLog(logger: Logger, metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(req);
    res.locals[LOCALS.requestId] = requestId;
    res.setHeader('X-Request-Id', requestId);
    // One 'close' listener: node emits it after 'finish' too, and writableFinished tells the two apart.
    res.once('close', () => {
      const aborted = !res.writableFinished;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const interaction = local(res, LOCALS.interaction) ?? 'unknown';
      if (!aborted) recordRequest(metrics, interaction, res.statusCode, seconds);
      const level = aborted ? 'warn' : res.statusCode >= 500 ? 'error' : 'info';
      // The line is built only when its level is logged (LOG_LEVEL=warn skips every request's).
      if (!logger.isLevelEnabled(level)) return;
      const line = {
        requestId,
        method: req.method,
        // originalUrl: req.path is relative to the router that handled it.
        path: req.originalUrl.split('?')[0],
        interaction,
        resourceType: local(res, LOCALS.resourceType),
        subject: local(res, LOCALS.subject),
        status: res.statusCode,
        ms: Math.round(seconds * 10_000) / 10,
      };
      logger[level](line, aborted ? 'request aborted by the client' : level === 'error' ? 'request failed' : 'request');
    });
    next();
  };
}
