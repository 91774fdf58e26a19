/**
 * Security and logging middleware of the mock EHR: helmet relaxed for a sandbox that an app at another origin calls
 * and frames, and pino-http that logs method, path and status only — query strings carry patient ids and launch
 * codes, headers carry tokens, DICOMweb paths carry UIDs (written `{uid}`).
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import { httpLogSerializers, LOG_REDACT_PATHS } from '../../../server/src/http/log-serializers';

export function securityHeaders(appBaseUrl: string): RequestHandler {
  // Cross-origin-resource-policy is relaxed: the app at another origin reads FHIR and DICOMweb with CORS.
  // The sandbox runs on plain http://localhost: no HSTS and no upgrade-insecure-requests (it would break launch links).
  return helmet({
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    strictTransportSecurity: false,
    // frame-src: the chart embeds the app in an iframe ("Open in the chart"), as EHRs do.
    contentSecurityPolicy: {
      directives: { upgradeInsecureRequests: null, frameSrc: ["'self'", new URL(appBaseUrl).origin] },
    },
  });
}

export function requestLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    autoLogging: { ignore: (req) => req.url === '/favicon.ico' },
    serializers: httpLogSerializers,
    redact: LOG_REDACT_PATHS,
  });
}
