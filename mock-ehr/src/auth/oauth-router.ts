/**
 * The SMART authorization server (SMART App Launch 2.x, RFC 6749, RFC 7636, RFC 7523, RFC 7662, RFC 7009).
 * OAuth endpoints answer RFC 6749 errors, never OperationOutcome; browser steps that must not redirect
 * (unknown client, unregistered redirect_uri, expired standalone request) show an HTML page.
 */
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { bearerTokenOf } from '../../../server/src/http/bearer-token';
import { errorPage, oauthError, type OAuthErrorCode } from '../http/errors';
import { buildRouter, type Route } from '../http/route-table';
import type { ClientAuthenticator } from './client-auth';
import type { ClientRegistry, SmartClient } from './clients';
import type { Grant, GrantStore, PendingAuthorization } from './grant-store';
import { isValidS256Challenge, isValidVerifier, verifyS256 } from './pkce';
import { isScopeCovered, parseScope, splitScopes } from './scopes';
import type { SigningKey } from './signing-key';
import { requireDevTools } from '../http/dev-tools';
import { DEMO_USER, renderConsent, renderLogin, renderPatientPicker, type PatientChoice } from './standalone-pages';
import { InvalidAccessTokenError, type TokenIssuer } from './tokens';

export interface OAuthRouterOptions {
  clients: ClientRegistry;
  clientAuth: ClientAuthenticator;
  grants: GrantStore;
  tokens: TokenIssuer;
  signingKey: SigningKey;
  fhirBaseUrl: string;
  /** The signed-in user of the standalone login (the seeded Practitioner). */
  practitionerId: string;
  listPatients: () => Promise<PatientChoice[]>;
  /** SMART `smart_style_url` (capability context-style). */
  smartStyleUrl: string;
  logger: Logger;
  /** The development tools are on (http/dev-tools.ts): the demo sign-in of the standalone launch works. */
  devTools?: boolean;
}

