/**
 * The token verifier against a loopback stub EHR whose answers each test sets: what is checked in an introspection
 * answer and in a JWT, how long an answer is kept, and what happens when the EHR cannot be asked. The mock EHR end
 * to end: test/integration/caller-and-patient.int.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, createLocalJWKSet, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_KEY_ALG, type ClientKey } from './client-key';
import { HttpError } from './http-error';
import {
  createTokenVerifier,
  type IntrospectionAuth,
  type TokenVerificationMethod,
  type TokenVerifier,
} from './token-verifier';

let server: Server;
let base: string;
let fhirBase: string;
let ehrKey: CryptoKey;
let ehrJwk: JWK;
let clientKey: ClientKey;
/** What the introspection endpoint answers next (status, body). */
let introspection: { status: number; body: unknown };
const seen = {
  introspections: 0,
  discoveries: 0,
  assertions: [] as string[],
  tokens: [] as string[],
  bearers: [] as (string | undefined)[],
};
let clock = Date.UTC(2030, 0, 1);
const nowS = (): number => Math.floor(clock / 1000);

beforeAll(async () => {
  const ehr = await generateKeyPair('ES256', { extractable: true });
  ehrKey = ehr.privateKey;
  ehrJwk = { ...(await exportJWK(ehr.publicKey)), kid: 'ehr-1', alg: 'ES256' };
  const client = await generateKeyPair(CLIENT_KEY_ALG, { extractable: true });
  clientKey = {
    kid: 'client-1',
    privateKey: client.privateKey,
    publicJwk: { ...(await exportJWK(client.publicKey)), kid: 'client-1', alg: CLIENT_KEY_ALG },
  };
  server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/fhir/.well-known/smart-configuration') {
      seen.discoveries++;
      send(200, {
        issuer: fhirBase,
        token_endpoint: `${base}/oauth/token`,
        introspection_endpoint: `${base}/oauth/introspect`,
        jwks_uri: `${base}/oauth/jwks`,
      });
      return;
    }
    if (req.url === '/oauth/jwks') {
      send(200, { keys: [ehrJwk] });
      return;
    }
    if (req.url === '/oauth/introspect' && req.method === 'POST') {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        seen.introspections++;
        const form = new URLSearchParams(text);
        seen.assertions.push(form.get('client_assertion') ?? '');
        seen.tokens.push(form.get('token') ?? '');
        seen.bearers.push(req.headers.authorization);
        send(introspection.status, introspection.body);
      });
      return;
    }
    send(404, {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fhirBase = `${base}/fhir`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.introspections = 0;
  seen.assertions = [];
  seen.tokens = [];
  seen.bearers = [];
});

function verifier(
  method: TokenVerificationMethod = 'introspection',
  introspectionAuth: IntrospectionAuth = 'private_key_jwt',
  cacheTtlMs = 60_000,
): TokenVerifier {
  return createTokenVerifier({
    settingsFor: () => ({ method, introspectionAuth, introspectionClientId: 'ldh-cds-server' }),
    clientKey: () => Promise.resolve(clientKey),
    cacheTtlMs,
    now: () => clock,
  });
}

const activeAnswer = (more: Record<string, unknown> = {}) => ({
  status: 200,
  body: {
    active: true,
    token_type: 'Bearer',
    iss: fhirBase,
    aud: fhirBase,
    sub: 'clinician-1',
    client_id: 'ldh-cds',
    scope: 'launch openid fhirUser patient/ImagingStudy.rs',
    patient: 'p1',
    fhirUser: `${fhirBase}/Practitioner/clinician-1`,
    exp: nowS() + 3600,
    ...more,
  },
});

async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

