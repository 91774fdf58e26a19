/**
 * Analyze on arrival by a FHIR R4 rest-hook Subscription (issue 23): the mock EHR and the app server on loopback,
 * ANALYZE_ON_ARRIVAL=subscription with the polls an hour apart, so that whatever is analyzed here was read because
 * the EHR notified the app. Real phantom studies arrive through `admitPatient`; the in-process engine runs the
 * watcher's jobs with the server's own Backend Services token. Nobody opens the app.
 *
 * - the watcher registers one Subscription at the EHR (its CapabilityStatement offers them): active, every ImagingStudy,
 *   the app's endpoint, a bearer secret in its header, no payload;
 * - a lumbar MRI arrives: the EHR notifies, the app reads and analyzes it: one report;
 * - a notification without the secret, or with another, is refused (401) and reads nothing;
 * - a notification whose body names a study is only a "read now": the body is not read, nothing new is queued;
 * - the app is down when a study arrives: the EHR's notification fails and it sets the Subscription to `error`; the
 *   restarted watcher requests it again with a new secret (the old one is refused from then on) and analyzes the
 *   study from its cursor.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { DiagnosticReport, Subscription } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startAppServer, type RunningServer } from '../../server/src/app';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadConfig } from '../../server/src/config';

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

let dataDir: string;
let ehr: MockEhr;
let app: RunningServer | undefined;
let appBaseUrl: string;
let env: Record<string, string>;
const lines: LogLine[] = [];

const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  }),
);
const count = (message: string): number => lines.filter((line) => line.msg === message).length;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  for (const started = Date.now(); !(await check());) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function subscriptions(): Promise<Subscription[]> {
  return ehr.repo.searchResources<Subscription>({ resourceType: 'Subscription', count: 100 });
}

/** The secret the EHR sends with each notification (its Subscription's Authorization header). */
async function secret(): Promise<string> {
  const header = (await subscriptions())[0]?.channel.header?.[0] ?? '';
  return /^Authorization: Bearer (\S+)$/.exec(header)?.[1] ?? '';
}

async function reportsOf(imagingStudyId: string): Promise<DiagnosticReport[]> {
  const reports = await ehr.repo.searchResources<DiagnosticReport>({ resourceType: 'DiagnosticReport', count: 1000 });
  return reports.filter((report) =>
    report.imagingStudy?.some((ref) => ref.reference === `ImagingStudy/${imagingStudyId}`),
  );
}

