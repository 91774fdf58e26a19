/**
 * Prometheus metrics (issue 23, Operations) on the real processes, against the real mock EHR with the tiny model:
 *
 * (a) one app server, analyses in its own process (no REDIS_URL), its metrics on METRICS_PORT with a METRICS_TOKEN:
 *     an analysis run through the real API raises the completed jobs by one and observes each stage it passed, the
 *     execution provider reads cpu, a study that is not MR (the generator rewrites one patient's Modality to CT) is
 *     refused and raises the errors counter with its kind (unprocessable); the app's own port has no /metrics; a
 *     scrape without the token is 401; and nothing in the metrics names the patients, their studies or the tokens;
 * (b) the queue (a real redis-server), an API process without a worker and a worker process (`worker-main.ts`, a
 *     child process) with WORKER_METRICS_PORT: the analysis runs on the worker, whose metrics count and time it,
 *     while the API's count the job it queued and read the queue's depth from Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import dcmjs from 'dcmjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudyGenerator } from '../../mock-ehr/src/seed/seed';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { findFreePort } from '../../server/src/cli/free-port';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const METRICS_TOKEN = 'metrics-token-for-the-test-0123456789';
/** The seed the mock EHR generates its second patient's study with (seed.ts: 1000 + index). */
const CT_PATIENT_SEED = 1001;
/** The stages an analysis passes through without SR_STOW (analysis-progress.ts). */
const STAGES_RUN = ['finding-series', 'retrieving', 'decoding', 'inferring', 'writing-fhir'];

/** The phantom generator, except that the second patient's study says it is CT in every instance. */
const withCtStudy: StudyGenerator = (options) => {
  const study = generatePhantomStudy(options);
  if (options.seed !== CT_PATIENT_SEED) return study;
  return {
    ...study,
    instances: study.instances.map((instance) => {
      const bytes = instance.part10;
      const dicom = dcmjs.data.DicomMessage.readFile(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      );
      dicom.dict['00080060'] = { vr: 'CS', Value: ['CT'] };
      return { ...instance, part10: new Uint8Array(dicom.write()) };
    }),
  };
};