export function buildOAuthRouter(options: OAuthRouterOptions): express.Router {
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const demoSignIn = requireDevTools(options.devTools === true, 'The demo sign-in (standalone launch)');
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
      method: 'get',
      path: '/login',
      before: [demoSignIn],
      handler: (req, res) => {
        const { id, pending } = requirePending(options, readParams(req.query).request);
        res.type('html').send(renderLogin(id, clientName(options, pending), false));
      },
      spec: 'Standalone launch: sign in',
    },
    {
      method: 'post',
      path: '/login',
      before: [demoSignIn, form],
      handler: (req, res) => {
        handleLogin(options, readParams(req.body), res);
      },
      spec: 'Standalone launch: sign in',
    },
    {
      method: 'get',
      path: '/select-patient',
      handler: async (req, res) => {
        const { id, pending } = requirePending(options, readParams(req.query).request);
        if (pending.practitionerId === undefined) throw stepOutOfOrder();
        res.type('html').send(renderPatientPicker(id, clientName(options, pending), await options.listPatients()));
      },
      spec: 'Standalone launch: patient picker (launch/patient)',
    },
    {
      method: 'post',
      path: '/select-patient',
      before: [form],
      handler: (req, res) => handleSelectPatient(options, readParams(req.body), res),
      spec: 'Standalone launch: patient picker (launch/patient)',
    },
    {
      method: 'get',
      path: '/consent',
      handler: async (req, res) => {
        const { id, pending } = requirePending(options, readParams(req.query).request);
        assertReadyForConsent(pending);
        const patient = (await options.listPatients()).find((p) => p.id === pending.patientId);
        res.type('html').send(renderConsent(id, clientName(options, pending), pending.scopes, patient?.name));
      },
      spec: 'Standalone launch: consent to the requested scopes',
    },
    {
      method: 'post',
      path: '/consent',
      before: [form],
      handler: (req, res) => {
        handleConsent(options, readParams(req.body), res);
      },
      spec: 'Standalone launch: consent; deny → access_denied (RFC 6749 §4.1.2.1)',
    },
    {
      method: 'post',
      path: '/token',
      before: [form],
      handler: (req, res) => handleToken(options, req, res),
      spec: 'SMART "Obtain access token"; RFC 6749 §4.1.3, §4.4, §6; RFC 7523 client assertions',
    },
    {
      method: 'post',
      path: '/introspect',
      before: [form],
      handler: (req, res) => handleIntrospect(options, req, res),
      spec: 'RFC 7662 token introspection (SMART "Token Introspection")',
    },
    {
      method: 'post',
      path: '/revoke',
      before: [form],
      handler: (req, res) => handleRevoke(options, req, res),
      spec: 'RFC 7009 token revocation',
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
  if (!client.grantTypes.has('authorization_code')) {
    redirectError('unauthorized_client', `${client.clientId} is not registered for the authorization_code grant`);
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
  const requested = [...new Set(splitScopes(params.scope))];
  if (requested.length === 0) {
    redirectError('invalid_scope', 'scope is required');
    return;
  }
  // Strict on purpose: a real EHR refuses (or silently drops) scopes an app is not registered for; refusing
  // tells the developer at once which scope to register in smart-config/clients.json.
  const refused = requested.filter((scope) => !isScopeCovered(scope, client.allowedScopes));
  if (refused.length > 0) {
    redirectError('invalid_scope', `${client.clientId} may not request: ${refused.join(' ')}`);
    return;
  }
  if (requested.some((scope) => parseScope(scope)?.context === 'system')) {
    redirectError('invalid_scope', 'system/ scopes are for backend services (client_credentials), not user launches');
    return;
  }

  if (params.launch !== undefined) {
    if (!requested.includes('launch')) {
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
      {
        clientId: client.clientId,
        scopes: requested,
        ...launch,
        ...(params.nonce !== undefined ? { nonce: params.nonce } : {}),
      },
      redirectUri,
      params.code_challenge,
    );
    options.logger.info({ clientId: client.clientId }, 'authorization code issued (EHR launch)');
    res.redirect(302, withQuery(redirectUri, { code, state: params.state }));
    return;
  }
  if (requested.includes('launch')) {
    redirectError('invalid_request', 'the "launch" scope needs the launch parameter the EHR sent to the app');
    return;
  }
  // Standalone launch: sign in → (patient picker) → consent, then the code.
  const pendingId = options.grants.createPending({
    clientId: client.clientId,
    redirectUri,
    state: params.state,
    codeChallenge: params.code_challenge,
    scopes: requested,
    ...(params.nonce !== undefined ? { nonce: params.nonce } : {}),
  });
  res.redirect(303, `login?request=${encodeURIComponent(pendingId)}`);
}

function requirePending(
  options: OAuthRouterOptions,
  id: string | undefined,
): { id: string; pending: PendingAuthorization } {
  const pending = options.grants.getPending(id);
  if (id === undefined || !pending) {
    throw errorPage(400, 'Authorization expired', 'This sign-in request is unknown or expired: start the app again.');
  }
  return { id, pending };
}

function stepOutOfOrder(): Error {
  return errorPage(400, 'Sign in first', 'This step of the authorization needs the earlier steps first.');
}

function needsPatient(pending: PendingAuthorization): boolean {
  return pending.scopes.includes('launch/patient');
}

function assertReadyForConsent(pending: PendingAuthorization): void {
  if (pending.practitionerId === undefined || (needsPatient(pending) && pending.patientId === undefined)) {
    throw stepOutOfOrder();
  }
}

function clientName(options: OAuthRouterOptions, pending: PendingAuthorization): string {
  return options.clients.get(pending.clientId)?.name ?? pending.clientId;
}

function handleLogin(options: OAuthRouterOptions, params: Params, res: Response): void {
  const { id, pending } = requirePending(options, params.request);
  if (params.username !== DEMO_USER.username || params.password !== DEMO_USER.password) {
    options.logger.info('standalone login refused');
    res
      .status(401)
      .type('html')
      .send(renderLogin(id, clientName(options, pending), true));
    return;
  }
  pending.practitionerId = options.practitionerId;
  const next = needsPatient(pending) ? 'select-patient' : 'consent';
  res.redirect(303, `${next}?request=${encodeURIComponent(id)}`);
}

async function handleSelectPatient(options: OAuthRouterOptions, params: Params, res: Response): Promise<void> {
  const { id, pending } = requirePending(options, params.request);
  if (pending.practitionerId === undefined) throw stepOutOfOrder();
  const patients = await options.listPatients();
  if (!patients.some((patient) => patient.id === params.patient)) {
    throw errorPage(400, 'Unknown patient', 'Select one of the listed patients.');
  }
  pending.patientId = params.patient;
  res.redirect(303, `consent?request=${encodeURIComponent(id)}`);
}

function handleConsent(options: OAuthRouterOptions, params: Params, res: Response): void {
  const { id, pending } = requirePending(options, params.request);
  assertReadyForConsent(pending);
  options.grants.finishPending(id);
  if (params.decision !== 'allow') {
    res.redirect(
      302,
      withQuery(pending.redirectUri, {
        error: 'access_denied',
        error_description: 'the user denied the request',
        state: pending.state,
      }),
    );
    return;
  }
  const grant: Grant = { clientId: pending.clientId, scopes: pending.scopes };
  if (pending.practitionerId !== undefined) grant.practitionerId = pending.practitionerId;
  if (pending.patientId !== undefined) grant.patientId = pending.patientId;
  if (pending.nonce !== undefined) grant.nonce = pending.nonce;
  const code = options.grants.createCode(grant, pending.redirectUri, pending.codeChallenge);
  options.logger.info({ clientId: pending.clientId }, 'authorization code issued (standalone launch)');
  res.redirect(302, withQuery(pending.redirectUri, { code, state: pending.state }));
}

function assertFormEncoded(req: Request): void {
  if (!req.is('application/x-www-form-urlencoded')) {
    throw oauthError('invalid_request', 'the request must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)');
  }
}

async function handleToken(options: OAuthRouterOptions, req: Request, res: Response): Promise<void> {
  assertFormEncoded(req);
  const params = readParams(req.body);
  let grant: Grant;
  switch (params.grant_type) {
    case 'authorization_code':
      grant = await redeemAuthorizationCode(options, params);
      break;
    case 'refresh_token':
      grant = await redeemRefreshToken(options, params);
      break;
    case 'client_credentials':
      grant = await grantClientCredentials(options, params);
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
    expires_in: options.tokens.accessTokenTtlS,
    scope: grant.scopes.join(' '),
  };
  if (grant.patientId !== undefined) {
    body.patient = grant.patientId;
    body.need_patient_banner = true;
  }
  if (grant.practitionerId !== undefined) body.smart_style_url = options.smartStyleUrl;
  // CDS Hooks 2.0 Link.appContext: "passed to the SMART app … in the access token response".
  if (grant.appContext !== undefined) body.appContext = grant.appContext;
  // SMART: a refresh token only for `offline_access` / `online_access`; never for client_credentials.
  if (
    params.grant_type !== 'client_credentials' &&
    (grant.scopes.includes('offline_access') || grant.scopes.includes('online_access'))
  ) {
    body.refresh_token = options.grants.createRefreshToken(grant);
  }
  if (grant.scopes.includes('openid')) {
    const idToken = await options.tokens.issueIdToken(grant);
    if (idToken !== undefined) body.id_token = idToken;
  }
  options.logger.info({ clientId: grant.clientId, grantType: params.grant_type }, 'access token issued');
  // RFC 6749 §5.1: tokens must not be cached.
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json(body);
}

function assertGrantAllowed(
  client: SmartClient,
  grantType: 'authorization_code' | 'refresh_token' | 'client_credentials',
): void {
  if (!client.grantTypes.has(grantType)) {
    throw oauthError('unauthorized_client', `${client.clientId} is not registered for the ${grantType} grant`);
  }
}

async function redeemAuthorizationCode(options: OAuthRouterOptions, params: Params): Promise<Grant> {
  // A public client identifies itself by client_id (RFC 6749 §4.1.3); a confidential one authenticates.
  const client = await options.clientAuth.authenticate(params);
  assertGrantAllowed(client, 'authorization_code');
  const code = requireParam(params, 'code');
  const redirectUri = requireParam(params, 'redirect_uri');
  // RFC 7636 §4.5: the verifier is REQUIRED in the token request when the code was issued with a challenge.
  const verifier = requireParam(params, 'code_verifier');
  const redeemed = options.grants.redeemCode(code);
  if (!redeemed.ok) throw oauthError('invalid_grant', redeemed.reason);
  const stored = redeemed.code;
  if (stored.clientId !== client.clientId) throw oauthError('invalid_grant', 'the code was issued to another client');
  // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the authorization request.
  if (stored.redirectUri !== redirectUri)
    throw oauthError('invalid_grant', 'redirect_uri does not match the authorization request');
  if (!isValidVerifier(verifier))
    throw oauthError('invalid_grant', 'code_verifier must be 43–128 unreserved characters (RFC 7636 §4.1)');
  if (!verifyS256(verifier, stored.codeChallenge))
    throw oauthError('invalid_grant', 'code_verifier does not match the code_challenge (S256)');
  const grant: Grant = { clientId: stored.clientId, scopes: stored.scopes };
  if (stored.patientId !== undefined) grant.patientId = stored.patientId;
  if (stored.practitionerId !== undefined) grant.practitionerId = stored.practitionerId;
  if (stored.appContext !== undefined) grant.appContext = stored.appContext;
  if (stored.nonce !== undefined) grant.nonce = stored.nonce;
  return grant;
}

function requireParam(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === '') throw oauthError('invalid_request', `${name} is required`);
  return value;
}