describe('introspection', () => {
  it('when the EHR says the token is active, then the user and patient are known, and ldh-cds authenticated itself', async () => {
    introspection = activeAnswer();
    const user = await verifier().verify(fhirBase, 'token-a');
    expect(user).toMatchObject({
      sub: 'clinician-1',
      fhirUser: `${fhirBase}/Practitioner/clinician-1`,
      patient: 'p1',
      patientScoped: true,
    });
    expect(seen.tokens).toEqual(['token-a']);
    // RFC 7523: iss = sub = our client id, aud = the token endpoint, signed with the key we publish.
    const { payload } = await jwtVerify(seen.assertions[0] ?? '', createLocalJWKSet({ keys: [clientKey.publicJwk] }), {
      issuer: 'ldh-cds-server',
      subject: 'ldh-cds-server',
      audience: `${base}/oauth/token`,
      currentDate: new Date(clock),
    });
    expect(payload.jti).toEqual(expect.any(String));
    expect((payload.exp ?? 0) - nowS()).toBeLessThanOrEqual(300);
  });

  it('when the same token comes several times within the TTL, then the EHR is asked once (concurrent ones share it)', async () => {
    introspection = activeAnswer();
    const tokens = verifier();
    await Promise.all([1, 2, 3, 4, 5].map(() => tokens.verify(fhirBase, 'token-b')));
    await tokens.verify(`${fhirBase}/`, 'token-b');
    expect(seen.introspections).toBe(1);
    clock += 61_000;
    await tokens.verify(fhirBase, 'token-b');
    expect(seen.introspections).toBe(2);
  });

  it('when the token expires before the TTL ends, then the kept answer ends with it', async () => {
    introspection = activeAnswer({ exp: nowS() + 10 });
    const tokens = verifier();
    await tokens.verify(fhirBase, 'token-c');
    clock += 11_000;
    introspection = { status: 200, body: { active: false } };
    const error = await refusal(tokens.verify(fhirBase, 'token-c'));
    expect(error.status).toBe(401);
    expect(seen.introspections).toBe(2);
  });

  it('when the EHR says inactive, then 401 with RFC 6750 invalid_token and a sentence', async () => {
    introspection = { status: 200, body: { active: false } };
    const error = await refusal(verifier().verify(fhirBase, 'forged'));
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toBe(
      'Bearer error="invalid_token", error_description="token is not active"',
    );
    expect(error.outcome.issue[0]?.diagnostics).toBe(
      'Your EHR session could not be verified: the EHR says this access token is not active (expired, revoked, or ' +
        'not one it issued). Re-launch ldh-cds from the chart.',
    );
  });

  it('when the answer is for another FHIR server, another issuer, expired or a refresh token, then 401', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ aud: 'https://other.example/fhir' }, 'token is for another server'],
      [{ aud: ['https://other.example/fhir', 'x'] }, 'token is for another server'],
      [{ iss: 'https://other.example/fhir' }, 'token from another issuer'],
      [{ exp: nowS() - 1 }, 'token expired'],
      [{ token_type: 'refresh_token' }, 'not an access token'],
    ];
    for (const [answer, code] of cases) {
      introspection = activeAnswer(answer);
      const error = await refusal(verifier().verify(fhirBase, `token-${code}`));
      expect(error.status, code).toBe(401);
      expect(error.headers['WWW-Authenticate'], code).toContain(code);
    }
  });

  it('when the answer omits aud (SMART does not require it), then the EHR vouched for it: accepted', async () => {
    introspection = activeAnswer({ aud: undefined, iss: undefined });
    expect((await verifier().verify(fhirBase, 'token-d')).patient).toBe('p1');
  });

  it("when the EHR refuses ldh-cds's own credentials or fails, then 502 saying so, and nothing is kept", async () => {
    introspection = { status: 401, body: { error: 'invalid_client' } };
    const tokens = verifier();
    const error = await refusal(tokens.verify(fhirBase, 'token-e'));
    expect(error.status).toBe(502);
    expect(error.outcome.issue[0]?.diagnostics).toMatch(
      /refused ldh-cds's own credentials for token introspection \(HTTP 401, invalid_client\)/,
    );
    introspection = activeAnswer();
    expect((await tokens.verify(fhirBase, 'token-e')).sub).toBe('clinician-1');
  });

  it('when the EHR takes only an app token there (the SMART App Launcher), then the user token is the bearer', async () => {
    introspection = activeAnswer();
    expect((await verifier('introspection', 'user-token').verify(fhirBase, 'token-g')).patient).toBe('p1');
    expect(seen.bearers).toEqual(['Bearer token-g']);
    expect(seen.assertions).toEqual(['']);
    // Refused as a credential is refused as a token: 401, not the 502 of ldh-cds's own credentials.
    introspection = { status: 401, body: 'JsonWebTokenError: invalid signature' };
    const error = await refusal(verifier('introspection', 'user-token').verify(fhirBase, 'forged-g'));
    expect(error.status).toBe(401);
  });

  it('when the EHR gives no exp, then 502: SMART requires it and ldh-cds will not keep an answer without one', async () => {
    introspection = activeAnswer({ exp: undefined });
    expect((await refusal(verifier().verify(fhirBase, 'token-f'))).status).toBe(502);
  });
});