/** A sample's value in the Prometheus text format: `name{labels} value` (undefined when there is no such line). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(url: string | undefined, token = METRICS_TOKEN): Promise<string> {
  if (!url) throw new Error('the process serves no metrics (METRICS_PORT / WORKER_METRICS_PORT not set)');
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return text;
}

/** POST /api/analyses waiting for the result (RFC 7240 Prefer: wait), as the API answered before jobs. */
async function analyzeAndWait(sandbox: Sandbox, index: number, token: string) {
  const response = await fetch(`${sandbox.app.url}/api/analyses`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
      'Content-Type': 'application/json',
      Prefer: 'wait=120',
    },
    body: JSON.stringify({ imagingStudy: `ImagingStudy/${seededPatient(sandbox, index).imagingStudyId}` }),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

/** Whatever identifies a patient, a study or a caller, which no metric may carry. */
function identifiersOf(sandbox: Sandbox, indexes: number[], tokens: string[]): string[] {
  return [
    ...indexes.flatMap((index) => {
      const seeded = seededPatient(sandbox, index);
      return [seeded.patientId, seeded.mrn, seeded.imagingStudyId, seeded.studyInstanceUid, seeded.seriesInstanceUid];
    }),
    ...tokens,
    METRICS_TOKEN,
    'Synthetic',
  ];
}

describe('(a) when analyses run in the app server, its metrics', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({
      patientCount: 2,
      generateStudy: withCtStudy,
      logger: pino({ level: 'silent' }),
      appEnv: {
        MODEL_DIR: TINY_MODEL_DIR,
        LOG_LEVEL: 'silent',
        DECODE_THREADS: '1',
        METRICS_PORT: '0',
        METRICS_TOKEN,
      },
    });
  }, 180_000);

  afterAll(async () => {
    await sandbox.close();
  });

  it('then an analysis and a refused one are counted, timed by stage and by kind, and name no patient, study or token', async () => {
    const metricsUrl = sandbox.app.metricsUrl;
    const before = await scrape(metricsUrl);
    const completedBefore = sample(before, 'ldh_cds_analysis_jobs_finished_total', { state: 'completed' });
    expect(completedBefore).toBe(0);

    const tokens = [await appTokenFor(sandbox, seededPatient(sandbox, 0).patientId)];
    const done = await analyzeAndWait(sandbox, 0, tokens[0] ?? '');
    expect(done.status, JSON.stringify(done.body)).toBe(201);
    tokens.push(await appTokenFor(sandbox, seededPatient(sandbox, 1).patientId));
    const refused = await analyzeAndWait(sandbox, 1, tokens[1] ?? '');
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(JSON.stringify(refused.body)).toContain('not MR');

    const after = await scrape(metricsUrl);
    expect(sample(after, 'ldh_cds_analysis_jobs_finished_total', { state: 'completed' })).toBe(1);
    expect(sample(after, 'ldh_cds_analysis_jobs_finished_total', { state: 'failed' })).toBe(1);
    expect(sample(after, 'ldh_cds_analysis_jobs_queued_total')).toBe(2);
    expect(sample(after, 'ldh_cds_analysis_errors_total', { kind: 'unprocessable' })).toBe(1);
    expect(sample(after, 'ldh_cds_analysis_errors_total', { kind: 'internal' })).toBe(0);
    for (const stage of STAGES_RUN) {
      expect(sample(after, 'ldh_cds_analysis_stage_duration_seconds_count', { stage }), stage).toBeGreaterThanOrEqual(
        1,
      );
    }
    // The SR is not stored in the PACS here (SR_STOW=false): that stage never ran.
    expect(sample(after, 'ldh_cds_analysis_stage_duration_seconds_count', { stage: 'writing-sr' })).toBeUndefined();
    expect(sample(after, 'ldh_cds_analysis_job_duration_seconds_count', { state: 'completed' })).toBe(1);
    expect(sample(after, 'ldh_cds_analysis_queue_wait_seconds_count')).toBe(2);
    expect(sample(after, 'ldh_cds_analysis_queue_depth')).toBe(0);
    expect(sample(after, 'ldh_cds_analysis_jobs_running')).toBe(0);
    expect(sample(after, 'ldh_cds_inference_execution_provider', { provider: 'cpu', requested: 'auto' })).toBe(1);
    expect(sample(after, 'ldh_cds_process_resident_memory_bytes')).toBeGreaterThan(0);

    for (const identifier of identifiersOf(sandbox, [0, 1], tokens)) {
      expect(after.includes(identifier), `the metrics contain ${identifier}`).toBe(false);
    }
  }, 240_000);

  it('then they are served on METRICS_PORT only, and only with the METRICS_TOKEN', async () => {
    const onAppPort = await fetch(`${sandbox.app.url}/metrics`);
    expect(onAppPort.status).toBe(404);
    expect(await onAppPort.text()).not.toContain('ldh_cds_');
    const withoutToken = await fetch(sandbox.app.metricsUrl ?? '');
    expect(withoutToken.status).toBe(401);
    expect(await withoutToken.text()).not.toContain('ldh_cds_');
  });
});

