/**
 * The SMART authorization server: `/oauth/authorize`, `/oauth/token`, `/oauth/jwks` (SMART App Launch 2.x
 * "App Launch", RFC 6749, RFC 7636). OAuth endpoints answer RFC 6749 errors, never OperationOutcome.
 */
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { errorPage, oauthError, type OAuthErrorCode } from '../http/errors';
import { buildRouter, type Route } from '../http/route-table';
import type { ClientRegistry, SmartClient } from './clients';
import type { Grant, GrantStore } from './grant-store';
import { isValidS256Challenge, isValidVerifier, verifyS256 } from './pkce';
import { isScopeCovered, splitScopes } from './scopes';
import type { SigningKey } from './signing-key';
import { ACCESS_TOKEN_TTL_S, type TokenIssuer } from './tokens';

export interface OAuthRouterOptions {
  clients: ClientRegistry;
  grants: GrantStore;
  tokens: TokenIssuer;
  signingKey: SigningKey;
  fhirBaseUrl: string;
  logger: Logger;
}

export function buildOAuthRouter(options: OAuthRouterOptions): express.Router {
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const routes: Route[] = [
    {
      method: 'get',
      path: '/authorize',
      handler: (req, res) => {
        handleAuthorize(options, readParams(req.query), res);
      },
      spec: 'SMART "Obtain authorization code"; RFC 6749 §4.1.1',
    },
    {
      method: 'post',
      path: '/authorize',
      before: [form],
      handler: (req, res) => {
        handleAuthorize(options, readParams(req.body), res);
      },
      spec: 'SMART allows POST to authorize (form-encoded)',
    },
    {
      method: 'post',
      path: '/token',
      before: [form],
      handler: (req, res) => handleToken(options, req, res),
      spec: 'SMART "Obtain access token"; RFC 6749 §4.1.3, §6',
    },
    {
      method: 'get',
      path: '/jwks',
      handler: (_req, res) => {
        res.json({ keys: [options.signingKey.publicJwk] });
      },
      spec: 'RFC 7517 JWK Set of the token signing key',
    },
  ];
  return buildRouter(routes);
}

type Params = Record<string, string | undefined>;

/** Query or form values as single strings; a repeated parameter is an error (RFC 6749 §3.1). */
function readParams(source: unknown): Params {
  const params: Params = {};
  if (typeof source !== 'object' || source === null) return params;
  for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
    if (typeof value === 'string') params[key] = value;
    else if (Array.isArray(value)) throw oauthError('invalid_request', `parameter "${key}" is repeated`);
  }
  return params;
}

/**
 * RFC 6749 §4.1.2.1: if `client_id` or `redirect_uri` is missing or wrong we MUST NOT redirect — show a page.
 * Every later problem is reported to the client by redirecting with `error`, `error_description` and `state`.
 */
function handleAuthorize(options: OAuthRouterOptions, params: Params, res: Response): void {
  const client = params.client_id === undefined ? undefined : options.clients.get(params.client_id);
  if (!client) {
    throw errorPage(
      400,
      'Unknown application',
      `client_id "${params.client_id ?? ''}" is not registered with this EHR.`,
    );
  }
  const redirectUri = params.redirect_uri;
  if (redirectUri === undefined || !client.redirectUris.includes(redirectUri)) {
    throw errorPage(
      400,
      'Invalid redirect_uri',
      `redirect_uri "${redirectUri ?? ''}" is not registered for ${client.clientId} (exact match required).`,
    );
  }
  const redirectError = (error: OAuthErrorCode, description: string): void => {
    options.logger.info({ clientId: client.clientId, error }, `authorize refused: ${description}`);
    res.redirect(302, withQuery(redirectUri, { error, error_description: description, state: params.state }));
  };

  if (params.response_type !== 'code') {
    redirectError('unsupported_response_type', 'response_type must be "code"');
    return;
  }
  // SMART 2.x: state is REQUIRED and must be echoed; without it the app cannot protect against CSRF.
  if (params.state === undefined || params.state === '') {
    redirectError('invalid_request', 'state is required');
    return;
  }
  // SMART 2.x: PKCE is mandatory and only S256 is allowed ("plain" MUST NOT be supported).
  if (params.code_challenge_method !== 'S256') {
    redirectError(
      'invalid_request',
      `code_challenge_method must be S256 (got "${params.code_challenge_method ?? ''}")`,
    );
    return;
  }
  if (params.code_challenge === undefined || !isValidS256Challenge(params.code_challenge)) {
    redirectError('invalid_request', 'code_challenge is required: base64url SHA-256 of the code_verifier');
    return;
  }
  // SMART: "aud" is the FHIR base URL the app intends to talk to; refuse tokens meant for another server.
  if (stripSlash(params.aud ?? '') !== options.fhirBaseUrl) {
    redirectError('invalid_request', `aud must be this EHR's FHIR base URL ${options.fhirBaseUrl}`);
    return;
  }
  const scopes = grantableScopes(client, params.scope);
  if (scopes.length === 0) {
    redirectError('invalid_scope', 'none of the requested scopes is allowed for this client');
    return;
  }
  if (params.launch === undefined) {
    redirectError('invalid_request', 'launch is required: this EHR supports EHR launch (open the app from a chart)');
    return;
  }
  if (!scopes.includes('launch')) {
    redirectError('invalid_scope', 'an EHR launch must request the "launch" scope');
    return;
  }
  const launch = options.grants.getLaunch(params.launch);
  if (!launch) {
    redirectError('invalid_request', 'launch is unknown or expired: launch the app again from the chart');
    return;
  }
  // The practitioner is signed in to the chart that created the launch: approve without a consent screen.
  const code = options.grants.createCode(
    { clientId: client.clientId, scopes, ...launch },
    redirectUri,
    params.code_challenge,
  );
  options.logger.info({ clientId: client.clientId }, 'authorization code issued');
  res.redirect(302, withQuery(redirectUri, { code, state: params.state }));
}

