/**
 * Analyze on arrival in the scaled shape (issue 23): Debian's redis-server on a free loopback port, a worker process
 * (`server/src/worker-main.ts`, `npm run worker`, a child process) and an app server that runs a worker too
 * (RUN_WORKER_IN_API=true): each runs a watcher, with ANALYZE_ON_ARRIVAL=poll; the mock EHR with real phantom studies
 * arriving through `admitPatient`. The worker process starts first and takes the EHR's lease; the lease in Redis lets
 * exactly one of them read the EHR; the cursor is in Redis, so when the worker process stops (SIGTERM) the app server
 * takes the EHR over from where it was. Both act with their own SMART Backend Services token (the mock EHR knows the
 * server's key inline here, so a token can be had whichever process is up).
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
import { startNodeChild } from '../support/node-child';
import { startRedisServer, type RedisServer } from '../support/redis-server';

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

interface Watching {
  name: string;
  lines: LogLine[];
  /** Stops the process (the worker: SIGTERM); undefined once stopped. */
  stop: (() => Promise<void>) | undefined;
}

let redis: RedisServer;
let dataDir: string;
let ehr: MockEhr;
/** The worker process, then the app server. */
const apps: Watching[] = [];
let server: RunningServer | undefined;

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

const count = (app: Watching, message: string): number => app.lines.filter((line) => line.msg === message).length;
const everywhere = (message: string): number => apps.reduce((sum, app) => sum + count(app, message), 0);
const readers = (): Watching[] => apps.filter((app) => count(app, 'arrival watcher: reading this EHR') > 0);
const waitUntil = async (what: string, check: () => boolean): Promise<void> => {
  for (const started = Date.now(); !check();) {
    if (Date.now() - started > 120_000) throw new Error(`${what} did not happen within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

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
  const env = {
    EHRS_FILE: path.join(dataDir, 'ehrs.json'),
    CLIENT_KEY_FILE: clientKeyFile,
    MODEL_DIR: TINY_MODEL_DIR,
    DECODE_THREADS: '1',
    REDIS_URL: redis.url,
    JOB_ATTEMPTS: '1',
    ANALYZE_ON_ARRIVAL: 'poll',
    ARRIVAL_POLL_INTERVAL_S: '1',
  };
  // The worker process first: it takes the lease.
  const workerLines: LogLine[] = [];
  const worker = await startNodeChild('server/src/worker-main.ts', {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    readyPrefix: 'worker ready ',
    onLine: (line) => {
      if (line.startsWith('{')) workerLines.push(JSON.parse(line) as LogLine);
    },
  });
  apps.push({ name: 'worker process', lines: workerLines, stop: () => worker.stop() });
  await waitUntil(
    "the worker process's first read",
    () => count(apps[0] as Watching, 'arrival watcher: first read of this EHR') === 1,
  );
  const appLines: LogLine[] = [];
  const port = appPorts[0] ?? 0;
  server = await startAppServer(
    loadConfig({
      ...env,
      APP_PORT: String(port),
      APP_BASE_URL: `http://localhost:${port}`,
      CDS_FEEDBACK_FILE: path.join(dataDir, 'cds-feedback.jsonl'),
      RUN_WORKER_IN_API: 'true',
    }),
    { logger: lineLogger(appLines) },
  );
  apps.push({ name: 'app server', lines: appLines, stop: () => server?.close() ?? Promise.resolve() });
}, 180_000);

afterAll(async () => {
  for (const app of apps) await app.stop?.();
  await ehr.close();
  await redis.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('analyze on arrival with Redis, a worker process and an app server that could both watch', () => {
  it('when a lumbar MRI arrives, then exactly one process reads the EHR and queues it: one job, one report', async () => {
    expect(readers().map((app) => app.name)).toEqual(['worker process']);
    const patient = await ehr.admitPatient();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(everywhere('arrival queued for analysis')).toBe(1);
    // Several more reads by the holder, none by the other: still one.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(readers().map((app) => app.name)).toEqual(['worker process']);
    expect(everywhere('arrival queued for analysis')).toBe(1);
    expect(await reportsOf(patient.imagingStudyId)).toHaveLength(1);
  }, 180_000);

  it('when the worker process that reads the EHR stops, then the app server takes it over from the cursor in Redis: the next arrival is queued once, none before it again', async () => {
    const [holder, other] = apps;
    if (!holder?.stop || !other) throw new Error('the processes are not running');
    await holder.stop();
    holder.stop = undefined;
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

  it("when the EHR refuses the queue worker's token before its time, then the job runs again with a fresh one: one report", async () => {
    // The app server's queue worker holds its own Backend Services token (worker.ts), apart from the watcher's: both
    // are refused now, and a job runs only once (JOB_ATTEMPTS 1) — it completes only if the worker asks for a new one.
    ehr.expireAccessTokens();
    const patient = await ehr.admitPatient();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(everywhere('arrival queued for analysis')).toBe(3);
  }, 180_000);
});