describe('(b) when analyses run on a worker process, the worker and the API process', () => {
  let redis: RedisServer;
  let sandbox: Sandbox;
  let dir: string;
  let worker: ChildProcess;
  let workerMetricsUrl: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-metrics-'));
    // One key for the API and the worker, as a deployment shares CLIENT_KEY_FILE (the API creates it at start).
    const clientKeyFile = path.join(dir, 'client-key.json');
    sandbox = await startSandbox({
      patientCount: 1,
      generateStudy: generatePhantomStudy,
      logger: pino({ level: 'silent' }),
      appEnv: {
        REDIS_URL: redis.url,
        RUN_WORKER_IN_API: 'false',
        CLIENT_KEY_FILE: clientKeyFile,
        MODEL_DIR: TINY_MODEL_DIR,
        LOG_LEVEL: 'silent',
        JOB_ATTEMPTS: '1',
        METRICS_PORT: '0',
        METRICS_TOKEN,
      },
    });
    const port = await findFreePort();
    workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
    // `node --import tsx`, as `npm run worker` runs it; the same environment file as the API's, but its own port.
    worker = spawn(process.execPath, ['--import', 'tsx', 'server/src/worker-main.ts'], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        REDIS_URL: redis.url,
        EHRS_FILE: path.join(sandbox.dataDir, 'ehrs.json'),
        CLIENT_KEY_FILE: clientKeyFile,
        MODEL_DIR: TINY_MODEL_DIR,
        LOG_LEVEL: 'warn',
        DECODE_THREADS: '1',
        WORKER_METRICS_PORT: String(port),
        METRICS_TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    createInterface({ input: worker.stderr as NodeJS.ReadableStream }).on('line', (line) => output.push(line));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the worker was not ready within 90 s:\n${output.join('\n')}`));
      }, 90_000);
      createInterface({ input: worker.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        output.push(line);
        if (line.startsWith('worker ready ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the worker exited (${String(code)}) before it was ready:\n${output.join('\n')}`));
      });
    });
  }, 180_000);

  afterAll(async () => {
    if (worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await sandbox.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('then the worker counts and times the analysis it ran, and the API the job it queued and the queue', async () => {
    const idle = await scrape(workerMetricsUrl);
    expect(sample(idle, 'ldh_cds_analysis_jobs_finished_total', { state: 'completed' })).toBe(0);
    // The worker opened its model session before it took a job.
    expect(sample(idle, 'ldh_cds_inference_execution_provider', { provider: 'cpu', requested: 'auto' })).toBe(1);
    // The queue's gauges are the API's: a worker has none rather than a false 0.
    expect(sample(idle, 'ldh_cds_analysis_queue_depth')).toBeUndefined();

    const token = await appTokenFor(sandbox, seededPatient(sandbox, 0).patientId);
    const done = await analyzeAndWait(sandbox, 0, token);
    expect(done.status, JSON.stringify(done.body)).toBe(201);

    const ran = await scrape(workerMetricsUrl);
    expect(sample(ran, 'ldh_cds_analysis_jobs_finished_total', { state: 'completed' })).toBe(1);
    expect(sample(ran, 'ldh_cds_analysis_queue_wait_seconds_count')).toBe(1);
    expect(sample(ran, 'ldh_cds_analysis_job_duration_seconds_count', { state: 'completed' })).toBe(1);
    for (const stage of STAGES_RUN) {
      expect(sample(ran, 'ldh_cds_analysis_stage_duration_seconds_count', { stage }), stage).toBe(1);
    }
    const api = await scrape(sandbox.app.metricsUrl);
    expect(sample(api, 'ldh_cds_analysis_jobs_queued_total')).toBe(1);
    expect(sample(api, 'ldh_cds_analysis_queue_depth')).toBe(0);
    expect(sample(api, 'ldh_cds_analysis_jobs_running')).toBe(0);
    expect(sample(api, 'ldh_cds_analysis_queue_capacity')).toBeGreaterThanOrEqual(1);
    // The API ran no analysis itself.
    expect(sample(api, 'ldh_cds_analysis_jobs_finished_total', { state: 'completed' })).toBe(0);

    for (const text of [ran, api]) {
      for (const identifier of identifiersOf(sandbox, [0], [token])) {
        expect(text.includes(identifier), `the metrics contain ${identifier}`).toBe(false);
      }
    }
    const withoutToken = await fetch(workerMetricsUrl);
    expect(withoutToken.status).toBe(401);
  }, 240_000);
});
