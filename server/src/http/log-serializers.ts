/**
 * What pino-http writes about each request: method, path and status, nothing else. Headers carry the bearer token
 * and cookies; the query string can carry launch parameters, patient ids or an `access_token` (RFC 6750 §2.3);
 * bodies carry PHI. Shared by the app server and the mock EHR, so neither logs a token by writing its own.
 */

/**
 * pino-http hands its serializers pino-std-serializers' request object (`url` is Express's originalUrl); the raw
 * IncomingMessage also fits this shape.
 */
export interface LoggableRequest {
  id?: unknown;
  method?: string | undefined;
  url?: string | undefined;
}

export interface LoggableResponse {
  statusCode: number;
}

export function requestToLogFields(req: LoggableRequest): { id: unknown; method: string | undefined; path: string } {
  return { id: req.id, method: req.method, path: (req.url ?? '').split('?')[0] ?? '' };
}

export function responseToLogFields(res: LoggableResponse): { statusCode: number } {
  return { statusCode: res.statusCode };
}

/** For pino-http's `serializers` option. */
export const httpLogSerializers = { req: requestToLogFields, res: responseToLogFields };
