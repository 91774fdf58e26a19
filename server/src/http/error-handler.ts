/**
 * The one terminal error handler: HttpError → its status + OperationOutcome; a PipelineError → the status of its
 * kind (pipeline-errors.ts); anything else → 500 with a generic OperationOutcome (the stack goes to the log, never
 * to the client).
 *
 * Every refusal and failure is logged as codes, never as its message: messages name what was wrong — a UID, an
 * upstream URL, a quoted body — and those stay between the server and the user who asked (docs/security.md §Logs).
 * The line carries the request id, which the answer repeats (`X-Request-Id`, and `Reference: <id>` as the last issue
 * of the OperationOutcome) and the panel shows, so that support can find it.
 */
import type { OperationOutcome } from 'fhir/r4';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { PipelineError } from '../pipeline/pipeline-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { HttpError, badRequest, internalError, isCapacityRefusal, notFound } from './http-error';
import { stackFramesOf } from './log-serializers';
import { pipelineErrorToHttpError } from './pipeline-errors';

interface BodyParserError {
  type?: string;
  status?: number;
  message?: string;
}

export function toHttpError(error: unknown): HttpError {
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

/** What a refusal's log line says: the status, the OperationOutcome's issue code, and where it came from. */
export interface ErrorLogFields {
  status: number;
  /** The first issue's code (FHIR R4 issue-type): `not-found`, `forbidden`, `login`, `processing`, `transient`… */
  code: string;
  /** The error's class: `HttpError`, `PipelineError`, `SyntaxError`… */
  error: string;
  /** A PipelineError's kind. */
  kind?: string;
  /** Which upstream failed and its status (undefined: no answer). */
  upstream?: { service: string; status: number | undefined };
}

export function errorToLogFields(error: unknown, httpError: HttpError): ErrorLogFields {
  const fields: ErrorLogFields = {
    status: httpError.status,
    code: httpError.outcome.issue[0]?.code ?? 'unknown',
    error: error instanceof Error ? error.name : typeof error,
  };
  if (error instanceof PipelineError) fields.kind = error.kind;
  const cause = error instanceof PipelineError ? error.cause : error;
  if (cause instanceof UpstreamRequestError) fields.upstream = { service: cause.service, status: cause.status };
  return fields;
}

/** pino-http's id of the request (ours are UUIDs: security.ts). */
function requestIdOf(id: unknown): string {
  return typeof id === 'string' || typeof id === 'number' ? String(id) : 'unknown';
}

function withReference(outcome: OperationOutcome, requestId: string): OperationOutcome {
  return {
    ...outcome,
    issue: [
      ...outcome.issue,
      { severity: 'information', code: 'informational', diagnostics: `Reference: ${requestId}` },
    ],
  };
}

export const handleError: ErrorRequestHandler = (error: unknown, req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  const httpError = toHttpError(error);
  const fields = errorToLogFields(error, httpError);
  if (isCapacityRefusal(httpError.status, httpError.headers['Retry-After'] !== undefined))
    req.log.warn(fields, 'request refused: busy');
  else if (httpError.status >= 500) req.log.error({ ...fields, stack: stackFramesOf(error) }, 'request failed');
  else req.log.info(fields, 'request refused');
  res
    .status(httpError.status)
    .set(httpError.headers)
    .type('application/fhir+json')
    .send(JSON.stringify(withReference(httpError.outcome, requestIdOf(req.id))));
};
