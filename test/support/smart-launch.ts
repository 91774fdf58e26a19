/**
 * A SMART App Launch 2.x EHR launch done from Node, as the browser app does it: PKCE S256, an unpredictable
 * state, the authorization code exchanged at the token endpoint. For tests that need a real access token
 * without driving a browser.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface SmartTokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  patient?: string;
  id_token?: string;
  refresh_token?: string;
}

interface SmartConfiguration {
  authorization_endpoint: string;
  token_endpoint: string;
}

const base64url = (bytes: Buffer): string => bytes.toString('base64url');

export async function launchAndAuthorize(options: {
  fhirBaseUrl: string;
  launch: string;
  clientId: string;
  redirectUri: string;
  scope: string;
}): Promise<SmartTokenResponse> {
  const configuration = (await (
    await fetch(`${options.fhirBaseUrl}/.well-known/smart-configuration`)
  ).json()) as SmartConfiguration;
  const verifier = base64url(randomBytes(32));
  const state = base64url(randomBytes(16));
  const authorize = new URL(configuration.authorization_endpoint);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    state,
    aud: options.fhirBaseUrl,
    launch: options.launch,
    code_challenge: base64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();
  const redirect = await fetch(authorize, { redirect: 'manual' });
  const location = new URL(redirect.headers.get('location') ?? '', options.redirectUri);
  if (location.searchParams.get('state') !== state) throw new Error(`authorize answered ${location.toString()}`);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`authorize gave no code: ${location.searchParams.get('error') ?? 'no error either'}`);
  const token = await fetch(configuration.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: options.redirectUri,
      client_id: options.clientId,
      code_verifier: verifier,
    }),
  });
  if (!token.ok) throw new Error(`token endpoint answered ${token.status}: ${await token.text()}`);
  return (await token.json()) as SmartTokenResponse;
}