async function handleToken(options: OAuthRouterOptions, req: Request, res: Response): Promise<void> {
  if (!req.is('application/x-www-form-urlencoded')) {
    throw oauthError(
      'invalid_request',
      'the token request must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)',
    );
  }
  const params = readParams(req.body);
  let grant: Grant;
  switch (params.grant_type) {
    case 'authorization_code':
      grant = redeemAuthorizationCode(options, params);
      break;
    case 'refresh_token':
      grant = redeemRefreshToken(options, params);
      break;
    case undefined:
      throw oauthError('invalid_request', 'grant_type is required');
    default:
      throw oauthError('unsupported_grant_type', `grant_type "${params.grant_type}" is not supported`);
  }
  const accessToken = await options.tokens.issueAccessToken(grant);
  const body: Record<string, string | number | boolean> = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_TTL_S,
    scope: grant.scopes.join(' '),
    patient: grant.patientId,
    need_patient_banner: true,
    refresh_token: options.grants.createRefreshToken(grant),
  };
  if (grant.scopes.includes('openid')) body.id_token = await options.tokens.issueIdToken(grant);
  options.logger.info({ clientId: grant.clientId, grantType: params.grant_type }, 'access token issued');
  // RFC 6749 §5.1: tokens must not be cached.
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json(body);
}

function redeemAuthorizationCode(options: OAuthRouterOptions, params: Params): Grant {
  const code = requireParam(params, 'code');
  const redirectUri = requireParam(params, 'redirect_uri');
  const clientId = requireParam(params, 'client_id');
  const verifier = requireParam(params, 'code_verifier');
  // A public client authenticates only by client_id (RFC 6749 §4.1.3); it must be registered.
  if (!options.clients.has(clientId)) throw oauthError('invalid_client', `client_id "${clientId}" is not registered`);
  const redeemed = options.grants.redeemCode(code);
  if (!redeemed.ok) throw oauthError('invalid_grant', redeemed.reason);
  const stored = redeemed.code;
  if (stored.clientId !== clientId) throw oauthError('invalid_grant', 'the code was issued to another client');
  // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the authorization request.
  if (stored.redirectUri !== redirectUri)
    throw oauthError('invalid_grant', 'redirect_uri does not match the authorization request');
  if (!isValidVerifier(verifier))
    throw oauthError('invalid_grant', 'code_verifier must be 43–128 unreserved characters (RFC 7636 §4.1)');
  if (!verifyS256(verifier, stored.codeChallenge))
    throw oauthError('invalid_grant', 'code_verifier does not match the code_challenge (S256)');
  return {
    clientId: stored.clientId,
    scopes: stored.scopes,
    patientId: stored.patientId,
    practitionerId: stored.practitionerId,
  };
}

function requireParam(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === '') throw oauthError('invalid_request', `${name} is required`);
  return value;
}

/** RFC 6749 §6: the new token may carry the same or fewer scopes. */
function redeemRefreshToken(options: OAuthRouterOptions, params: Params): Grant {
  if (params.refresh_token === undefined || params.refresh_token === '')
    throw oauthError('invalid_request', 'refresh_token is required');
  const grant = options.grants.getRefreshGrant(params.refresh_token);
  if (!grant) throw oauthError('invalid_grant', 'refresh_token is unknown or expired');
  if (params.client_id !== undefined && params.client_id !== grant.clientId) {
    throw oauthError('invalid_grant', 'refresh_token was issued to another client');
  }
  if (params.scope === undefined) return grant;
  const requested = splitScopes(params.scope);
  const extra = requested.filter((scope) => !grant.scopes.includes(scope));
  if (extra.length > 0) throw oauthError('invalid_scope', `scope exceeds the original grant: ${extra.join(' ')}`);
  return { ...grant, scopes: requested };
}

/** The requested scopes narrowed to what the client is registered for (SMART: the server may grant fewer). */
function grantableScopes(client: SmartClient, scope: string | undefined): string[] {
  return [...new Set(splitScopes(scope))].filter((item) => isScopeCovered(item, client.allowedScopes));
}

function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
