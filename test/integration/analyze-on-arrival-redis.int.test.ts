/**
 * Analyze on arrival in the scaled shape (issue 23): Debian's redis-server on a free loopback port and two app servers
 * that each run a worker (REDIS_URL, RUN_WORKER_IN_API=true) and so each a watcher, with ANALYZE_ON_ARRIVAL=poll; the
 * mock EHR with real phantom studies arriving through `admitPatient`. The lease in Redis lets exactly one of them read
 * the EHR; the cursor is in Redis, so when that process stops the other takes the EHR over from where it was.
 * The workers act with their own SMART Backend Services token (the mock EHR knows the server's key inline here, so a
 * token can be had whichever process is up).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { DiagnosticReport } from '@medplum/fhirtypes';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startAppServer, type RunningServer } from '../../server/src/app';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadConfig } from '../../server/src/config';
import { loadOrCreateClientKey } from '../../server/src/http/client-key';
import { startRedisServer, type RedisServer } from '../support/redis-server';

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

interface App {
  name: string;
  server: RunningServer | undefined;
  lines: LogLine[];
  logger: Logger;
}

let redis: RedisServer;
let dataDir: string;
let ehr: MockEhr;
const apps: App[] = [];

function lineLogger(lines: LogLine[]): Logger {
  return pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text) as LogLine);
        done();
      },
    }),
  );
}

const count = (app: App, message: string): number => app.lines.filter((line) => line.msg === message).length;
const everywhere = (message: string): number => apps.reduce((sum, app) => sum + count(app, message), 0);
/** The app whose watcher reads the EHR now. */
const reader = (): App | undefined =>
  apps.find((app) => app.server && count(app, 'arrival watcher: reading this EHR') > 0);

async function reportsOf(imagingStudyId: string): Promise<DiagnosticReport[]> {
  const reports = await ehr.repo.searchResources<DiagnosticReport>({ resourceType: 'DiagnosticReport', count: 1000 });
  return reports.filter((report) =>
    report.imagingStudy?.some((ref) => ref.reference === `ImagingStudy/${imagingStudyId}`),
  );
}

beforeAll(async () => {
  redis = await startRedisServer();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-arrival-redis-'));
  const clientKeyFile = path.join(dataDir, 'client-key.private.jwk.json');
  const clientKey = await loadOrCreateClientKey(clientKeyFile);
  const clientsFile = path.join(dataDir, 'clients.json');
  await writeFile(
    clientsFile,
    JSON.stringify({
      clients: [
        {
          client_id: 'ldh-cds-server',
          client_name: 'ldh-cds workers (Backend Services)',
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials'],
          scope:
            'system/ImagingStudy.rs system/Endpoint.r system/Patient.r system/DiagnosticReport.crus system/Observation.crus system/DocumentReference.crus system/Provenance.crs system/Device.crs',
          jwks: { keys: [clientKey.publicJwk] },
        },
      ],
    }),
  );
  const ehrPort = await findFreePort();
  const appPorts = [await findFreePort(), await findFreePort()];
  ehr = await startMockEhr({
    port: ehrPort,
    publicBaseUrl: `http://localhost:${ehrPort}`,
    appBaseUrl: `http://localhost:${appPorts[0] ?? 0}`,
    dataDir,
    patientCount: 1,
    generateStudy: generatePhantomStudy,
    clientsFile,
    logger: pino({ level: 'warn' }),
  });
  await writeFile(
    path.join(dataDir, 'ehrs.json'),
    JSON.stringify({ ehrs: [{ fhirBaseUrl: ehr.fhirBaseUrl, imagingOrigins: [new URL(ehr.dicomWebUrl).origin] }] }),
  );
  for (const [index, port] of appPorts.entries()) {
    const lines: LogLine[] = [];
    const app: App = { name: `app ${index + 1}`, server: undefined, lines, logger: lineLogger(lines) };
    app.server = await startAppServer(
      loadConfig({
        APP_PORT: String(port),
        APP_BASE_URL: `http://localhost:${port}`,
        EHRS_FILE: path.join(dataDir, 'ehrs.json'),
        CDS_FEEDBACK_FILE: path.join(dataDir, `cds-feedback-${index}.jsonl`),
        CLIENT_KEY_FILE: clientKeyFile,
        MODEL_DIR: TINY_MODEL_DIR,
        DECODE_THREADS: '1',
        REDIS_URL: redis.url,
        RUN_WORKER_IN_API: 'true',
        JOB_ATTEMPTS: '1',
        ANALYZE_ON_ARRIVAL: 'poll',
        ARRIVAL_POLL_INTERVAL_S: '1',
      }),
      { logger: app.logger },
    );
    apps.push(app);
  }
  for (const started = Date.now(); everywhere('arrival watcher: first read of this EHR') < 1;) {
    if (Date.now() - started > 60_000) throw new Error('no watcher made a first read of the EHR within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 180_000);

afterAll(async () => {
  for (const app of apps) await app.server?.close();
  await ehr.close();
  await redis.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('analyze on arrival with Redis, two processes that could watch', () => {
  it('when a lumbar MRI arrives, then exactly one process reads the EHR and queues it: one job, one report', async () => {
    expect(apps.filter((app) => count(app, 'arrival watcher: reading this EHR') > 0)).toHaveLength(1);
    const patient = await ehr.admitPatient();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(everywhere('arrival queued for analysis')).toBe(1);
    // Several more reads by the holder, none by the other: still one.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(apps.filter((app) => count(app, 'arrival watcher: reading this EHR') > 0)).toHaveLength(1);
    expect(everywhere('arrival queued for analysis')).toBe(1);
    expect(await reportsOf(patient.imagingStudyId)).toHaveLength(1);
  }, 180_000);

  it('when the process that reads the EHR stops, then the other takes it over from the cursor in Redis: the next arrival is queued once, none before it again', async () => {
    const holder = reader();
    const other = apps.find((app) => app !== holder);
    if (!holder || !other) throw new Error('no process reads the EHR');
    await holder.server?.close();
    holder.server = undefined;
    const patient = await ehr.admitPatient();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(count(other, 'arrival watcher: reading this EHR')).toBe(1);
    // It went on from the stored cursor: no first read of its own, one study queued, the earlier one not again.
    expect(count(other, 'arrival watcher: first read of this EHR')).toBe(0);
    expect(count(other, 'arrival queued for analysis')).toBe(1);
    expect(everywhere('arrival queued for analysis')).toBe(2);

    // Redis holds the cursor (EHR resource ids and job ids, as the jobs' data does) and the lease: no MRN, no DICOM UID,
    // no patient reference.
    const client = new Redis(redis.url);
    try {
      const keys = (await client.keys('ldh-cds:arrival:*')).sort();
      expect(keys.map((key) => key.replace(/:[0-9a-f]{32}:/, ':<ehr>:'))).toEqual([
        'ldh-cds:arrival:<ehr>:cursor',
        'ldh-cds:arrival:<ehr>:lease',
      ]);
      const values = await Promise.all(keys.map((key) => client.get(key)));
      for (const value of values)
        for (const secret of [`Patient/${patient.patientId}`, patient.mrn, patient.studyInstanceUid])
          expect(value).not.toContain(secret);
    } finally {
      client.disconnect();
    }
  }, 180_000);
});
