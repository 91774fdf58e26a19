/**
 * CDS Hooks 2.0 §Trusting CDS Clients: every call carries `Authorization: Bearer <JWT>` signed by the EHR.
 * We accept only ES384/RS384 (never `none` or HMAC), only configured issuers with their JWKS, `aud` equal to
 * the exact service URL, a valid `exp`, and each `jti` once.
 */
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { bearerTokenOf } from '../http/bearer-token';
import { createReplayCache } from '../http/replay-cache';
import type { TrustedClients } from './trusted-clients';

export const ALLOWED_ALGORITHMS = ['ES384', 'RS384'];
/** Clock skew accepted on `exp`, `iat` and `nbf`. */
const CLOCK_TOLERANCE_S = 30;

export class CdsAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CdsAuthError';
  }
}

export interface CdsJwtVerifier {
  verify(authorization: string | undefined, serviceUrl: string | string[]): Promise<JWTPayload>;
}

export function createCdsJwtVerifier(clients: TrustedClients, now: () => number = Date.now): CdsJwtVerifier {
  /** `${iss} ${jti}`, each until its token has expired anyway (exp + the 30 s clock tolerance). */
  const seen = createReplayCache({ graceS: CLOCK_TOLERANCE_S, now });

  return {
    async verify(authorization, serviceUrl) {
      const token = bearerTokenOf(authorization);
      if (!token) throw new CdsAuthError('Missing "Authorization: Bearer <JWT>" header');
      let issuer: string | undefined;
      try {
        issuer = decodeJwt(token).iss;
      } catch {
        throw new CdsAuthError('Authorization token is not a JWT');
      }
      const keys = issuer ? clients.get(issuer) : undefined;
      if (!issuer || !keys) throw new CdsAuthError(`JWT issuer ${issuer ?? '(none)'} is not a trusted CDS client`);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer,
          audience: serviceUrl,
          algorithms: ALLOWED_ALGORITHMS,
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
          currentDate: new Date(now()),
          clockTolerance: CLOCK_TOLERANCE_S,
        }));
      } catch (error) {
        if (error instanceof errors.JOSEAlgNotAllowed)
          throw new CdsAuthError(`JWT algorithm not allowed; use one of ${ALLOWED_ALGORITHMS.join(', ')}`);
        if (error instanceof errors.JWTExpired) throw new CdsAuthError('JWT expired');
        if (error instanceof errors.JWTClaimValidationFailed)
          throw new CdsAuthError(`JWT claim "${error.claim}" invalid: ${error.reason}`);
        if (error instanceof errors.JOSEError) throw new CdsAuthError(`JWT rejected: ${error.code}`);
        throw error;
      }
      if (!seen.firstUse(`${issuer} ${String(payload.jti)}`, payload.exp ?? now() / 1000))
        throw new CdsAuthError('JWT jti already used (replay)');
      return payload;
    },
  };
}