/** RFC 6749 §6: confidential clients authenticate; the new token may carry the same or fewer scopes. */
async function redeemRefreshToken(options: OAuthRouterOptions, params: Params): Promise<Grant> {
  const refreshToken = requireParam(params, 'refresh_token');
  const grant = options.grants.getRefreshGrant(refreshToken);
  const owner = grant === undefined ? undefined : options.clients.get(grant.clientId);
  const authenticates = params.client_assertion !== undefined || params.client_id !== undefined;
  if (authenticates || owner?.authMethod === 'private_key_jwt') {
    const client = await options.clientAuth.authenticate({ ...params, client_id: params.client_id ?? grant?.clientId });
    if (grant && client.clientId !== grant.clientId) {
      throw oauthError('invalid_grant', 'refresh_token was issued to another client');
    }
  }
  if (!grant || !owner) throw oauthError('invalid_grant', 'refresh_token is unknown, expired or revoked');
  assertGrantAllowed(owner, 'refresh_token');
  if (params.scope === undefined) return grant;
  const requested = splitScopes(params.scope);
  const extra = requested.filter((scope) => !grant.scopes.includes(scope));
  if (extra.length > 0) throw oauthError('invalid_scope', `scope exceeds the original grant: ${extra.join(' ')}`);
  return { ...grant, scopes: requested };
}

