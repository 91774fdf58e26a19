/**
 * The queue workers' own authorization (server/src/http/backend-services.ts, docs/deploy.md §Worker authorization):
 * SMART Backend Services against the real mock EHR — client_credentials with a private_key_jwt assertion as
 * `ldh-cds-server`, registered as smart-config/clients.json ships it (its key pasted in as `jwks` here, as the test
 * serves no JWKS). The token reads any patient's study and images and writes results, and nothing else; a scope
 * beyond the registration, another key or an EHR that does not answer is 502 with a sentence.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import { generatePhantomStudy } from '../../models/synthetic';
import { findFreePort } from '../../server/src/cli/free-port';
import { SUBSCRIPTION_SCOPE } from '../../server/src/arrival/subscription';
import { createBackendTokens, DEFAULT_BACKEND_SCOPES } from '../../server/src/http/backend-services';
import { loadOrCreateClientKey, type ClientKey } from '../../server/src/http/client-key';
import { HttpError } from '../../server/src/http/http-error';

const repoRoot = path.resolve(import.meta.dirname, '../..');

interface Registration {
  client_id: string;
  token_endpoint_auth_method: string;
  grant_types?: string[];
  scope?: string;
  jwks_uri?: string;
  jwks?: unknown;
}

let dir: string;
let ehr: MockEhr;
let key: ClientKey;
let shipped: Registration | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-backend-'));
  key = await loadOrCreateClientKey(path.join(dir, 'key.json'));
  const registrations = JSON.parse(await readFile(path.join(repoRoot, 'smart-config/clients.json'), 'utf8')) as {
    clients: Registration[];
  };
  shipped = registrations.clients.find((client) => client.client_id === 'ldh-cds-server');
  const clientsFile = path.join(dir, 'clients.json');
  await writeFile(
    clientsFile,
    JSON.stringify({
      clients: registrations.clients.map((client) =>
        client.client_id === 'ldh-cds-server'
          ? { ...client, jwks_uri: undefined, jwks: { keys: [key.publicJwk] } }
          : client,
      ),
    }),
  );
  ehr = await startMockEhr({
    port: 0,
    appBaseUrl: 'http://localhost:1',
    dataDir: path.join(dir, 'ehr'),
    clientsFile,
    patientCount: 2,
    generateStudy: generatePhantomStudy,
    logger: pino({ level: 'silent' }),
  });
});

afterAll(async () => {
  await ehr.close();
  await rm(dir, { recursive: true, force: true });
});

const tokens = (scope = DEFAULT_BACKEND_SCOPES, clientKey: ClientKey = key) =>
  createBackendTokens({
    clientKey: () => Promise.resolve(clientKey),
    registrationFor: () => ({ clientId: 'ldh-cds-server', scope }),
  });

describe('SMART Backend Services for the queue workers', () => {
  it('then smart-config/clients.json registers ldh-cds-server for client_credentials with exactly the scopes the workers ask for, and the Subscription scope of analyze on arrival', () => {
    expect(shipped).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      jwks_uri: '{APP_BASE_URL}/.well-known/jwks.json',
    });
    const scopes = (text: string | undefined) => (text ?? '').split(/\s+/).filter(Boolean).sort();
    expect(scopes(shipped?.scope)).toEqual(scopes(`${DEFAULT_BACKEND_SCOPES} ${SUBSCRIPTION_SCOPE}`));
    expect(scopes(shipped?.scope).every((scope) => scope.startsWith('system/'))).toBe(true);
  });

  it('when a worker asks, then it gets a token that reads any patient’s study and images and nothing it does not need, and it is reused', async () => {
    const backend = tokens();
    const token = await backend.tokenFor(ehr.fhirBaseUrl);
    expect(await backend.tokenFor(`${ehr.fhirBaseUrl}/`)).toBe(token);
    const auth = { Authorization: `Bearer ${token}` };
    for (const seeded of ehr.seed.patients) {
      const study = await fetch(`${ehr.fhirBaseUrl}/ImagingStudy/${seeded.imagingStudyId}`, { headers: auth });
      expect(study.status).toBe(200);
      const series = await fetch(`${ehr.dicomWebUrl}/studies/${seeded.studyInstanceUid}/series`, { headers: auth });
      expect(series.status).toBe(200);
    }
    const reports = await fetch(`${ehr.fhirBaseUrl}/DiagnosticReport?_count=1`, { headers: auth });
    expect(reports.status).toBe(200);
    // No scope to change a Patient, or to read a Practitioner.
    const patient = ehr.seed.patients[0]?.patientId ?? '';
    const changed = await fetch(`${ehr.fhirBaseUrl}/Patient/${patient}`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', id: patient }),
    });
    expect(changed.status).toBe(403);
    expect((await fetch(`${ehr.fhirBaseUrl}/Practitioner?_count=1`, { headers: auth })).status).toBe(403);
  });

  it('when a worker asks for more than its registration allows, then 502 naming the client and the scopes to register', async () => {
    const refused = await tokens(`${DEFAULT_BACKEND_SCOPES} system/Patient.cruds`)
      .tokenFor(ehr.fhirBaseUrl)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).status).toBe(502);
    expect((refused as HttpError).message).toMatch(
      /its token endpoint refused ldh-cds-server \(HTTP 400 \(invalid_scope\)\)\. The EHR must register ldh-cds-server as a SMART Backend Services client/,
    );
  });

  it('when an EHR knows the server under another client id (its EHRS_FILE entry), then that id is the one asked for', async () => {
    const asked: string[] = [];
    const perEhr = createBackendTokens({
      clientKey: () => Promise.resolve(key),
      registrationFor: (fhirBaseUrl) => {
        asked.push(fhirBaseUrl);
        return { clientId: 'ldh-cds-at-another-ehr', scope: DEFAULT_BACKEND_SCOPES };
      },
    });
    // The mock EHR registers ldh-cds-server only: the other id is refused, and the message names it.
    const error = await perEhr.tokenFor(ehr.fhirBaseUrl).then(
      () => undefined,
      (reason: unknown) => reason as HttpError,
    );
    expect(error?.status).toBe(502);
    expect(error?.message).toContain('refused ldh-cds-at-another-ehr');
    expect(asked).toEqual([ehr.fhirBaseUrl]);
  });

  it('when a worker signs with another key than the registered one, then 502 (invalid_client)', async () => {
    const other = await loadOrCreateClientKey(path.join(dir, 'other-key.json'));
    const refused = await tokens(DEFAULT_BACKEND_SCOPES, other)
      .tokenFor(ehr.fhirBaseUrl)
      .catch((error: unknown) => error);
    expect((refused as HttpError).status).toBe(502);
    expect((refused as HttpError).message).toMatch(/invalid_client/);
  });

  it('when the EHR does not answer, then 502 saying so', async () => {
    const refused = await tokens()
      .tokenFor(`http://127.0.0.1:${await findFreePort()}/fhir`)
      .catch((error: unknown) => error);
    expect((refused as HttpError).status).toBe(502);
    expect((refused as HttpError).message).toMatch(/SMART configuration did not answer/);
  });
});
