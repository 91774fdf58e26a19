/**
 * The mock EHR's FHIR R4 rest-hook Subscriptions (fhir/subscriptions.ts), as a client sees them: offered in the
 * CapabilityStatement, created with a Backend Services token, activated, notifying the app's origin with the channel's
 * headers and no body for each matching write only, refused (422) when they ask for what is not offered, and set to
 * `error` when the endpoint keeps failing. The "app" is a small HTTP server that records what it receives.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../models/synthetic';
import { offersSubscriptions } from '../../server/src/arrival/subscription';
import { createBackendTokens } from '../../server/src/http/backend-services';
import { loadOrCreateClientKey } from '../../server/src/http/client-key';
import type { MockEhr } from './app';
import { DEFAULT_CLIENTS_FILE } from './auth/clients';
import { startTestEhr } from './test-support';

interface Received {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

let ehr: MockEhr;
let cleanup: () => Promise<void>;
let scratch: string;
let app: Server;
let appUrl: string;
let token: string;
const received: Received[] = [];
/** What the "app" answers a notification. */
let answer = 200;

beforeAll(async () => {
  app = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  scratch = await mkdtemp(path.join(tmpdir(), 'mock-ehr-subscriptions-'));
  const key = await loadOrCreateClientKey(path.join(scratch, 'key.json'));
  const registrations = JSON.parse(await readFile(DEFAULT_CLIENTS_FILE, 'utf8')) as { clients: object[] };
  registrations.clients.push({
    client_id: 'subscriber',
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    scope: 'system/Subscription.cus system/ImagingStudy.rs',
    jwks: { keys: [key.publicJwk] },
  });
  const clientsFile = path.join(scratch, 'clients.json');
  await writeFile(clientsFile, JSON.stringify(registrations));
  ({ ehr, cleanup } = await startTestEhr(1, { appBaseUrl: appUrl, clientsFile, generateStudy: generatePhantomStudy }));
  token = await createBackendTokens({
    clientKey: () => Promise.resolve(key),
    registrationFor: () => ({ clientId: 'subscriber', scope: 'system/Subscription.cus system/ImagingStudy.rs' }),
  }).tokenFor(ehr.fhirBaseUrl);
}, 60_000);

afterAll(async () => {
  await cleanup();
  await new Promise((resolve) => app.close(resolve));
  await rm(scratch, { recursive: true, force: true });
});

const subscription = (overrides: Partial<Subscription['channel']> = {}, criteria = 'ImagingStudy?'): Subscription => ({
  resourceType: 'Subscription',
  status: 'requested',
  reason: 'test',
  criteria,
  channel: { type: 'rest-hook', endpoint: `${appUrl}/notify`, header: ['Authorization: Bearer s3cret'], ...overrides },
});

const create = (resource: Subscription): Promise<Response> =>
  fetch(`${ehr.fhirBaseUrl}/Subscription`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify(resource),
  });

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (const started = Date.now(); !(await check());) {
    if (Date.now() - started > 30_000) throw new Error(`${what} did not happen within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('rest-hook Subscriptions at the mock EHR', () => {
  it('then the CapabilityStatement offers Subscriptions to create, and says which channel in words', async () => {
    const capability = (await (await fetch(`${ehr.fhirBaseUrl}/metadata`)).json()) as {
      rest: { resource: { type: string; documentation?: string }[] }[];
    };
    expect(offersSubscriptions(capability)).toBe(true);
    const entry = capability.rest[0]?.resource.find((resource) => resource.type === 'Subscription');
    expect(entry?.documentation).toMatch(/rest-hook/);
  });

  it('when a Subscription is requested, then it is stored active, and each matching write notifies the endpoint with its header and no body', async () => {
    const response = await create(subscription());
    expect(response.status).toBe(201);
    const stored = (await response.json()) as Subscription;
    expect(stored.status).toBe('active');
    // A Patient and then an ImagingStudy are written: only the study matches `ImagingStudy?`.
    await ehr.admitPatient();
    await waitFor('a notification', () => received.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received).toEqual([{ method: 'POST', url: '/notify', authorization: 'Bearer s3cret', body: '' }]);
  }, 60_000);

  it('when a Subscription asks for what is not offered, then it is refused with 422 and a sentence', async () => {
    const refusals: [Subscription, RegExp][] = [
      [subscription({ payload: 'application/fhir+json' }), /carry no payload/],
      [subscription({ type: 'websocket' }), /channel\.type websocket is not offered/],
      [
        subscription({ endpoint: 'http://attacker.example/hook' }),
        /delivers notifications only to http:\/\/127\.0\.0\.1/,
      ],
    ];
    for (const [resource, reason] of refusals) {
      const response = await create(resource);
      expect(response.status).toBe(422);
      expect(JSON.stringify(await response.json())).toMatch(reason);
    }
  });

  it('when the endpoint keeps failing, then the notification is tried three times and the Subscription set to error', async () => {
    received.length = 0;
    answer = 500;
    try {
      await ehr.admitPatient();
      await waitFor('the Subscription in error', async () => {
        const [stored] = await ehr.repo.searchResources<Subscription>({ resourceType: 'Subscription' });
        return stored?.status === 'error';
      });
      expect(received).toHaveLength(3);
      const [stored] = await ehr.repo.searchResources<Subscription>({ resourceType: 'Subscription' });
      expect(stored?.error).toBe('Notification failed: the endpoint answered HTTP 500');
    } finally {
      answer = 200;
    }
  }, 60_000);
});
