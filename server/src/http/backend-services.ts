/**
 * SMART Backend Services (HL7 SMART App Launch 2.x "Backend Services"): how a queue worker is authorized at the EHR
 * (docs/deploy.md §Worker authorization). A worker acts with no user present and holds no user's token — none is
 * stored in Redis — so it asks the EHR's token endpoint for its own: the `client_credentials` grant, authenticated by
 * an RFC 7523 client assertion (`private_key_jwt`, ES384, signed with the server's key, CLIENT_KEY_FILE, as
 * `ldh-cds-server`), for the `system/` scopes of exactly what the pipeline reads and writes (BACKEND_SCOPES).
 *
 * The token endpoint comes from `{fhirBase}/.well-known/smart-configuration` (read once an hour); a token is reused
 * until a minute before it expires, concurrent requests for one EHR share one call, and it goes to that EHR (and its
 * imaging origins) only, as the user's token did. A refusal or an EHR that cannot be asked is 502 with a sentence
 * naming what to register.
 */
import { signClientAssertion, type ClientKey } from './client-key';
import { trustedEhrOf, type EhrRegistration } from '../trusted-ehrs';
import { HttpError, operationOutcome } from './http-error';

/**
 * What an analysis reads and writes, as SMART v2 `system/` scopes: the study, its Endpoint and Patient (the
 * wrong-patient guard), the stored reports and their Observations, SR and Provenance; the transaction's conditional
 * creates and the update of a superseded report. DICOMweb takes the same token (ImagingStudy read; the SR's STOW-RS a
 * DiagnosticReport create).
 */
export const DEFAULT_BACKEND_SCOPES = [
  'system/ImagingStudy.rs',
  'system/Endpoint.r',
  'system/Patient.r',
  'system/DiagnosticReport.crus',
  'system/Observation.crus',
  'system/DocumentReference.crus',
  'system/Provenance.crs',
  'system/Device.crs',
].join(' ');

/** Who the server is at one EHR, as a Backend Services client. */
export interface BackendRegistration {
  /** Its client id there (BACKEND_CLIENT_ID, `ldh-cds-server`, or the EHR's `backendClientId` in EHRS_FILE). */
  clientId: string;
  /** Space-separated `system/` scopes (BACKEND_SCOPES, or the EHR's `backendScopes`). */
  scope: string;
}

export interface BackendTokensOptions {
  clientKey: () => Promise<ClientKey>;
  /** The registration at the EHR of this FHIR base (backendRegistrationFor). */
  registrationFor: (fhirBaseUrl: string) => BackendRegistration;
  /** Timeout of one request to the EHR, ms (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

export interface BackendTokens {
  /** A `system/` access token for the EHR of this FHIR base; 502 when the EHR cannot be asked or refuses. */
  tokenFor(fhirBaseUrl: string): Promise<string>;
  /**
   * Drops this EHR's token when it is `refused` (the EHR answered 401 to it: revoked, or expired before its
   * `expires_in`), so that the next `tokenFor` asks for a new one; a newer token is kept.
   */
  forget(fhirBaseUrl: string, refused: string): void;
}

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** A token is not used in its last minute: a long request must not carry one that expires on the way. */
const EXPIRY_MARGIN_MS = 60_000;

function unavailable(sentence: string): HttpError {
  return new HttpError(502, operationOutcome('security', sentence));
}

