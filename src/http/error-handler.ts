import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { badRequest, internalError, isFhirError, tooLarge, unsupportedMediaType } from '../fhir/outcome';
import type { FhirError } from '../fhir/outcome';
import { sendOutcome } from './respond';

/**
 * Errors raised by express' own body parser are http-errors: a `type` for the known cases, and
 * always an HTTP `status` with `expose` true for client errors (e.g. a gzip body that does not
 * inflate carries status 400 and no type).
 */
function bodyParserError(e: unknown): FhirError | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { type, status, expose } = e as { type?: unknown; status?: unknown; expose?: unknown };
  if (type === 'entity.too.large') return tooLarge('The request body is larger than the 1 MB limit');
  // RFC 9110 §15.5.16: an unsupported Content-Encoding or charset is 415, like a media type.
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return unsupportedMediaType('The request body uses a Content-Encoding or charset Kairos does not support');
  }
  if (type === 'request.aborted' || type === 'request.size.invalid') {
    return badRequest('The request body could not be read', undefined, 'structure');
  }
  if (expose === true && typeof status === 'number' && status >= 400 && status < 500) {
    return badRequest('The request body could not be read', undefined, 'structure');
  }
  return undefined;
}

/**
 * Maps any error to an OperationOutcome response (STYLE habit 3): a FhirError carries its status;
 * anything else is a 500 `exception` that is logged with the request id and reveals nothing.
 */
export function toFhirError(e: unknown, requestId: string, logger: Logger): FhirError {
  if (isFhirError(e)) return e;
  const parsed = bodyParserError(e);
  if (parsed !== undefined) return parsed;
  logger.error({ err: e, requestId }, 'unexpected error');
  return internalError(requestId);
}

export function errorHandler(logger: Logger) {
  return (e: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const requestId = typeof res.locals['requestId'] === 'string' ? res.locals['requestId'] : 'unknown';
    const error = toFhirError(e, requestId, logger);
    sendOutcome(res, error.status, error.outcome, error.headers, requestId);
  };
}