/** SMART Backend Services: client_credentials with private_key_jwt and `system/` scopes only. */
async function grantClientCredentials(options: OAuthRouterOptions, params: Params): Promise<Grant> {
  if (params.client_assertion === undefined) {
    throw oauthError('invalid_client', 'client_credentials needs client authentication with a client_assertion');
  }
  const client = await options.clientAuth.authenticate(params);
  assertGrantAllowed(client, 'client_credentials');
  const requested = [...new Set(splitScopes(params.scope))];
  if (requested.length === 0) throw oauthError('invalid_scope', 'scope is required');
  const refused = requested.filter(
    (scope) => parseScope(scope)?.context !== 'system' || !isScopeCovered(scope, client.allowedScopes),
  );
  if (refused.length > 0) {
    throw oauthError('invalid_scope', `${client.clientId} may not be granted: ${refused.join(' ')}`);
  }
  return { clientId: client.clientId, scopes: requested };
}

/**
 * RFC 7662: the caller is a resource server — a backend service holding a valid `system/` access token (Bearer) —
 * or a confidential client authenticating with its assertion; an app's user or patient token may not look into
 * other tokens. Unknown, expired and revoked tokens are `{ "active": false }`.
 */
async function handleIntrospect(options: OAuthRouterOptions, req: Request, res: Response): Promise<void> {
  assertFormEncoded(req);
  const params = readParams(req.body);
  const bearer = bearerTokenOf(req.headers.authorization);
  if (bearer !== undefined) {
    let caller;
    try {
      caller = await options.tokens.verifyAccessToken(bearer);
    } catch (error) {
      if (error instanceof InvalidAccessTokenError) throw oauthError('invalid_client', `caller's ${error.message}`);
      throw error;
    }
    if (!splitScopes(caller.scope).some((scope) => parseScope(scope)?.context === 'system')) {
      throw oauthError('invalid_client', "introspection needs a backend service's system/ token, not an app's");
    }
  } else {
    const client = await options.clientAuth.authenticate(params);
    if (client.authMethod !== 'private_key_jwt') {
      throw oauthError('invalid_client', 'introspection needs a confidential client or a bearer access token');
    }
  }
  const token = requireParam(params, 'token');
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  try {
    const claims = await options.tokens.verifyAccessToken(token);
    res.json({ active: true, token_type: 'Bearer', ...claims });
    return;
  } catch (error) {
    if (!(error instanceof InvalidAccessTokenError)) throw error;
  }
  const refresh = options.grants.getRefreshGrant(token);
  if (refresh) {
    res.json({
      active: true,
      token_type: 'refresh_token',
      client_id: refresh.clientId,
      scope: refresh.scopes.join(' '),
      ...(refresh.patientId !== undefined ? { patient: refresh.patientId } : {}),
    });
    return;
  }
  res.json({ active: false });
}

/** RFC 7009 §2.2: 200 whether or not the token was known; refresh and access tokens of this client only. */
async function handleRevoke(options: OAuthRouterOptions, req: Request, res: Response): Promise<void> {
  assertFormEncoded(req);
  const params = readParams(req.body);
  const client = await options.clientAuth.authenticate(params);
  const token = requireParam(params, 'token');
  const refresh = options.grants.getRefreshGrant(token);
  if (refresh) {
    if (refresh.clientId !== client.clientId) throw oauthError('invalid_grant', 'token was issued to another client');
    options.grants.revokeRefreshToken(token);
  } else {
    try {
      const claims = await options.tokens.verifyAccessToken(token);
      if (claims.client_id !== client.clientId) throw oauthError('invalid_grant', 'token was issued to another client');
      await options.tokens.revokeAccessToken(token);
    } catch (error) {
      if (!(error instanceof InvalidAccessTokenError)) throw error;
    }
  }
  options.logger.info({ clientId: client.clientId }, 'token revoked');
  res.set({ 'Cache-Control': 'no-store' }).status(200).json({});
}

function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
