/**
 * Every refusal of the SMART authorization server (issue 6), each with its RFC 6749 error, plus the flows the
 * refusals guard: standalone launch, refresh, backend services (client_credentials + private_key_jwt),
 * introspection and revocation. Time moves with a test clock, never with sleeps.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import { DEFAULT_CLIENTS_FILE } from './auth/clients';
import { DEMO_USER } from './auth/standalone-pages';
import {
  APP_SCOPES,
  authorize,
  exchangeCode,
  launchAndGetToken,
  pkcePair,
  postForm,
  REDIRECT_URI,
  startTestEhr,
  testClock,
} from './test-support';

const BACKEND = 'ldh-cds-backend';
let ehr: MockEhr;
let cleanup: () => Promise<void>;
let backendKey: CryptoKey;
let strangerKey: CryptoKey;
let scratch: string;
const clock = testClock();

beforeAll(async () => {
  const keys = await generateKeyPair('ES384');
  backendKey = keys.privateKey;
  strangerKey = (await generateKeyPair('ES384')).privateKey;
  const publicJwk = { ...(await exportJWK(keys.publicKey)), kid: 'backend-1', alg: 'ES384' };
  const registrations = JSON.parse(await readFile(DEFAULT_CLIENTS_FILE, 'utf8')) as { clients: object[] };
  registrations.clients.push({
    client_id: BACKEND,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    scope: 'system/Patient.rs system/ImagingStudy.rs system/DiagnosticReport.rs',
    jwks: { keys: [publicJwk] },
  });
  scratch = await mkdtemp(path.join(tmpdir(), 'mock-ehr-clients-'));
  const clientsFile = path.join(scratch, 'clients.json');
  await writeFile(clientsFile, JSON.stringify(registrations));
  ({ ehr, cleanup } = await startTestEhr(2, { now: clock.now, clientsFile }));
});
afterAll(async () => {
  await cleanup();
  await rm(scratch, { recursive: true, force: true });
});

const patientA = (): string => ehr.seed.patients[0]?.patientId ?? '';
const patientB = (): string => ehr.seed.patients[1]?.patientId ?? '';
const tokenUrl = (): string => `${ehr.url}/oauth/token`;

async function oauthErrorOf(response: Response): Promise<{ status: number; error: string }> {
  const body = (await response.json()) as { error: string };
  return { status: response.status, error: body.error };
}

async function assertion(overrides: { key?: CryptoKey; aud?: string; jti?: string; alg?: string; exp?: number } = {}) {
  const iat = Math.floor(clock.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: overrides.alg ?? 'ES384', kid: 'backend-1' })
    .setIssuer(BACKEND)
    .setSubject(BACKEND)
    .setAudience(overrides.aud ?? tokenUrl())
    .setIssuedAt(iat)
    .setExpirationTime(overrides.exp ?? iat + 240)
    .setJti(overrides.jti ?? randomUUID())
    .sign(overrides.key ?? backendKey);
}

async function clientCredentials(scope: string, clientAssertion: string): Promise<Response> {
  return postForm(tokenUrl(), {
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
  });
}

describe('authorize refusals', () => {
  const launchFor = () => ehr.createLaunch(patientA());

  it('when the client_id is unknown, then a 400 page is shown and nothing redirects', async () => {
    const url = new URL(`${ehr.url}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: 'not-registered',
      redirect_uri: REDIRECT_URI,
      scope: 'launch',
      state: 's',
      aud: ehr.fhirBaseUrl,
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
    }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('not-registered');
  });

  it.each([
    ['the method is plain', { method: 'plain' }, 'invalid_request'],
    ['the challenge is missing', { challenge: '' }, 'invalid_request'],
    ['a scope is not registered for the client', { scope: `${APP_SCOPES} user/*.cruds` }, 'invalid_scope'],
    ['a system scope is asked in a user launch', { scope: 'launch system/Patient.rs' }, 'invalid_scope'],
    ['the state is missing', { state: '' }, 'invalid_request'],
  ])('when %s, then authorize redirects with %s', async (_name, overrides, error) => {
    const { location } = await authorize(ehr, { launch: launchFor(), challenge: pkcePair().challenge, ...overrides });
    expect(`${location?.origin ?? ''}${location?.pathname ?? ''}`).toBe(REDIRECT_URI);
    expect(location?.searchParams.get('error')).toBe(error);
    expect(location?.searchParams.get('code')).toBeNull();
  });

  it('when the scope is refused, then the description names the scope', async () => {
    const { location } = await authorize(ehr, {
      launch: launchFor(),
      challenge: pkcePair().challenge,
      scope: 'launch patient/Medication.rs',
    });
    expect(location?.searchParams.get('error_description')).toContain('patient/Medication.rs');
  });
});

describe('token endpoint refusals', () => {
  async function freshCode(): Promise<{ code: string; verifier: string }> {
    const { verifier, challenge } = pkcePair();
    const { location } = await authorize(ehr, { launch: ehr.createLaunch(patientA()), challenge });
    return { code: location?.searchParams.get('code') ?? '', verifier };
  }

  it('when the code_verifier is missing, then it is invalid_request', async () => {
    const { code } = await freshCode();
    const response = await postForm(tokenUrl(), {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: 'ldh-cds',
    });
    expect(await oauthErrorOf(response)).toEqual({ status: 400, error: 'invalid_request' });
  });

  it('when the code_verifier is wrong, then it is invalid_grant and the code is burnt', async () => {
    const { code, verifier } = await freshCode();
    expect(await oauthErrorOf(await exchangeCode(ehr, code, pkcePair().verifier))).toEqual({
      status: 400,
      error: 'invalid_grant',
    });
    expect((await oauthErrorOf(await exchangeCode(ehr, code, verifier))).error).toBe('invalid_grant');
  });

  it('when the client_id at the token endpoint is unknown, then it is invalid_client (401)', async () => {
    const { code, verifier } = await freshCode();
    const response = await postForm(tokenUrl(), {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: 'someone-else',
      code_verifier: verifier,
    });
    expect(await oauthErrorOf(response)).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('when the redirect_uri differs from the authorize request, then it is invalid_grant', async () => {
    const { code, verifier } = await freshCode();
    const response = await exchangeCode(ehr, code, verifier, `${REDIRECT_URI}?x=1`);
    expect(await oauthErrorOf(response)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('when the code is older than 5 minutes, then it is invalid_grant', async () => {
    const { code, verifier } = await freshCode();
    clock.advance(6 * 60_000);
    expect(await oauthErrorOf(await exchangeCode(ehr, code, verifier))).toEqual({
      status: 400,
      error: 'invalid_grant',
    });
  });

  it('when the access token has expired, then FHIR answers 401 invalid_token and introspection says inactive', async () => {
    const token = await launchAndGetToken(ehr, patientA());
    const read = () =>
      fetch(`${ehr.fhirBaseUrl}/Patient/${patientA()}`, { headers: { Authorization: `Bearer ${token.access_token}` } });
    expect((await read()).status).toBe(200);
    clock.advance(2 * 3600_000);
    const response = await read();
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/invalid_token.*expired/);
    const caller = (await (await clientCredentials('system/Patient.rs', await assertion())).json()) as {
      access_token: string;
    };
    const introspection = await postForm(
      `${ehr.url}/oauth/introspect`,
      { token: token.access_token },
      { Authorization: `Bearer ${caller.access_token}` },
    );
    expect(await introspection.json()).toEqual({ active: false });
  });

  it('when a refresh token is older than its lifetime, then it is invalid_grant', async () => {
    const token = await launchAndGetToken(ehr, patientA());
    clock.advance(25 * 3600_000);
    const response = await postForm(tokenUrl(), {
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token ?? '',
    });
    expect(await oauthErrorOf(response)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('when a refresh asks for more scope than granted, then it is invalid_scope', async () => {
    const token = await launchAndGetToken(ehr, patientA(), 'launch online_access patient/Patient.rs');
    const response = await postForm(tokenUrl(), {
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token ?? '',
      scope: 'patient/Patient.rs patient/Observation.cruds',
    });
    expect(await oauthErrorOf(response)).toEqual({ status: 400, error: 'invalid_scope' });
  });

  it('when neither offline_access nor online_access is granted, then no refresh token is issued', async () => {
    const token = await launchAndGetToken(ehr, patientA(), 'launch patient/Patient.rs');
    expect(token.refresh_token).toBeUndefined();
  });

  it('when tokens are revoked, then the access token is 401 and the refresh token invalid_grant', async () => {
    const token = await launchAndGetToken(ehr, patientA());
    for (const revoked of [token.access_token, token.refresh_token ?? '']) {
      const response = await postForm(`${ehr.url}/oauth/revoke`, { token: revoked, client_id: 'ldh-cds' });
      expect(response.status).toBe(200);
    }
    const read = await fetch(`${ehr.fhirBaseUrl}/Patient/${patientA()}`, {
      headers: { Authorization: `Bearer ${token.access_token}` },
    });
    expect(read.status).toBe(401);
    expect(read.headers.get('www-authenticate')).toContain('revoked');
    const refresh = await postForm(tokenUrl(), {
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token ?? '',
    });
    expect(await oauthErrorOf(refresh)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('when a refresh token is presented, then the new access token keeps the patient and verifies', async () => {
    const token = await launchAndGetToken(ehr, patientA());
    const response = await postForm(tokenUrl(), {
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token ?? '',
    });
    const refreshed = (await response.json()) as { access_token: string; patient: string };
    expect(refreshed.patient).toBe(patientA());
    const read = await fetch(`${ehr.fhirBaseUrl}/Patient/${patientA()}`, {
      headers: { Authorization: `Bearer ${refreshed.access_token}` },
    });
    expect(read.status).toBe(200);
  });
});

describe('backend services: client_credentials with private_key_jwt', () => {
  it('when the assertion is valid, then a system token reads every patient and has no patient context', async () => {
    const response = await clientCredentials('system/Patient.rs', await assertion());
    expect(response.status).toBe(200);
    const token = (await response.json()) as Record<string, unknown>;
    expect(token).toMatchObject({ token_type: 'Bearer', scope: 'system/Patient.rs' });
    expect(token.patient).toBeUndefined();
    expect(token.refresh_token).toBeUndefined();
    for (const id of [patientA(), patientB()]) {
      const read = await fetch(`${ehr.fhirBaseUrl}/Patient/${id}`, {
        headers: { Authorization: `Bearer ${String(token.access_token)}` },
      });
      expect(read.status).toBe(200);
    }
  });

  it.each<[string, { stranger?: boolean; aud?: string; longLived?: boolean }]>([
    ['signed by another key', { stranger: true }],
    ['for another audience', { aud: 'https://elsewhere.example/token' }],
    ['valid for more than 5 minutes', { longLived: true }],
  ])('when the assertion is %s, then it is invalid_client', async (_name, how) => {
    const iat = Math.floor(clock.now() / 1000);
    const jwt = await assertion({
      ...(how.stranger ? { key: strangerKey } : {}),
      ...(how.aud !== undefined ? { aud: how.aud } : {}),
      ...(how.longLived ? { exp: iat + 3600 } : {}),
    });
    expect(await oauthErrorOf(await clientCredentials('system/Patient.rs', jwt))).toEqual({
      status: 401,
      error: 'invalid_client',
    });
  });

  it('when an assertion is replayed, then the second use is invalid_client', async () => {
    const jwt = await assertion({ jti: randomUUID() });
    expect((await clientCredentials('system/Patient.rs', jwt)).status).toBe(200);
    expect(await oauthErrorOf(await clientCredentials('system/Patient.rs', jwt))).toEqual({
      status: 401,
      error: 'invalid_client',
    });
  });

  it('when a public client asks for client_credentials, then it is invalid_client', async () => {
    const response = await postForm(tokenUrl(), {
      grant_type: 'client_credentials',
      client_id: 'ldh-cds',
      scope: 'system/Patient.rs',
    });
    expect(await oauthErrorOf(response)).toEqual({ status: 401, error: 'invalid_client' });
  });

  it.each([
    ['a scope it is not registered for', 'system/Observation.cruds'],
    ['a patient scope', 'patient/Patient.rs'],
  ])('when the backend asks for %s, then it is invalid_scope', async (_name, scope) => {
    expect(await oauthErrorOf(await clientCredentials(scope, await assertion()))).toEqual({
      status: 400,
      error: 'invalid_scope',
    });
  });

  it('when the backend introspects a user token, then it sees the patient, scope and fhirUser', async () => {
    const user = await launchAndGetToken(ehr, patientA());
    const response = await postForm(`${ehr.url}/oauth/introspect`, {
      token: user.access_token,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
    });
    expect(await response.json()).toMatchObject({
      active: true,
      patient: patientA(),
      client_id: 'ldh-cds',
      scope: user.scope,
      fhirUser: `${ehr.fhirBaseUrl}/Practitioner/${ehr.seed.practitionerId}`,
    });
  });

  it('when introspection has no caller authentication or only an app token, then it is invalid_client', async () => {
    const user = await launchAndGetToken(ehr, patientA());
    const anonymous = await postForm(`${ehr.url}/oauth/introspect`, { token: user.access_token });
    expect(await oauthErrorOf(anonymous)).toEqual({ status: 401, error: 'invalid_client' });
    const asApp = await postForm(
      `${ehr.url}/oauth/introspect`,
      { token: user.access_token },
      { Authorization: `Bearer ${user.access_token}` },
    );
    expect(await oauthErrorOf(asApp)).toEqual({ status: 401, error: 'invalid_client' });
  });
});

describe('standalone launch: login, patient picker, consent', () => {
  async function startStandalone(state: string): Promise<{ requestUrl: URL; verifier: string }> {
    const { verifier, challenge } = pkcePair();
    const url = new URL(`${ehr.url}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: 'ldh-cds',
      redirect_uri: REDIRECT_URI,
      scope: 'launch/patient openid fhirUser patient/Patient.rs patient/ImagingStudy.rs',
      state,
      aud: ehr.fhirBaseUrl,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      nonce: 'n-123',
    }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(303);
    return { requestUrl: new URL(response.headers.get('location') ?? '', `${ehr.url}/oauth/`), verifier };
  }

  it('when the clinician signs in, picks patient B and allows, then the token is for patient B with an id_token', async () => {
    const { requestUrl, verifier } = await startStandalone('st-1');
    const request = requestUrl.searchParams.get('request') ?? '';
    const loginPage = await (await fetch(requestUrl)).text();
    expect(loginPage).toContain('Sign in');

    const login = await postForm(`${ehr.url}/oauth/login`, { request, ...DEMO_USER });
    expect(login.status).toBe(303);
    const pickerUrl = new URL(login.headers.get('location') ?? '', `${ehr.url}/oauth/`);
    expect(pickerUrl.pathname).toBe('/oauth/select-patient');
    const picker = await (await fetch(pickerUrl)).text();
    expect(picker).toContain(`value="${patientB()}"`);

    const picked = await postForm(`${ehr.url}/oauth/select-patient`, { request, patient: patientB() });
    const consentUrl = new URL(picked.headers.get('location') ?? '', `${ehr.url}/oauth/`);
    expect(await (await fetch(consentUrl)).text()).toContain('patient/ImagingStudy.rs');

    const allowed = await postForm(`${ehr.url}/oauth/consent`, { request, decision: 'allow' });
    const redirect = new URL(allowed.headers.get('location') ?? '');
    expect(redirect.searchParams.get('state')).toBe('st-1');
    const token = (await (await exchangeCode(ehr, redirect.searchParams.get('code') ?? '', verifier)).json()) as {
      patient: string;
      id_token: string;
    };
    expect(token.patient).toBe(patientB());
    const jwks = createLocalJWKSet(
      (await (await fetch(`${ehr.url}/oauth/jwks`)).json()) as Parameters<typeof createLocalJWKSet>[0],
    );
    const { payload } = await jwtVerify(token.id_token, jwks, { issuer: ehr.fhirBaseUrl, audience: 'ldh-cds' });
    expect(payload).toMatchObject({
      fhirUser: `${ehr.fhirBaseUrl}/Practitioner/${ehr.seed.practitionerId}`,
      nonce: 'n-123',
    });
    // The consent cannot be replayed.
    expect((await postForm(`${ehr.url}/oauth/consent`, { request, decision: 'allow' })).status).toBe(400);
  });

  it('when the password is wrong, then the login page is shown again with 401', async () => {
    const { requestUrl } = await startStandalone('st-2');
    const response = await postForm(`${ehr.url}/oauth/login`, {
      request: requestUrl.searchParams.get('request') ?? '',
      username: DEMO_USER.username,
      password: 'guess',
    });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('wrong password');
  });

  it('when the user denies, then the app gets access_denied with its state', async () => {
    const { requestUrl } = await startStandalone('st-3');
    const request = requestUrl.searchParams.get('request') ?? '';
    await postForm(`${ehr.url}/oauth/login`, { request, ...DEMO_USER });
    await postForm(`${ehr.url}/oauth/select-patient`, { request, patient: patientA() });
    const denied = await postForm(`${ehr.url}/oauth/consent`, { request, decision: 'deny' });
    const redirect = new URL(denied.headers.get('location') ?? '');
    expect(redirect.searchParams.get('error')).toBe('access_denied');
    expect(redirect.searchParams.get('state')).toBe('st-3');
  });

  it('when consent is posted before a patient is picked, then it is refused', async () => {
    const { requestUrl } = await startStandalone('st-4');
    const request = requestUrl.searchParams.get('request') ?? '';
    await postForm(`${ehr.url}/oauth/login`, { request, ...DEMO_USER });
    const response = await postForm(`${ehr.url}/oauth/consent`, { request, decision: 'allow' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });
});
