import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import {
  APP_BASE_URL,
  authorize,
  exchangeCode,
  launchAndGetToken,
  pkcePair,
  REDIRECT_URI,
  startTestEhr,
} from './test-support';

let ehr: MockEhr;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ ehr, cleanup } = await startTestEhr(2));
});
afterAll(async () => {
  await cleanup();
});

function firstPatient(): string {
  const patient = ehr.seed.patients[0];
  if (!patient) throw new Error('no seeded patient');
  return patient.patientId;
}

describe('SMART discovery', () => {
  it('when the app reads .well-known/smart-configuration, then it gets the REQUIRED fields and S256 only', async () => {
    const response = await fetch(`${ehr.fhirBaseUrl}/.well-known/smart-configuration`);
    expect(response.status).toBe(200);
    const config = (await response.json()) as Record<string, unknown>;
    expect(config).toMatchObject({
      issuer: ehr.fhirBaseUrl,
      jwks_uri: `${ehr.url}/oauth/jwks`,
      authorization_endpoint: `${ehr.url}/oauth/authorize`,
      token_endpoint: `${ehr.url}/oauth/token`,
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
      introspection_endpoint: `${ehr.url}/oauth/introspect`,
      revocation_endpoint: `${ehr.url}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
    });
    expect(config.capabilities).toEqual(
      expect.arrayContaining([
        'launch-ehr',
        'launch-standalone',
        'client-public',
        'client-confidential-asymmetric',
        'context-ehr-patient',
        'context-standalone-patient',
        'permission-v2',
        'sso-openid-connect',
      ]),
    );
    expect(config.scopes_supported).toEqual(
      expect.arrayContaining(['launch', 'openid', 'fhirUser', 'patient/ImagingStudy.rs']),
    );
  });

  it('when the app origin preflights the token endpoint, then CORS allows it', async () => {
    const response = await fetch(`${ehr.url}/oauth/token`, {
      method: 'OPTIONS',
      headers: { Origin: APP_BASE_URL, 'Access-Control-Request-Method': 'POST' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_BASE_URL);
  });
});

describe('EHR launch with PKCE', () => {
  it('when the full launch runs, then the access token verifies against /oauth/jwks with the SMART claims', async () => {
    const patientId = firstPatient();
    const token = await launchAndGetToken(ehr, patientId);
    expect(token).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      patient: patientId,
      need_patient_banner: true,
    });
    expect(token.scope.split(' ')).toEqual(expect.arrayContaining(['launch', 'patient/ImagingStudy.rs']));
    expect(token.refresh_token).toBeTruthy();
    const style = await fetch((token as unknown as { smart_style_url: string }).smart_style_url);
    expect(await style.json()).toMatchObject({ color_background: expect.any(String) as unknown });

    const jwks = (await (await fetch(`${ehr.url}/oauth/jwks`)).json()) as Parameters<typeof createLocalJWKSet>[0];
    const keySet = createLocalJWKSet(jwks);
    const { payload } = await jwtVerify(token.access_token, keySet, {
      issuer: ehr.fhirBaseUrl,
      audience: ehr.fhirBaseUrl,
    });
    expect(payload).toMatchObject({
      patient: patientId,
      client_id: 'ldh-cds',
      sub: ehr.seed.practitionerId,
      fhirUser: `${ehr.fhirBaseUrl}/Practitioner/${ehr.seed.practitionerId}`,
    });
    expect(payload.jti).toBeTruthy();

    const idToken = await jwtVerify(token.id_token ?? '', keySet, { issuer: ehr.fhirBaseUrl, audience: 'ldh-cds' });
    expect(idToken.payload.fhirUser).toBe(`${ehr.fhirBaseUrl}/Practitioner/${ehr.seed.practitionerId}`);
  });

  it('when the state is returned, then it is the one the app sent', async () => {
    const { challenge } = pkcePair();
    const { status, location } = await authorize(ehr, {
      launch: ehr.createLaunch(firstPatient()),
      challenge,
      state: 'state-123',
    });
    expect(status).toBe(302);
    expect(`${location?.origin ?? ''}${location?.pathname ?? ''}`).toBe(REDIRECT_URI);
    expect(location?.searchParams.get('state')).toBe('state-123');
  });

  it('when the code_verifier is wrong, then the token endpoint answers invalid_grant', async () => {
    const { challenge } = pkcePair();
    const { location } = await authorize(ehr, { launch: ehr.createLaunch(firstPatient()), challenge });
    const response = await exchangeCode(ehr, location?.searchParams.get('code') ?? '', pkcePair().verifier);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('when the app asks for code_challenge_method=plain, then it is refused with invalid_request', async () => {
    const { verifier } = pkcePair();
    const { status, location } = await authorize(ehr, {
      launch: ehr.createLaunch(firstPatient()),
      challenge: verifier,
      method: 'plain',
      state: 's1',
    });
    expect(status).toBe(302);
    expect(location?.searchParams.get('error')).toBe('invalid_request');
    expect(location?.searchParams.get('code')).toBeNull();
    expect(location?.searchParams.get('state')).toBe('s1');
  });

  it('when the redirect_uri is not registered, then the EHR shows a 400 page and does not redirect', async () => {
    const { challenge } = pkcePair();
    const { status, location } = await authorize(ehr, {
      launch: ehr.createLaunch(firstPatient()),
      challenge,
      redirectUri: 'https://evil.example/callback',
    });
    expect(status).toBe(400);
    expect(location).toBeUndefined();
  });

  it('when the launch id is unknown, then authorize redirects with an error', async () => {
    const { challenge } = pkcePair();
    const { location } = await authorize(ehr, { launch: 'not-a-launch', challenge });
    expect(location?.searchParams.get('error')).toBe('invalid_request');
  });

  it('when a code is used twice, then the second exchange is invalid_grant', async () => {
    const { verifier, challenge } = pkcePair();
    const { location } = await authorize(ehr, { launch: ehr.createLaunch(firstPatient()), challenge });
    const code = location?.searchParams.get('code') ?? '';
    expect((await exchangeCode(ehr, code, verifier)).status).toBe(200);
    const second = await exchangeCode(ehr, code, verifier);
    expect(second.status).toBe(400);
    expect(await second.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('when a refresh token is presented, then a new access token for the same patient is issued', async () => {
    const token = await launchAndGetToken(ehr, firstPatient());
    const response = await fetch(`${ehr.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: token.refresh_token ?? '',
        client_id: 'ldh-cds',
      }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ patient: firstPatient(), token_type: 'Bearer' });
  });

  it('when the grant_type is unknown, then the token endpoint answers unsupported_grant_type', async () => {
    const response = await fetch(`${ehr.url}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'unsupported_grant_type' });
  });
});
