/**
 * The one terminal error handler: renders `HttpError` in its protocol's format; anything else becomes a 500.
 * Logged as codes (status, the OperationOutcome's issue code or the OAuth error), never as the message, which can
 * name a UID or a patient; the request line (pino-http's `req`) has the path with its UIDs written `{uid}`.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { html, renderPage } from '../chart/html';
import { stackFramesOf } from '../../../server/src/http/log-serializers';
import { buildOutcome, HttpError, type ErrorBody } from './errors';

function errorCode(body: ErrorBody): string {
  switch (body.kind) {
    case 'outcome':
      return body.outcome.issue[0]?.code ?? 'unknown';
    case 'oauth':
      return body.error;
    case 'html':
      return 'page';
  }
}

export function buildErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const httpError = toHttpError(error);
    const log = (req as { log?: Logger }).log ?? logger;
    const fields = {
      status: httpError.status,
      code: errorCode(httpError.body),
      error: error instanceof Error ? error.name : typeof error,
    };
    if (httpError.status >= 500) log.error({ ...fields, stack: stackFramesOf(error) }, 'request failed');
    else log.debug(fields, 'request refused');
    res.status(httpError.status).set(httpError.headers);
    const body = httpError.body;
    switch (body.kind) {
      case 'outcome':
        res.type('application/fhir+json').send(JSON.stringify(body.outcome));
        return;
      case 'oauth':
        // RFC 6749 §5.1/§5.2: JSON body, never cached.
        res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
        res.json({ error: body.error, error_description: body.description });
        return;
      case 'html':
        res.type('html').send(
          renderPage(
            body.title,
            html`<h1>${body.title}</h1>
              <p>${body.description}</p>`,
          ),
        );
        return;
    }
  };
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  // body-parser errors carry a status and a `type` (e.g. entity.parse.failed); keep their 4xx status.
  if (isStatusError(error) && error.status >= 400 && error.status < 500) {
    return new HttpError(error.status, {
      kind: 'outcome',
      outcome: buildOutcome('invalid', `Request body: ${error.message}`),
    });
  }
  return new HttpError(500, { kind: 'outcome', outcome: buildOutcome('exception', 'Internal server error') });
}

function isStatusError(error: unknown): error is { status: number; message: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { status?: unknown }).status === 'number' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}
