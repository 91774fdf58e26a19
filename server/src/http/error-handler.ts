/**
 * The one terminal error handler: HttpError → its status + OperationOutcome; a PipelineError → the status of its
 * kind (pipeline-errors.ts); anything else → 500 with a generic OperationOutcome (the stack goes to the log, never
 * to the client).
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { PipelineError } from '../pipeline/pipeline-error';
import { HttpError, badRequest, internalError, notFound } from './http-error';
import { pipelineErrorToHttpError } from './pipeline-errors';

interface BodyParserError {
  type?: string;
  status?: number;
  message?: string;
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof PipelineError) return pipelineErrorToHttpError(error);
  const parserError = error as BodyParserError;
  // express.json() failures carry a `type` (entity.parse.failed, entity.too.large) and a 4xx status.
  if (typeof parserError.type === 'string' && typeof parserError.status === 'number' && parserError.status < 500) {
    return new HttpError(
      parserError.status,
      badRequest(`Invalid request body: ${parserError.message ?? parserError.type}`).outcome,
    );
  }
  return internalError('Internal server error');
}

export const handleNotFound: RequestHandler = (req, _res, next) => {
  next(notFound(`No route for ${req.method} ${req.path}`));
};

export const handleError: ErrorRequestHandler = (error: unknown, req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  const httpError = toHttpError(error);
  if (httpError.status >= 500) req.log.error({ err: error }, 'request failed');
  else req.log.info({ status: httpError.status, reason: httpError.message }, 'request refused');
  res
    .status(httpError.status)
    .set(httpError.headers)
    .type('application/fhir+json')
    .send(JSON.stringify(httpError.outcome));
};
