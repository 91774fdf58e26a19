/**
 * Security and logging middleware: helmet with a CSP that lets the SMART client run its own bundled scripts
 * and talk to the trusted FHIR servers (and be framed by them: EHRs embed SMART apps), and pino-http that
 * logs method, path and status only — no Authorization header, no query string (it can carry launch
 * parameters), no bodies (PHI), no DICOM UIDs — under a request id of our own making, which every response
 * carries as `X-Request-Id` so that support can find the lines of the request a user reports.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import { isCapacityRefusal } from './http-error';
import { httpLogSerializers, LOG_REDACT_PATHS } from './log-serializers';

export function securityHeaders(trustedFhirBaseUrls: readonly string[]): ReturnType<typeof helmet> {
  const ehrOrigins = [...new Set(trustedFhirBaseUrls.map((url) => new URL(url).origin))];
  return helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'", ...ehrOrigins],
        frameAncestors: ["'self'", ...ehrOrigins],
        formAction: ["'self'", ...ehrOrigins],
        objectSrc: ["'none'"],
        // Would rewrite http://localhost EHR URLs to https in development; TLS is the deployment's job.
        upgradeInsecureRequests: null,
      },
    },
    // SMART launches come from the EHR's window (popup / new tab); same-origin COOP would cut that link.
    crossOriginOpenerPolicy: false,
    // frame-ancestors above replaces X-Frame-Options, which cannot list the EHR origins.
    xFrameOptions: false,
  });
}

/** The response header that carries the request id (also in each error's OperationOutcome, `Reference: <id>`). */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * A fresh random id per request. A caller's own `X-Request-Id` is not taken: it would let anyone write what they
 * like into our log lines, or make two requests share an id.
 */
function newRequestId(_req: IncomingMessage, res: ServerResponse): string {
  const id = randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

export function requestLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    genReqId: newRequestId,
    serializers: httpLogSerializers,
    redact: LOG_REDACT_PATHS,
    // The server at capacity (http-error.ts isCapacityRefusal): a warning, as a 4xx is.
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, error: Error | undefined) =>
      error || (res.statusCode >= 500 && !isCapacityRefusal(res.statusCode, res.hasHeader('retry-after')))
        ? 'error'
        : res.statusCode >= 400
          ? 'warn'
          : 'info',
  });
}
