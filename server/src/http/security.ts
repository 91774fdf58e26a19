/**
 * Security and logging middleware: helmet with a CSP that lets the SMART client run its own bundled scripts
 * and talk to the trusted FHIR servers (and be framed by them: EHRs embed SMART apps), and pino-http that
 * logs method, path and status only — no Authorization header, no query string (it can carry launch
 * parameters), no bodies (PHI).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import { httpLogSerializers } from './log-serializers';

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

export function requestLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    serializers: httpLogSerializers,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, error: Error | undefined) =>
      error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
  });
}
