/**
 * CDS Hooks 2.0 §Trusting CDS Clients: every call carries `Authorization: Bearer <JWT>` signed by the EHR.
 * We accept only ES384/RS384 (never `none` or HMAC), only configured issuers with their JWKS, `aud` equal to
 * the exact service URL, a valid `exp`, an `iat` at most 5 minutes old whatever the `exp` (the spec's tokens live
 * 5 minutes; a long-lived one is a stolen one's best friend), and each `jti` once. The header must name its key
 * (`kid`) and be `typ: JWT`, as §Trusting CDS Clients requires.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { bearerTokenOf } from '../http/bearer-token';
import { createMemoryReplayCache, replayTtlMs, type ReplayCache } from '../http/replay-cache';
import type { TrustedClients } from './trusted-clients';

export const ALLOWED_ALGORITHMS = ['ES384', 'RS384'];
/** Clock skew accepted on `exp`, `iat` and `nbf`. */
const CLOCK_TOLERANCE_S = 30;
/** A token issued longer ago than this (plus the clock tolerance) is refused, whatever its `exp`. */
export const MAX_TOKEN_AGE_S = 5 * 60;

export class CdsAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CdsAuthError';
  }
}

export interface CdsJwtVerifier {
  verify(authorization: string | undefined, serviceUrl: string | string[]): Promise<JWTPayload>;
}

export interface CdsJwtVerifierOptions {
  /** The clock, in milliseconds since the epoch (default Date.now). */
  now?: () => number;
  /**
   * Where used `jti`s are remembered: in memory by default; a store shared between processes (Redis) when the app
   * runs as several, so a token replayed to another process is refused too.
   */
  replayCache?: ReplayCache;
}

export function createCdsJwtVerifier(clients: TrustedClients, options: CdsJwtVerifierOptions = {}): CdsJwtVerifier {
  const now = options.now ?? Date.now;
  /** `${iss} ${jti}`, each until its token would be refused anyway (exp or iat + 5 min, + the 30 s clock tolerance). */
  const replays = options.replayCache ?? createMemoryReplayCache({ now });

  return {
    async verify(authorization, serviceUrl) {
      const token = bearerTokenOf(authorization);
      if (!token) throw new CdsAuthError('Missing "Authorization: Bearer <JWT>" header');
      let issuer: string | undefined;
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        issuer = decodeJwt(token).iss;
        header = decodeProtectedHeader(token);
      } catch {
        throw new CdsAuthError('Authorization token is not a JWT');
      }
      const keys = issuer ? clients.get(issuer) : undefined;
      if (!issuer || !keys) throw new CdsAuthError(`JWT issuer ${issuer ?? '(none)'} is not a trusted CDS client`);
      if (typeof header.kid !== 'string' || header.kid === '')
        throw new CdsAuthError('JWT header has no "kid" (CDS Hooks: the key id is required)');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer,
          audience: serviceUrl,
          algorithms: ALLOWED_ALGORITHMS,
          typ: 'JWT',
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
          currentDate: new Date(now()),
          clockTolerance: CLOCK_TOLERANCE_S,
          maxTokenAge: MAX_TOKEN_AGE_S,
        }));
      } catch (error) {
        if (error instanceof errors.JOSEAlgNotAllowed)
          throw new CdsAuthError(`JWT algorithm not allowed; use one of ${ALLOWED_ALGORITHMS.join(', ')}`);
        if (error instanceof errors.JWTExpired && error.claim === 'iat')
          throw new CdsAuthError(`JWT issued more than ${MAX_TOKEN_AGE_S / 60} minutes ago (iat)`);
        if (error instanceof errors.JWTExpired) throw new CdsAuthError('JWT expired');
        if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'typ')
          throw new CdsAuthError('JWT header "typ" must be "JWT"');
        if (error instanceof errors.JWTClaimValidationFailed)
          throw new CdsAuthError(`JWT claim "${error.claim}" invalid: ${error.reason}`);
        if (error instanceof errors.JOSEError) throw new CdsAuthError(`JWT rejected: ${error.code}`);
        throw error;
      }
      const ttlMs = replayTtlMs(
        { expiresAtS: payload.exp ?? now() / 1000, issuedAtS: payload.iat },
        { maxAgeS: MAX_TOKEN_AGE_S, clockToleranceS: CLOCK_TOLERANCE_S },
        now(),
      );
      if (await replays.seen(`${issuer} ${String(payload.jti)}`, ttlMs))
        throw new CdsAuthError('JWT jti already used (replay)');
      return payload;
    },
  };
}
