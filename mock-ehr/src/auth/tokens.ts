/**
 * Access and ID tokens. Access tokens are JWTs (RFC 9068 style) signed ES256 so resource servers — our FHIR and
 * DICOMweb routes, and the ldh-cds app server if it wishes — can verify them against `/oauth/jwks`.
 */
import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Grant } from './grant-store';
import { SIGNING_ALG, type SigningKey } from './signing-key';

export const ACCESS_TOKEN_TTL_S = 3600;

export interface AccessTokenClaims {
  iss: string;
  /** The FHIR base URL (SMART: `aud` of the authorize request). */
  aud: string;
  /** The practitioner's FHIR id, or the client id of a backend service. */
  sub: string;
  client_id: string;
  scope: string;
  /** The launch patient; absent for backend services and user-only launches. */
  patient?: string;
  /** Absolute URL of the Practitioner (SMART `fhirUser`); absent for backend services. */
  fhirUser?: string;
  exp: number;
  iat: number;
  jti: string;
}

export interface TokenIssuerOptions {
  key: SigningKey;
  issuer: string;
  fhirBaseUrl: string;
  now?: () => number;
  /** Lifetime of access tokens in seconds (default ACCESS_TOKEN_TTL_S). */
  accessTokenTtlS?: number;
}

export class TokenIssuer {
  private readonly now: () => number;
  readonly accessTokenTtlS: number;
  /** jti → exp (seconds) of revoked access tokens (RFC 7009); pruned once they would have expired anyway. */
  private readonly revoked = new Map<string, number>();
  /** Access tokens issued at or before this second are expired, whatever their `exp` (expireIssuedTokens). */
  private expiredUntilS: number | undefined;

  constructor(private readonly options: TokenIssuerOptions) {
    this.now = options.now ?? Date.now;
    this.accessTokenTtlS = options.accessTokenTtlS ?? ACCESS_TOKEN_TTL_S;
  }

  fhirUserOf(grant: Grant): string | undefined {
    return grant.practitionerId === undefined
      ? undefined
      : `${this.options.fhirBaseUrl}/Practitioner/${grant.practitionerId}`;
  }

  async issueAccessToken(grant: Grant): Promise<string> {
    const { key, issuer, fhirBaseUrl } = this.options;
    const iat = Math.floor(this.now() / 1000);
    const claims: JWTPayload = { client_id: grant.clientId, scope: grant.scopes.join(' ') };
    if (grant.patientId !== undefined) claims.patient = grant.patientId;
    const fhirUser = this.fhirUserOf(grant);
    if (fhirUser !== undefined) claims.fhirUser = fhirUser;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(fhirBaseUrl)
      .setSubject(grant.practitionerId ?? grant.clientId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.accessTokenTtlS)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  /** OpenID Connect Core §2: `aud` is the client id; SMART adds `fhirUser`. Needs a signed-in user. */
  async issueIdToken(grant: Grant): Promise<string | undefined> {
    const { key, issuer } = this.options;
    const fhirUser = this.fhirUserOf(grant);
    if (grant.practitionerId === undefined || fhirUser === undefined) return undefined;
    const iat = Math.floor(this.now() / 1000);
    const claims: JWTPayload = { fhirUser };
    if (grant.nonce !== undefined) claims.nonce = grant.nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(grant.clientId)
      .setSubject(grant.practitionerId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.accessTokenTtlS)
      .sign(key.privateKey);
  }

  /** RFC 7009 §2.1: revokes an access token we issued (a token we cannot verify is ignored). */
  async revokeAccessToken(token: string): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(token, this.options.key.publicKey, {
        algorithms: [SIGNING_ALG],
        issuer: this.options.issuer,
        audience: this.options.fhirBaseUrl,
        currentDate: new Date(this.now()),
      });
      if (typeof payload.jti !== 'string') return false;
      this.revoked.set(payload.jti, payload.exp ?? 0);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Every access token issued so far expires now, before its `exp` (a server that shortened its lifetimes, or lost its
   * sessions): a client must get a new one when it is refused with 401, not only when `expires_in` says so. A token
   * issued in the same second expires too (`iat` has a resolution of seconds).
   */
  expireIssuedTokens(): void {
    this.expiredUntilS = Math.floor(this.now() / 1000);
  }

  /** Verifies signature, `iss`, `aud` = FHIR base, `exp` and revocation; throws `InvalidAccessTokenError`. */
  async verifyAccessToken(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.options.key.publicKey, {
        algorithms: [SIGNING_ALG],
        issuer: this.options.issuer,
        audience: this.options.fhirBaseUrl,
        currentDate: new Date(this.now()),
      });
      if (!isAccessTokenClaims(payload)) throw new InvalidAccessTokenError('access token lacks SMART claims');
      const nowS = this.now() / 1000;
      for (const [jti, exp] of this.revoked) if (exp < nowS) this.revoked.delete(jti);
      if (this.revoked.has(payload.jti)) throw new InvalidAccessTokenError('access token revoked');
      if (this.expiredUntilS !== undefined && payload.iat <= this.expiredUntilS)
        throw new InvalidAccessTokenError('access token expired');
      return payload;
    } catch (error) {
      if (error instanceof InvalidAccessTokenError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new InvalidAccessTokenError('access token expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        throw new InvalidAccessTokenError(`access token claim "${error.claim}" is not valid here`);
      }
      throw new InvalidAccessTokenError('access token signature or format is not valid');
    }
  }
}

export class InvalidAccessTokenError extends Error {
  override name = 'InvalidAccessTokenError';
}

function isAccessTokenClaims(payload: JWTPayload): payload is JWTPayload & AccessTokenClaims {
  return (
    typeof payload.sub === 'string' &&
    typeof payload.scope === 'string' &&
    typeof payload.jti === 'string' &&
    typeof payload.client_id === 'string' &&
    (payload.patient === undefined || typeof payload.patient === 'string') &&
    (payload.fhirUser === undefined || typeof payload.fhirUser === 'string')
  );
}