describe('jwks', () => {
  const sign = (claims: Record<string, unknown>, key: CryptoKey = ehrKey, kid = 'ehr-1'): Promise<string> =>
    new SignJWT({
      iss: fhirBase,
      aud: fhirBase,
      sub: 'x',
      iat: nowS(),
      exp: nowS() + 3600,
      scope: 'patient/ImagingStudy.rs',
      patient: 'p1',
      fhirUser: `${fhirBase}/Practitioner/x`,
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .sign(key);

  it("when the JWT is signed by the EHR's key for this FHIR base, then the user is known without introspection", async () => {
    const user = await verifier('jwks').verify(fhirBase, await sign({}));
    expect(user).toMatchObject({ patient: 'p1', fhirUser: `${fhirBase}/Practitioner/x` });
    expect(seen.introspections).toBe(0);
  });

  it('when the JWT has the right shape but another key signed it, then 401', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const error = await refusal(verifier('jwks').verify(fhirBase, await sign({}, privateKey)));
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toContain('token not issued by this EHR');
  });

  it('when the JWT is expired, for another FHIR server, from another issuer or not a JWT, then 401', async () => {
    const tokens = verifier('jwks');
    const expired = await new SignJWT({ scope: 'patient/*.rs' })
      .setProtectedHeader({ alg: 'ES256', kid: 'ehr-1' })
      .setIssuer(fhirBase)
      .setAudience(fhirBase)
      .setExpirationTime(nowS() - 5)
      .sign(ehrKey);
    const foreign = await sign({ aud: 'https://other.example/fhir' });
    const otherIssuer = await sign({ iss: 'https://other.example' });
    for (const [token, code] of [
      [expired, 'token expired'],
      [foreign, 'token is for another server'],
      [otherIssuer, 'token from another issuer'],
      ['opaque-token', 'token not issued by this EHR'],
    ] as const) {
      const error = await refusal(tokens.verify(fhirBase, token));
      expect(error.status, code).toBe(401);
      expect(error.headers['WWW-Authenticate'], code).toContain(code);
    }
  });

  it('when the JWT is HMAC-signed or unsigned, then 401 (asymmetric algorithms only)', async () => {
    const hmac = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(fhirBase)
      .setAudience(fhirBase)
      .setExpirationTime(nowS() + 60)
      .sign(new TextEncoder().encode('a-shared-secret-that-anyone-could-hold'));
    expect((await refusal(verifier('jwks').verify(fhirBase, hmac))).status).toBe(401);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ iss: fhirBase, aud: fhirBase, exp: nowS() + 60 }),
    ).toString('base64url')}.`;
    expect((await refusal(verifier('jwks').verify(fhirBase, unsigned))).status).toBe(401);
  });
});
