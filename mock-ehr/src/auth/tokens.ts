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
  /** The practitioner's FHIR id. */
  sub: string;
  client_id: string;
  scope: string;
  patient: string;
  /** Absolute URL of the Practitioner (SMART `fhirUser`). */
  fhirUser: string;
  exp: number;
  iat: number;
  jti: string;
}

export interface TokenIssuerOptions {
  key: SigningKey;
  issuer: string;
  fhirBaseUrl: string;
  now?: () => number;
}

export class TokenIssuer {
  private readonly now: () => number;

  constructor(private readonly options: TokenIssuerOptions) {
    this.now = options.now ?? Date.now;
  }

  fhirUserOf(grant: Grant): string {
    return `${this.options.fhirBaseUrl}/Practitioner/${grant.practitionerId}`;
  }

  async issueAccessToken(grant: Grant): Promise<string> {
    const { key, issuer, fhirBaseUrl } = this.options;
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({
      client_id: grant.clientId,
      scope: grant.scopes.join(' '),
      patient: grant.patientId,
      fhirUser: this.fhirUserOf(grant),
    })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(fhirBaseUrl)
      .setSubject(grant.practitionerId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_TTL_S)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  /** OpenID Connect Core §2: `aud` is the client id; SMART adds `fhirUser`. */
  async issueIdToken(grant: Grant, nonce?: string): Promise<string> {
    const { key, issuer } = this.options;
    const iat = Math.floor(this.now() / 1000);
    const claims: JWTPayload = { fhirUser: this.fhirUserOf(grant) };
    if (nonce !== undefined) claims.nonce = nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(grant.clientId)
      .setSubject(grant.practitionerId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_TTL_S)
      .sign(key.privateKey);
  }

  /** Verifies signature, `iss`, `aud` = FHIR base and `exp`; throws `InvalidAccessTokenError` with the reason. */
  async verifyAccessToken(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.options.key.publicKey, {
        algorithms: [SIGNING_ALG],
        issuer: this.options.issuer,
        audience: this.options.fhirBaseUrl,
        currentDate: new Date(this.now()),
      });
      if (!isAccessTokenClaims(payload)) throw new InvalidAccessTokenError('access token lacks SMART claims');
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
    typeof payload.patient === 'string' &&
    typeof payload.client_id === 'string' &&
    typeof payload.fhirUser === 'string'
  );
}
