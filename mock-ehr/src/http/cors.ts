/**
 * CORS for the ldh-cds browser app, which calls the token endpoint, FHIR and DICOMweb directly (fhirclient in the
 * browser). Only the app's origin is allowed; `Authorization` may be sent and `Location`/`ETag` read (FHIR create
 * answers them, http.html#create).
 */
import type { RequestHandler } from 'express';

const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOWED_HEADERS =
  'Authorization, Content-Type, Accept, If-None-Exist, If-Match, If-None-Match, Prefer, X-Requested-With';
const EXPOSED_HEADERS = 'Location, ETag, Content-Location, Last-Modified, WWW-Authenticate';

export function buildCors(allowedOrigins: readonly string[]): RequestHandler {
  const origins = new Set(allowedOrigins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin !== undefined && origins.has(origin)) {
      res.set({
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Expose-Headers': EXPOSED_HEADERS,
        Vary: 'Origin',
      });
      if (req.method === 'OPTIONS') {
        res.set({
          'Access-Control-Allow-Methods': ALLOWED_METHODS,
          'Access-Control-Allow-Headers': ALLOWED_HEADERS,
          'Access-Control-Max-Age': '600',
        });
        res.status(204).end();
        return;
      }
    } else if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      // A preflight from an origin we do not serve: answer without CORS headers, the browser blocks the call.
      res.status(204).end();
      return;
    }
    next();
  };
}
