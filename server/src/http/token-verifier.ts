/**
 * Verifies the user's SMART access token before the API does any work with it (docs/security.md §Knowing the caller
 * and the patient). Per EHR, one of:
 *
 * - `introspection` (the default): RFC 7662 at the `introspection_endpoint` of the EHR's
 *   `{fhirBase}/.well-known/smart-configuration`, ldh-cds authenticating as a confidential client with a client
 *   assertion (RFC 7523 `private_key_jwt`, `aud` = the token endpoint, as SMART Backend Services defines it) signed
 *   with the server's own key (client-key.ts). The EHR's answer is authoritative: opaque tokens, revoked tokens and
 *   tokens of a closed session are all `active: false`. SMART App Launch 2.x §Token Introspection names the fields
 *   (`active`, `scope`, `client_id`, `exp`; `patient`, `sub`, `fhirUser` when the launch had them). An EHR that
 *   takes only a SMART app's bearer token there (the SMART App Launcher) is asked with the user's own token
 *   (`introspectionAuth: 'user-token'`).
 * - `jwks`: the token is a JWT (RFC 9068) signed by the EHR: signature against the `jwks_uri` of the same document,
 *   `iss` = its `issuer`, `aud` = the FHIR base, `exp` in the future. No call per token, but a revoked token stays
 *   valid until its `exp`: for EHRs that issue JWT access tokens and offer the app no introspection.
 *
 * Either way: active, not expired, `aud` the FHIR base of the launch (SMART: the token's audience is the resource
 * server; introspection answers may omit `aud`, then the EHR's own endpoint has vouched for it), `iss` the EHR's
 * issuer where both are known. A refusal is 401 with RFC 6750 `WWW-Authenticate: Bearer error="invalid_token"` and
 * a sentence; an EHR that cannot be asked is 502. Answers are cached briefly (TOKEN_CACHE_SECONDS, never beyond the
 * token's `exp`) in a bounded LRU keyed by a SHA-256 of FHIR base and token, so the viewer's many frame requests cost
 * one introspection; concurrent requests with one token share one call.
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { signClientAssertion, type ClientKey } from './client-key';
import { HttpError, operationOutcome } from './http-error';
import { smartUserOfClaims, type SmartUser } from './smart-user';

export const TOKEN_VERIFICATION_METHODS = ['introspection', 'jwks'] as const;
export type TokenVerificationMethod = (typeof TOKEN_VERIFICATION_METHODS)[number];

export const INTROSPECTION_AUTH_METHODS = ['private_key_jwt', 'user-token'] as const;
export type IntrospectionAuth = (typeof INTROSPECTION_AUTH_METHODS)[number];

export interface EhrTokenSettings {
  method: TokenVerificationMethod;
  /**
   * How ldh-cds authenticates to the introspection endpoint: `private_key_jwt` (its own client assertion, the
   * default) or `user-token` (the user's token as the bearer, which SMART §Token Introspection lets an EHR accept
   * from "an appropriately-scoped SMART App"; the SMART App Launcher takes only that).
   */
  introspectionAuth: IntrospectionAuth;
  /** ldh-cds's client id at this EHR for `private_key_jwt` (its key is the server's client key). */
  introspectionClientId: string;
}

export interface TokenVerifier {
  /** The verified user of the token, or an HttpError (401 refused, 502 the EHR could not be asked). */
  verify(fhirBaseUrl: string, accessToken: string): Promise<SmartUser>;
}

export interface TokenVerifierOptions {
  settingsFor(fhirBaseUrl: string): EhrTokenSettings;
  /** The server's client key (introspection only); a function so it is read once, when first needed. */
  clientKey(): Promise<ClientKey>;
  /** How long an answer is trusted (never beyond the token's exp); default 60 s. */
  cacheTtlMs?: number;
  /** Tokens remembered at once; default 10,000. */
  maxEntries?: number;
  /** Timeout of one request to the EHR; default 10 s. */
  timeoutMs?: number;
  /** The clock, ms since the epoch (tests). */
  now?: () => number;
}

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Asymmetric JWS algorithms only: never `none`, never HMAC (a shared secret would let anyone holding it mint tokens). */
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const DISCOVERY_TTL_MS = 60 * 60 * 1000;

