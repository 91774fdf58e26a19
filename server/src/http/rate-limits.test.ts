/**
 * The rate limits through a real Express app on loopback: per IP and per token on the API, per IP and per calling
 * EHR on CDS Hooks; standard RateLimit headers on every answer, 429 with Retry-After and an OperationOutcome beyond.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleError } from './error-handler';
import { apiRateLimits, cdsRateLimits } from './rate-limits';
import { requestLogger } from './security';

let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.set('trust proxy', false);
  app.use(requestLogger(pino({ level: 'silent' })));
  app.use('/api', apiRateLimits({ windowSeconds: 60, apiPerIp: 5, apiPerToken: 3, cdsPerIp: 4, cdsPerClient: 2 }));
  app.use(
    '/cds-services',
    cdsRateLimits({ windowSeconds: 60, apiPerIp: 5, apiPerToken: 3, cdsPerIp: 4, cdsPerClient: 2 }),
  );
  app.all('/{*path}', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(handleError);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const get = (path: string, token?: string): Promise<Response> =>
  fetch(`${base}${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

const cdsJwt = (iss: string): Promise<string> =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(iss)
    .sign(new TextEncoder().encode('x'.repeat(32)));

describe('the API rate limits', () => {
  it('when one token sends more than its limit, then 429 with Retry-After and a sentence naming the key; another token still passes', async () => {
    const answers = await Promise.all([1, 2, 3].map(() => get('/api/analyses', 'token-a')));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(answers[0]?.headers.get('ratelimit')).toMatch(/"api-ip"; r=\d+; t=\d+, "api-token"; r=2; t=\d+/);
    expect(answers[0]?.headers.get('ratelimit-policy')).toMatch(/"api-token"; q=3; w=60; pk=:[A-Za-z0-9+/=]+:/);
    const refused = await get('/api/analyses', 'token-a');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const outcome = (await refused.json()) as { issue: { code: string; diagnostics: string }[] };
    expect(outcome.issue[0]).toMatchObject({
      code: 'throttled',
      diagnostics: expect.stringMatching(
        /^Too many requests with this session: at most 3 in 60 seconds \(RATE_LIMIT_API_PER_TOKEN\)/,
      ) as unknown,
    });
    expect((await get('/api/analyses', 'token-b')).status).toBe(200);
  });

  it('when one address sends more than its limit with any tokens, then 429 naming the per-IP key', async () => {
    // token-a: 4 requests, token-b: 1 so far; the address's fifth passed above.
    const refused = await get('/api/model');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { issue: { diagnostics: string }[] }).issue[0]?.diagnostics).toMatch(
      /RATE_LIMIT_API_PER_IP/,
    );
  });
});

describe('the CDS Hooks rate limits', () => {
  it('when one EHR (JWT iss) calls more than its limit, then 429; another EHR is counted apart, and the address limit holds for all', async () => {
    const ehrA = await cdsJwt('https://ehr-a.example');
    const ehrB = await cdsJwt('https://ehr-b.example');
    expect((await get('/cds-services/ldh-cds-order-select', ehrA)).status).toBe(200);
    expect((await get('/cds-services/ldh-cds-order-select', ehrA)).status).toBe(200);
    const refused = await get('/cds-services/ldh-cds-order-select', ehrA);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit')).toMatch(/"cds-client"; r=0/);
    expect((await get('/cds-services/ldh-cds-order-select', ehrB)).status).toBe(200);
    expect((await get('/cds-services')).status).toBe(429);
  });
});