export function createBackendTokens(options: BackendTokensOptions): BackendTokens {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const endpoints = new Map<string, { at: number; tokenEndpoint: Promise<string> }>();
  const tokens = new Map<string, { token: string; expiresAt: number }>();
  const pending = new Map<string, Promise<string>>();

  async function postOrGet(url: string, init: RequestInit, what: string): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      // No redirect is followed: the assertion goes to the address the EHR published only.
      response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw unavailable(
        `ldh-cds could not get its own access token from the EHR: ${what} did not answer (${(error as Error).message}). The analysis is tried again.`,
      );
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  async function discover(fhirBaseUrl: string): Promise<string> {
    const { status, body } = await postOrGet(
      `${fhirBaseUrl}/.well-known/smart-configuration`,
      { headers: { Accept: 'application/json' } },
      "the EHR's SMART configuration",
    );
    const endpoint = (body as { token_endpoint?: unknown } | undefined)?.token_endpoint;
    if (status !== 200 || typeof endpoint !== 'string') {
      throw unavailable(
        `ldh-cds could not get its own access token from the EHR: its SMART configuration (HTTP ${status}) names no token_endpoint. Call support.`,
      );
    }
    const url = new URL(endpoint, fhirBaseUrl);
    if (fhirBaseUrl.startsWith('https:') && url.protocol !== 'https:') {
      throw unavailable(
        "ldh-cds could not get its own access token from the EHR: the EHR's token_endpoint is not https. Call support.",
      );
    }
    return url.toString();
  }

  function tokenEndpointOf(fhirBaseUrl: string): Promise<string> {
    const known = endpoints.get(fhirBaseUrl);
    if (known && now() - known.at < DISCOVERY_TTL_MS) return known.tokenEndpoint;
    const tokenEndpoint = discover(fhirBaseUrl);
    endpoints.set(fhirBaseUrl, { at: now(), tokenEndpoint });
    tokenEndpoint.catch(() => endpoints.delete(fhirBaseUrl));
    return tokenEndpoint;
  }

  async function request(fhirBaseUrl: string): Promise<string> {
    const { clientId, scope } = options.registrationFor(fhirBaseUrl);
    const tokenEndpoint = await tokenEndpointOf(fhirBaseUrl);
    const assertion = await signClientAssertion(await options.clientKey(), clientId, tokenEndpoint, new Date(now()));
    const { status, body } = await postOrGet(
      tokenEndpoint,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope,
          client_assertion_type: JWT_BEARER_ASSERTION,
          client_assertion: assertion,
        }).toString(),
      },
      "the EHR's token endpoint",
    );
    const answer = (body ?? {}) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    if (status !== 200 || typeof answer.access_token !== 'string') {
      const error = typeof answer.error === 'string' ? ` (${answer.error.replace(/[^\w.-]/g, '')})` : '';
      throw unavailable(
        `ldh-cds could not get its own access token from the EHR: its token endpoint refused ${clientId} (HTTP ${status}${error}). The EHR must register ${clientId} as a SMART Backend Services client (client_credentials, private_key_jwt with the key at /.well-known/jwks.json) allowed the scopes ${scope} (docs/deploy.md).`,
      );
    }
    const lifetimeS = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 300;
    tokens.set(fhirBaseUrl, { token: answer.access_token, expiresAt: now() + lifetimeS * 1000 });
    return answer.access_token;
  }

  return {
    tokenFor(fhirBaseUrl) {
      const base = fhirBaseUrl.replace(/\/+$/, '');
      const known = tokens.get(base);
      if (known && known.expiresAt - EXPIRY_MARGIN_MS > now()) return Promise.resolve(known.token);
      let asked = pending.get(base);
      if (!asked) {
        asked = request(base).finally(() => pending.delete(base));
        pending.set(base, asked);
      }
      return asked;
    },
    forget(fhirBaseUrl, refused) {
      const base = fhirBaseUrl.replace(/\/+$/, '');
      if (tokens.get(base)?.token === refused) tokens.delete(base);
    },
  };
}

/** The configuration that says who the server is at each EHR (config.ts: EHRS_FILE, BACKEND_CLIENT_ID, BACKEND_SCOPES). */
export interface BackendConfig {
  EHRS: readonly (EhrRegistration & { fhirBaseUrl: string })[];
  BACKEND_CLIENT_ID: string;
  BACKEND_SCOPES: string;
}

/** Who ldh-cds is at this EHR as a Backend Services client: its EHRS_FILE entry, else BACKEND_CLIENT_ID and BACKEND_SCOPES. */
export function backendRegistrationFor(config: BackendConfig, fhirBaseUrl: string): BackendRegistration {
  const ehr = trustedEhrOf(config.EHRS, fhirBaseUrl);
  return {
    clientId: ehr?.backendClientId ?? config.BACKEND_CLIENT_ID,
    scope: ehr?.backendScopes ?? config.BACKEND_SCOPES,
  };
}

/** The server's own tokens as the configuration registers it at each EHR. */
export function backendTokensFor(config: BackendConfig, clientKey: () => Promise<ClientKey>): BackendTokens {
  return createBackendTokens({
    clientKey,
    registrationFor: (fhirBaseUrl) => backendRegistrationFor(config, fhirBaseUrl),
  });
}
