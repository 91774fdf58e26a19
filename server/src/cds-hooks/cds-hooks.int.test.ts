/**
 * CDS Hooks through the real app server (port chosen free beforehand: the JWT `aud` must equal the exact
 * service URL, so the app must know its own URL before it starts).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle } from 'fhir/r4';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type RunningServer } from '../app';
import { findFreePort } from '../cli/free-port';
import { loadConfig } from '../config';

const ISS = 'https://ehr.test';
let app: RunningServer;
let serviceUrl: string;
let privateKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('ES384');
  privateKey = pair.privateKey;
  const dir = await mkdtemp(path.join(tmpdir(), 'ldh-cds-'));
  const clientsFile = path.join(dir, 'cds-clients.json');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'ES384' };
  await writeFile(clientsFile, JSON.stringify({ clients: [{ iss: ISS, jwks: { keys: [jwk] } }] }));
  const port = await findFreePort();
  const config = loadConfig({
    APP_PORT: String(port),
    APP_BASE_URL: `http://127.0.0.1:${port}`,
    CDS_CLIENTS_FILE: clientsFile,
    CLIENT_DIST_DIR: dir,
    LOG_LEVEL: 'silent',
  });
  app = await startAppServer(config);
  serviceUrl = `${config.APP_BASE_URL}/cds-services/ldh-cds-order-select`;
});

afterAll(async () => {
  await app.close();
});

const sign = (aud: string): Promise<string> =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'test-key', typ: 'JWT' })
    .setIssuer(ISS)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(privateKey);

function draftOrders(code: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      {
        resource: {
          resourceType: 'ServiceRequest',
          id: 'referral-1',
          status: 'draft',
          intent: 'order',
          subject: { reference: 'Patient/p1' },
          code: { coding: [{ system: 'http://snomed.info/sct', code }] },
        },
      },
    ],
  };
}

const reports: Bundle = {
  resourceType: 'Bundle',
  type: 'searchset',
  entry: [
    {
      resource: {
        resourceType: 'DiagnosticReport',
        status: 'preliminary',
        code: { coding: [{ system: 'http://loinc.org', code: '18748-4' }] },
        issued: '2026-11-01T10:00:00Z',
        conclusion:
          'L1-L2: no herniation\nL2-L3: no herniation\nL3-L4: no herniation\nL4-L5: 2-AB (left)\nL5-S1: 1-A (right)',
      },
    },
  ],
};

async function callHook(body: unknown, token?: string): Promise<Response> {
  return fetch(serviceUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

const hookBody = (code: string): Record<string, unknown> => ({
  hook: 'order-select',
  hookInstance: randomUUID(),
  context: {
    userId: 'Practitioner/1',
    patientId: 'p1',
    selections: ['ServiceRequest/referral-1'],
    draftOrders: draftOrders(code),
  },
  prefetch: { patient: { resourceType: 'Patient', id: 'p1' }, reports },
});

describe('CDS Hooks service', () => {
  it('when discovery is requested, then it lists the order-select service with prefetch templates and allows CORS', async () => {
    const response = await fetch(`${app.url}/cds-services`);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const body = (await response.json()) as {
      services: { id: string; hook: string; prefetch: Record<string, string> }[];
    };
    expect(body.services.find((s) => s.id === 'ldh-cds-order-select')).toMatchObject({
      hook: 'order-select',
      prefetch: {
        patient: 'Patient/{{context.patientId}}',
        reports: 'DiagnosticReport?patient=Patient/{{context.patientId}}&code=http://loinc.org|18748-4',
      },
    });
  });

  it('when a spine referral is selected, then one card names the stored findings', async () => {
    const response = await callHook(hookBody('308482002'), await sign(serviceUrl));
    expect(response.status).toBe(200);
    const { cards } = (await response.json()) as {
      cards: { summary: string; indicator: string; links: { type: string; url: string }[] }[];
    };
    expect(cards).toHaveLength(1);
    expect(cards[0]?.summary).toBe('Lumbar MRI (AI, preliminary): L4-L5 2-AB left; L5-S1 1-A right');
    expect(cards[0]?.indicator).toBe('warning');
    expect(cards[0]?.links[0]).toMatchObject({
      type: 'smart',
      url: `${serviceUrl.replace(/\/cds-services\/.*/, '')}/launch.html`,
    });
  });

  it('when the draft order is not a spine referral, then there are no cards', async () => {
    const response = await callHook(hookBody('999999'), await sign(serviceUrl));
    expect(await response.json()).toEqual({ cards: [] });
  });

  it('when the JWT is missing or signed for another audience, then the call is refused with 401', async () => {
    expect((await callHook(hookBody('308482002'))).status).toBe(401);
    expect((await callHook(hookBody('308482002'), await sign(`${serviceUrl}-other`))).status).toBe(401);
  });

  it('when reports are neither prefetched nor fetchable, then it answers 412', async () => {
    const body = { ...hookBody('308482002'), prefetch: {} };
    expect((await callHook(body, await sign(serviceUrl))).status).toBe(412);
  });

  it('when feedback is posted, then it answers 200', async () => {
    const response = await fetch(`${serviceUrl}/feedback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await sign(`${serviceUrl}/feedback`)}` },
      body: JSON.stringify({
        feedback: [{ card: randomUUID(), outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }],
      }),
    });
    expect(response.status).toBe(200);
  });
});
