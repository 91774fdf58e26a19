/**
 * Resource-server side of SMART: FHIR and DICOMweb requests need `Authorization: Bearer <JWT we issued>`
 * (RFC 6750 §2.1). Verified claims are kept per request for the scope checks.
 */
import type { Request, RequestHandler } from 'express';
import { bearerTokenOf } from '../../../server/src/http/bearer-token';
import { InvalidAccessTokenError, type AccessTokenClaims, type TokenIssuer } from '../auth/tokens';
import { unauthorized } from './errors';

const claimsByRequest = new WeakMap<Request, AccessTokenClaims>();

export function requireBearer(tokens: TokenIssuer): RequestHandler {
  return async (req, _res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) throw unauthorized('Authorization: Bearer <access token> is required');
    const token = bearerTokenOf(header);
    if (!token) throw unauthorized('Authorization header must be "Bearer <access token>"', 'invalid_request');
    try {
      claimsByRequest.set(req, await tokens.verifyAccessToken(token));
    } catch (error) {
      if (error instanceof InvalidAccessTokenError) throw unauthorized(error.message, 'invalid_token');
      throw error;
    }
    next();
  };
}

/** The verified token of a request that passed `requireBearer`. */
export function getAccessClaims(req: Request): AccessTokenClaims {
  const claims = claimsByRequest.get(req);
  if (!claims) throw new Error('getAccessClaims called on a route without requireBearer');
  return claims;
}