/** 401 with the RFC 6750 §3.1 error; `code` is the short ASCII error_description, `reason` finishes the sentence. */
export function invalidToken(code: string, reason: string): HttpError {
  return new HttpError(
    401,
    operationOutcome('login', `Your EHR session could not be verified: ${reason}. Re-launch ldh-cds from the chart.`),
    { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${code}"` },
  );
}

/** 502: the EHR's authorization server could not be asked, or answered what ldh-cds cannot use. */
function verificationUnavailable(sentence: string): HttpError {
  return new HttpError(502, operationOutcome('transient', sentence));
}

interface SmartConfiguration {
  issuer: string | undefined;
  tokenEndpoint: string | undefined;
  introspectionEndpoint: string | undefined;
  jwks: JWTVerifyGetKey | undefined;
}

type Answer = { user: SmartUser } | { refusal: HttpError };

/** What jose throws for a token that is not a valid one of this issuer (anything else: the keys could not be read). */
function isTokenProblem(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JWTClaimValidationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JOSENotSupported
  );
}

const stripSlash = (url: string): string => url.replace(/\/+$/, '');

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const now = options.now ?? Date.now;
  const cacheTtlMs = options.cacheTtlMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const discovered = new Map<string, { at: number; configuration: Promise<SmartConfiguration> }>();

  const answers = new LRUCache<string, Answer, { fhirBaseUrl: string; accessToken: string }>({
    max: options.maxEntries ?? 10_000,
    ttl: cacheTtlMs,
    perf: { now },
    // Read the clock on every look-up (the default keeps it for 1 ms), so a test's clock moves the cache too.
    ttlResolution: 0,
    fetchMethod: async (_key, _stale, { options: entry, context }) => {
      const answer = await ask(context.fhirBaseUrl, context.accessToken);
      // Never trusted beyond the token's own expiry.
      if ('user' in answer) entry.ttl = Math.max(1, Math.min(cacheTtlMs, answer.user.exp * 1000 - now()));
      return answer;
    },
  });

  async function getJson(url: string, init: RequestInit, what: string): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      // Never follow a redirect: the token (in the introspection body) goes to the address the EHR published only.
      response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw verificationUnavailable(
        `ldh-cds could not check your EHR session: ${what} did not answer (${(error as Error).message}). Try again in a few minutes; call support if this keeps happening.`,
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  function checkedUrl(fhirBaseUrl: string, value: unknown, field: string): string | undefined {
    if (typeof value !== 'string') return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw verificationUnavailable(
        `ldh-cds could not check your EHR session: the EHR's ${field} "${value}" is not a URL. Call support.`,
      );
    }
    // An https FHIR base keeps its tokens on https.
    if (fhirBaseUrl.startsWith('https:') && url.protocol !== 'https:') {
      throw verificationUnavailable(
        `ldh-cds could not check your EHR session: the EHR's ${field} is not https. Call support.`,
      );
    }
    return url.toString();
  }

  async function discover(fhirBaseUrl: string): Promise<SmartConfiguration> {
    const url = `${fhirBaseUrl}/.well-known/smart-configuration`;
    const { status, body } = await getJson(
      url,
      { headers: { Accept: 'application/json' } },
      "the EHR's SMART configuration",
    );
    if (status !== 200 || typeof body !== 'object' || body === null) {
      throw verificationUnavailable(
        `ldh-cds could not check your EHR session: the EHR's SMART configuration (.well-known/smart-configuration) answered HTTP ${status}. Call support.`,
      );
    }
    const document = body as Record<string, unknown>;
    const jwksUri = checkedUrl(fhirBaseUrl, document.jwks_uri, 'jwks_uri');
    return {
      issuer: typeof document.issuer === 'string' ? stripSlash(document.issuer) : undefined,
      tokenEndpoint: checkedUrl(fhirBaseUrl, document.token_endpoint, 'token_endpoint'),
      introspectionEndpoint: checkedUrl(fhirBaseUrl, document.introspection_endpoint, 'introspection_endpoint'),
      jwks: jwksUri === undefined ? undefined : createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: timeoutMs }),
    };
  }

  /** The EHR's SMART configuration, read once an hour; a failed read is not kept. */
  function configurationOf(fhirBaseUrl: string): Promise<SmartConfiguration> {
    const known = discovered.get(fhirBaseUrl);
    if (known && now() - known.at < DISCOVERY_TTL_MS) return known.configuration;
    const configuration = discover(fhirBaseUrl);
    discovered.set(fhirBaseUrl, { at: now(), configuration });
    configuration.catch(() => discovered.delete(fhirBaseUrl));
    return configuration;
  }

  /** The checks both methods share, on claims the EHR vouched for. */
  function userOf(fhirBaseUrl: string, issuer: string | undefined, claims: Record<string, unknown>): Answer {
    const exp = claims.exp;
    if (typeof exp !== 'number') {
      throw verificationUnavailable(
        "ldh-cds could not check your EHR session: the EHR's answer gives no expiry (exp), which SMART requires. Call support.",
      );
    }
    if (exp * 1000 <= now()) return { refusal: invalidToken('token expired', 'the access token has expired') };
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (
      claims.aud !== undefined &&
      !audiences.some((aud) => typeof aud === 'string' && stripSlash(aud) === fhirBaseUrl)
    ) {
      return {
        refusal: invalidToken('token is for another server', 'the access token was issued for another FHIR server'),
      };
    }
    if (issuer !== undefined && typeof claims.iss === 'string' && stripSlash(claims.iss) !== issuer) {
      return { refusal: invalidToken('token from another issuer', 'the access token was issued by another server') };
    }
    return { user: smartUserOfClaims(claims, exp) };
  }

  /** The form fields and headers that authenticate ldh-cds to the introspection endpoint, as the EHR wants it. */
  async function introspectionCredentials(
    settings: EhrTokenSettings,
    accessToken: string,
    tokenEndpoint: string,
  ): Promise<{ fields: Record<string, string>; headers: Record<string, string> }> {
    if (settings.introspectionAuth === 'user-token')
      return { fields: {}, headers: { Authorization: `Bearer ${accessToken}` } };
    const clientId = settings.introspectionClientId;
    const assertion = await signClientAssertion(await options.clientKey(), clientId, tokenEndpoint, new Date(now()));
    return {
      fields: { client_id: clientId, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion },
      headers: {},
    };
  }

  async function introspect(fhirBaseUrl: string, accessToken: string, settings: EhrTokenSettings): Promise<Answer> {
    const configuration = await configurationOf(fhirBaseUrl);
    const { introspectionEndpoint, tokenEndpoint } = configuration;
    if (!introspectionEndpoint || !tokenEndpoint) {
      throw verificationUnavailable(
        `ldh-cds could not check your EHR session: this EHR publishes no ${introspectionEndpoint ? 'token_endpoint' : 'introspection_endpoint'} in its SMART configuration. Call support (the EHR's token verification may be set to jwks).`,
      );
    }
    const credentials = await introspectionCredentials(settings, accessToken, tokenEndpoint);
    const { status, body } = await getJson(
      introspectionEndpoint,
      {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          ...credentials.headers,
        },
        body: new URLSearchParams({ token: accessToken, token_type_hint: 'access_token', ...credentials.fields }),
      },
      "the EHR's token introspection endpoint",
    );
    // Authenticated by the user's own token: the EHR refusing it as a credential refuses the token.
    if (settings.introspectionAuth === 'user-token' && (status === 401 || status === 403)) {
      return { refusal: invalidToken('token is not active', 'the EHR does not accept this access token') };
    }
    if (status !== 200 || typeof body !== 'object' || body === null) {
      const error = (body as { error?: unknown } | undefined)?.error;
      throw verificationUnavailable(
        status === 400 || status === 401 || status === 403
          ? `ldh-cds could not check your EHR session: the EHR refused ldh-cds's own credentials for token introspection (HTTP ${status}${typeof error === 'string' ? `, ${error}` : ''}). Call support: the app server's registration with this EHR (client ${settings.introspectionClientId}, its key) needs checking.`
          : `ldh-cds could not check your EHR session: the EHR's token introspection endpoint answered HTTP ${status}. Try again in a few minutes; call support if this keeps happening.`,
      );
    }
    const claims = body as Record<string, unknown>;
    if (claims.active !== true) {
      return {
        refusal: invalidToken(
          'token is not active',
          'the EHR says this access token is not active (expired, revoked, or not one it issued)',
        ),
      };
    }
    // A refresh token is active too, but it is not an access token.
    if (typeof claims.token_type === 'string' && claims.token_type.toLowerCase() !== 'bearer') {
      return { refusal: invalidToken('not an access token', 'this is not an access token') };
    }
    return userOf(fhirBaseUrl, configuration.issuer, claims);
  }

  async function verifyJwt(fhirBaseUrl: string, accessToken: string): Promise<Answer> {
    const { issuer, jwks } = await configurationOf(fhirBaseUrl);
    if (!jwks || !issuer) {
      throw verificationUnavailable(
        `ldh-cds could not check your EHR session: this EHR publishes no ${jwks ? 'issuer' : 'jwks_uri'} in its SMART configuration, so its tokens cannot be verified by signature. Call support (the EHR's token verification may be set to introspection).`,
      );
    }
    try {
      const { payload } = await jwtVerify(accessToken, jwks, {
        algorithms: JWT_ALGORITHMS,
        issuer: [issuer, `${issuer}/`],
        audience: [fhirBaseUrl, `${fhirBaseUrl}/`],
        requiredClaims: ['exp'],
        currentDate: new Date(now()),
      });
      return userOf(fhirBaseUrl, issuer, payload);
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        return { refusal: invalidToken('token expired', 'the access token has expired') };
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') {
        return {
          refusal: invalidToken('token is for another server', 'the access token was issued for another FHIR server'),
        };
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'iss') {
        return { refusal: invalidToken('token from another issuer', 'the access token was issued by another server') };
      }
      if (isTokenProblem(error)) {
        // Not a JWT, a bad signature, an unknown key, a forbidden algorithm, a missing claim: not this EHR's token.
        return {
          refusal: invalidToken('token not issued by this EHR', 'the access token is not one this EHR signed'),
        };
      }
      throw verificationUnavailable(
        "ldh-cds could not check your EHR session: the EHR's signing keys (jwks_uri) could not be read. Try again in a few minutes; call support if this keeps happening.",
      );
    }
  }

  async function ask(fhirBaseUrl: string, accessToken: string): Promise<Answer> {
    const settings = options.settingsFor(fhirBaseUrl);
    return settings.method === 'jwks'
      ? verifyJwt(fhirBaseUrl, accessToken)
      : introspect(fhirBaseUrl, accessToken, settings);
  }

  return {
    async verify(fhirBaseUrl, accessToken) {
      const base = stripSlash(fhirBaseUrl);
      const key = createHash('sha256').update(`${base}\u0000${accessToken}`).digest('base64url');
      const answer = await answers.fetch(key, { context: { fhirBaseUrl: base, accessToken } });
      if (!answer) throw new Error('token verification gave no answer');
      if ('refusal' in answer) throw answer.refusal;
      return answer.user;
    },
  };
}
