/**
 * Request rate limits (express-rate-limit), so that no one caller can take the server's time from the others:
 *
 * - the API (`/api/…`): per client IP address, and per access token (a SHA-256 of it, never the token: the limiter's
 *   keys are kept in memory and appear, hashed again, in the `RateLimit-Policy` header's partition key);
 * - CDS Hooks (`/cds-services…`): per client IP address, and per calling EHR — the `iss` of its JWT, read without
 *   verifying it (verify-jwt.ts verifies it next); a forged `iss` only moves the caller into another bucket, and
 *   the per-IP limit still holds.
 *
 * IPv6 addresses are grouped by /56 (express-rate-limit's ipKeyGenerator), as one subscriber's network. Answers carry
 * the IETF draft-8 `RateLimit` and `RateLimit-Policy` headers, one named policy per limit; beyond a limit: 429 with
 * `Retry-After` and an OperationOutcome (http-error.ts `tooManyRequests`). The counts are per server process (a
 * memory store); behind a reverse proxy every client has the proxy's address (`trust proxy` is off), so the per-IP
 * limits then count everyone together — raise them, or key the proxy's own limits by client.
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { decodeJwt } from 'jose';
import { bearerTokenOf } from './bearer-token';
import { tooManyRequests } from './http-error';

export interface RateLimitSettings {
  windowSeconds: number;
  apiPerIp: number;
  apiPerToken: number;
  cdsPerIp: number;
  cdsPerClient: number;
}

interface LimitSpec {
  /** The policy's name in the RateLimit headers. */
  name: string;
  limit: number;
  /** The bucket of a request; undefined: this limit does not apply to it. */
  keyOf: (req: Request) => string | undefined;
  /** What the refusal says was exceeded. */
  what: string;
  configKey: string;
}

const ipOf = (req: Request): string => ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');

const tokenHashOf = (req: Request): string | undefined => {
  const token = bearerTokenOf(req.get('authorization'));
  return token && createHash('sha256').update(token).digest('base64url');
};

const cdsClientOf = (req: Request): string | undefined => {
  const token = bearerTokenOf(req.get('authorization'));
  if (!token) return undefined;
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === 'string' && iss.length > 0 ? iss : undefined;
  } catch {
    return undefined;
  }
};

function limiter(spec: LimitSpec, windowSeconds: number): RequestHandler {
  return rateLimit({
    windowMs: windowSeconds * 1000,
    limit: spec.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: spec.name,
    skip: (req) => spec.keyOf(req) === undefined,
    keyGenerator: (req) => spec.keyOf(req) ?? '',
    handler: (req, _res, next) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfter = Math.max(1, Math.ceil(((reset?.getTime() ?? Date.now()) - Date.now()) / 1000));
      next(
        tooManyRequests(
          `Too many requests ${spec.what}: at most ${spec.limit} in ${windowSeconds} seconds (${spec.configKey}). Try again in ${retryAfter} seconds.`,
          retryAfter,
        ),
      );
    },
  });
}

/** Mount on `/api`: per client IP, then per access token. */
export function apiRateLimits(settings: RateLimitSettings): RequestHandler[] {
  return [
    limiter(
      {
        name: 'api-ip',
        limit: settings.apiPerIp,
        keyOf: ipOf,
        what: 'from this address',
        configKey: 'RATE_LIMIT_API_PER_IP',
      },
      settings.windowSeconds,
    ),
    limiter(
      {
        name: 'api-token',
        limit: settings.apiPerToken,
        keyOf: tokenHashOf,
        what: 'with this session',
        configKey: 'RATE_LIMIT_API_PER_TOKEN',
      },
      settings.windowSeconds,
    ),
  ];
}

/** Mount on `/cds-services`: per client IP, then per calling EHR (its JWT's `iss`). */
export function cdsRateLimits(settings: RateLimitSettings): RequestHandler[] {
  return [
    limiter(
      {
        name: 'cds-ip',
        limit: settings.cdsPerIp,
        keyOf: ipOf,
        what: 'from this address',
        configKey: 'RATE_LIMIT_CDS_PER_IP',
      },
      settings.windowSeconds,
    ),
    limiter(
      {
        name: 'cds-client',
        limit: settings.cdsPerClient,
        keyOf: cdsClientOf,
        what: 'from this CDS client',
        configKey: 'RATE_LIMIT_CDS_PER_CLIENT',
      },
      settings.windowSeconds,
    ),
  ];
}