const notify = (headers: Record<string, string>, body?: unknown): Promise<Response> =>
  fetch(`${appBaseUrl}/arrivals/notify`, {
    method: 'POST',
    headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/fhir+json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function startApp(): Promise<void> {
  app = await startAppServer(loadConfig(env), { logger });
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-arrival-sub-'));
  const [ehrPort, appPort] = [await findFreePort(), await findFreePort()];
  appBaseUrl = `http://localhost:${appPort}`;
  ehr = await startMockEhr({
    port: ehrPort,
    publicBaseUrl: `http://localhost:${ehrPort}`,
    appBaseUrl,
    dataDir,
    patientCount: 1,
    generateStudy: generatePhantomStudy,
    logger: pino({ level: 'silent' }),
  });
  await writeFile(
    path.join(dataDir, 'ehrs.json'),
    JSON.stringify({ ehrs: [{ fhirBaseUrl: ehr.fhirBaseUrl, imagingOrigins: [new URL(ehr.dicomWebUrl).origin] }] }),
  );
  env = {
    APP_PORT: String(appPort),
    APP_BASE_URL: appBaseUrl,
    EHRS_FILE: path.join(dataDir, 'ehrs.json'),
    CDS_FEEDBACK_FILE: path.join(dataDir, 'cds-feedback.jsonl'),
    CLIENT_KEY_FILE: path.join(dataDir, 'client-key.private.jwk.json'),
    MODEL_DIR: TINY_MODEL_DIR,
    DECODE_THREADS: '1',
    ANALYZE_ON_ARRIVAL: 'subscription',
    // Polls an hour apart: what is read in this test was read because a notification came.
    ARRIVAL_POLL_INTERVAL_S: '3600',
    ARRIVAL_RECHECK_INTERVAL_S: '3600',
    ARRIVAL_CURSOR_FILE: path.join(dataDir, 'arrival-cursor.json'),
  };
  await startApp();
  await waitFor('the first read', () => count('arrival watcher: first read of this EHR') === 1);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await ehr.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('analyze on arrival, notified by a FHIR rest-hook Subscription', () => {
  it('when the watcher starts, then it has registered one rest-hook Subscription at the EHR: active, every ImagingStudy, a bearer secret, no payload', async () => {
    expect(count('arrival watcher: notified by a FHIR Subscription (rest-hook)')).toBe(1);
    const [subscription, ...others] = await subscriptions();
    expect(others).toEqual([]);
    expect(subscription).toMatchObject({
      status: 'active',
      criteria: 'ImagingStudy?',
      channel: { type: 'rest-hook', endpoint: `${appBaseUrl}/arrivals/notify` },
    });
    expect(subscription?.channel.payload).toBeUndefined();
    expect(subscription?.channel.header).toEqual([expect.stringMatching(/^Authorization: Bearer [A-Za-z0-9_-]{43}$/)]);
  });

  it('when a lumbar MRI arrives, then the EHR notifies the app, which reads the EHR and analyzes it: one DiagnosticReport', async () => {
    const readsBefore = count('arrival notification: reading the EHR now');
    const patient = await ehr.admitPatient();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(count('arrival notification: reading the EHR now')).toBeGreaterThan(readsBefore);
    expect(count('arrival queued for analysis')).toBe(1);
  }, 180_000);

  it('when a notification comes without the secret or with another, then it is refused (401) and nothing is read', async () => {
    const readsBefore = count('arrival notification: reading the EHR now');
    const none = await notify({});
    expect(none.status).toBe(401);
    expect(none.headers.get('WWW-Authenticate')).toBe('Bearer');
    expect(((await none.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    const wrong = await notify({ Authorization: `Bearer ${'x'.repeat(43)}` });
    expect(wrong.status).toBe(401);
    const right = await secret();
    const almost = await notify({ Authorization: `Bearer ${right.slice(0, -1)}${right.endsWith('A') ? 'B' : 'A'}` });
    expect(almost.status).toBe(401);
    expect(count('arrival notification: reading the EHR now')).toBe(readsBefore);
    expect(count('arrival notification refused: not from an ldh-cds Subscription')).toBe(3);
    expect(JSON.stringify(lines)).not.toContain(right);
  });

  it('when a notification carries a body naming a study, then the body is not read: the watcher reads the EHR from its cursor and queues nothing new', async () => {
    const readsBefore = count('arrival notification: reading the EHR now');
    const queuedBefore = count('arrival queued for analysis');
    const forged = {
      resourceType: 'ImagingStudy',
      id: 'forged',
      status: 'available',
      modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' }],
      subject: { reference: `Patient/${ehr.seed.patients[0]?.patientId ?? ''}` },
      procedureCode: [{ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '72148' }] }],
    };
    const response = await notify({ Authorization: `Bearer ${await secret()}` }, forged);
    expect(response.status).toBe(200);
    await waitFor('the read', () => count('arrival notification: reading the EHR now') === readsBefore + 1);
    // The read finds nothing past the cursor: no job, for the forged study or any other.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(count('arrival queued for analysis')).toBe(queuedBefore);
    expect(await reportsOf('forged')).toEqual([]);
  }, 60_000);

  it('when the app is down as a study arrives, then the failed notification puts the Subscription in error, and the restarted watcher requests it again with a new secret and analyzes the study', async () => {
    const oldSecret = await secret();
    await app?.close();
    app = undefined;
    const patient = await ehr.admitPatient();
    // The EHR tries three times (now, 1 s and 2 s later), then gives the Subscription up.
    await waitFor('the Subscription in error', async () => (await subscriptions())[0]?.status === 'error', 30_000);
    expect((await subscriptions())[0]?.error).toMatch(/^Notification failed: the endpoint did not answer/);

    await startApp();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    const [subscription, ...others] = await subscriptions();
    expect(others).toEqual([]);
    expect(subscription?.status).toBe('active');
    const newSecret = await secret();
    expect(newSecret).not.toBe(oldSecret);
    expect((await notify({ Authorization: `Bearer ${oldSecret}` })).status).toBe(401);
    expect((await notify({ Authorization: `Bearer ${newSecret}` })).status).toBe(200);
    expect(count('arrival queued for analysis')).toBe(2);
  }, 180_000);
});
