/** Helpers for the mock EHR's integration tests: start on port 0 and run the SMART EHR launch like an app would. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startMockEhr, type MockEhr, type MockEhrOptions } from './app';

export const APP_BASE_URL = 'http://localhost:3999';
export const REDIRECT_URI = `${APP_BASE_URL}/index.html`;
export const APP_SCOPES =
  'launch openid fhirUser online_access patient/Patient.r patient/ImagingStudy.rs patient/Endpoint.r patient/Observation.crs patient/DiagnosticReport.crs patient/Provenance.c patient/Device.crs';

export async function startTestEhr(
  patientCount = 2,
  overrides: Partial<MockEhrOptions> = {},
): Promise<{ ehr: MockEhr; cleanup: () => Promise<void>; dataDir: string }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'mock-ehr-test-'));
  const ehr = await startMockEhr({
    port: 0,
    appBaseUrl: APP_BASE_URL,
    dataDir,
    patientCount,
    logger: pino({ level: 'silent' }),
    devTools: true,
    ...overrides,
  });
  return {
    ehr,
    dataDir,
    cleanup: async () => {
      await ehr.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeRequest {
  launch: string;
  challenge: string;
  state?: string;
  method?: string;
  redirectUri?: string;
  scope?: string;
}

export function authorizeUrl(ehr: MockEhr, request: AuthorizeRequest): string {
  const url = new URL(`${ehr.url}/oauth/authorize`);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: 'ldh-cds',
    redirect_uri: request.redirectUri ?? REDIRECT_URI,
    scope: request.scope ?? APP_SCOPES,
    state: request.state ?? randomBytes(16).toString('base64url'),
    aud: ehr.fhirBaseUrl,
    launch: request.launch,
    code_challenge: request.challenge,
    code_challenge_method: request.method ?? 'S256',
  };
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/** GET /oauth/authorize without following the redirect; returns the Location's query parameters. */
export async function authorize(
  ehr: MockEhr,
  request: AuthorizeRequest,
): Promise<{ status: number; location: URL | undefined }> {
  const response = await fetch(authorizeUrl(ehr, request), { redirect: 'manual' });
  const location = response.headers.get('location');
  return { status: response.status, location: location ? new URL(location) : undefined };
}

export async function exchangeCode(
  ehr: MockEhr,
  code: string,
  verifier: string,
  redirectUri = REDIRECT_URI,
): Promise<Response> {
  return fetch(`${ehr.url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: 'ldh-cds',
      code_verifier: verifier,
    }),
  });
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  patient: string;
  need_patient_banner: boolean;
  id_token?: string;
  refresh_token?: string;
}

/** The whole EHR launch: launch id → authorize → code → token. */
export async function launchAndGetToken(ehr: MockEhr, patientId: string, scope?: string): Promise<TokenResponse> {
  const { verifier, challenge } = pkcePair();
  const launch = ehr.createLaunch(patientId);
  const { location } = await authorize(ehr, { launch, challenge, ...(scope ? { scope } : {}) });
  const code = location?.searchParams.get('code');
  if (!code) throw new Error(`authorize did not return a code: ${location?.toString() ?? 'no redirect'}`);
  const response = await exchangeCode(ehr, code, verifier);
  if (!response.ok) throw new Error(`token exchange failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenResponse;
}

/** A clock tests can move forward to expire codes and tokens without sleeping. */
export function testClock(): { now: () => number; advance: (ms: number) => void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance: (ms) => {
      offset += ms;
    },
  };
}

export function postForm(url: string, params: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
    redirect: 'manual',
  });
}
