/**
 * Analyses on the BullMQ queue with real processes (issue 23): Debian's redis-server on a free loopback port (its
 * append-only file in a temporary folder), two API processes (`server/src/main.ts`, RUN_WORKER_IN_API=false) and two
 * worker processes (`server/src/worker-main.ts`), each a child process run by tsx with REDIS_URL, the tiny model and
 * one shared CLIENT_KEY_FILE; the mock EHR in this process, with smart-config/clients.json as it ships (the workers'
 * Backend Services registration included) and phantom studies. The tests run in order, each on its own patients:
 *
 * (a) scale: 20 studies submitted at once, half to each API process, all complete, each with exactly one
 *     DiagnosticReport whose AI Provenance names the requesting clinician as enterer;
 * (b) a worker SIGKILLed mid-analysis: the job is run again on the other worker, one report; and one killed after
 *     its FHIR write landed (the EHR lost the transaction's answer): the job runs again, finds the report, still one;
 * (c) Redis restarted while jobs run and wait: none is lost, all complete, one report each;
 * (d) an API process killed while a client streams a job's events: the client reconnects to the other one and gets
 *     the completion; the restarted process answers the job too;
 * (e) FHIR 503 at the write, more often than the FHIR client repeats it: the job is run again after a backoff, one
 *     report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { DiagnosticReport, Provenance } from '@medplum/fhirtypes';
import { Job, Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadOrCreateClientKey } from '../../server/src/http/client-key';
import { isFinishedState, type AnalysisJobSnapshot } from '../../server/src/jobs/analysis-jobs';
import { KEY_PREFIX, QUEUE_NAME } from '../../server/src/jobs/redis-job-store';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { launchAndAuthorize } from '../support/smart-launch';

const repoRoot = path.resolve(import.meta.dirname, '../..');
/** Patients: 20 for (a), then one or more for each fault. */
const SCALE = 20;
const PATIENTS = { kill: 20, killAfterWrite: 28, redis: [21, 22, 23, 24, 25], restart: 26, fhir503: 27 } as const;

interface Child {
  process: ChildProcess;
  /** What the ready line said after its prefix: the API's URL, or the worker's name. */
  ready: string;
  output: string[];
  /** The test is stopping it: its exit is no news. */
  stopping: boolean;
}

let redis: RedisServer;
let dataDir: string;
let ehr: MockEhr;
let queue: Queue;
const apiPorts: number[] = [];
const apis: Child[] = [];
const workers: Child[] = [];
const everyChild: Child[] = [];
let env: Record<string, string>;

function spawnChild(entry: string, extra: Record<string, string>, readyPrefix: string): Promise<Child> {
  // `node --import tsx`, not the tsx command: one process, so that a signal reaches the server itself.
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const started: Child = { process: child, ready: '', output, stopping: false };
  everyChild.push(started);
  child.once('exit', (code, signal) => {
    // A server that dies on its own fails the test that needed it: say why here.
    if (!started.stopping) console.error(`${entry} exited (${String(code ?? signal)}):\n${output.join('\n')}`);
  });
  createInterface({ input: child.stderr }).on('line', (line) => output.push(line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${entry} was not ready within 90 s:\n${output.join('\n')}`));
    }, 90_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line);
      if (line.startsWith(readyPrefix)) {
        clearTimeout(timer);
        started.ready = line.slice(readyPrefix.length).trim();
        resolve(started);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${String(code ?? signal)}) before it was ready:\n${output.join('\n')}`));
    });
  });
}

const startApi = (port: number) =>
  spawnChild('server/src/main.ts', { APP_PORT: String(port), APP_BASE_URL: `http://localhost:${port}` }, 'app ready ');
const startWorker = () => spawnChild('server/src/worker-main.ts', {}, 'worker ready ');
/** Workers starting in place of killed ones: a test that needs both workers awaits them. */
const replacements: Promise<void>[] = [];
function replaceKilledWorker(): void {
  const dead = workers.findIndex((worker) => worker.process.signalCode === 'SIGKILL');
  if (dead < 0) return;
  workers.splice(dead, 1);
  replacements.push(
    startWorker().then((worker) => {
      workers.push(worker);
    }),
  );
}

function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const { process: running } = child;
  child.stopping = true;
  if (running.exitCode !== null || running.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => running.kill('SIGKILL'), 15_000);
    running.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    running.kill(signal);
  });
}

beforeAll(async () => {
  redis = await startRedisServer();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-queue-'));
  const [ehrPort, api1, api2] = [await findFreePort(), await findFreePort(), await findFreePort()];
  apiPorts.push(api1, api2);
  // One key for every process, as a deployment shares CLIENT_KEY_FILE; the mock EHR reads its public half from the
  // first API process's /.well-known/jwks.json, as clients.json registers it.
  const clientKeyFile = path.join(dataDir, 'client-key.json');
  await loadOrCreateClientKey(clientKeyFile);
  ehr = await startMockEhr({
    port: ehrPort,
    publicBaseUrl: `http://localhost:${ehrPort}`,
    appBaseUrl: `http://localhost:${api1}`,
    dataDir: path.join(dataDir, 'ehr'),
    logger: pino({ level: 'silent' }),
    devTools: true,
    patientCount: 29,
    generateStudy: generatePhantomStudy,
  });
  const ehrsFile = path.join(dataDir, 'ehrs.json');
  await writeFile(
    ehrsFile,
    JSON.stringify({ ehrs: [{ fhirBaseUrl: ehr.fhirBaseUrl, imagingOrigins: [new URL(ehr.dicomWebUrl).origin] }] }),
  );
  env = {
    REDIS_URL: redis.url,
    RUN_WORKER_IN_API: 'false',
    EHRS_FILE: ehrsFile,
    MODEL_DIR: TINY_MODEL_DIR,
    CLIENT_KEY_FILE: clientKeyFile,
    CDS_CLIENTS_FILE: path.join(dataDir, 'no-cds-clients.json'),
    CLIENT_DIST_DIR: path.join(dataDir, 'no-client'),
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: '2',
    DECODE_THREADS: '1',
    JOB_LOCK_MS: '3000',
    JOB_BACKOFF_MS: '300',
    JOB_ATTEMPTS: '3',
    MAX_CONCURRENT_ANALYSES_PER_USER: '100',
    RATE_LIMIT_API_PER_TOKEN: '100000',
    RATE_LIMIT_API_PER_IP: '100000',
  };
  const started = await Promise.all([startApi(api1), startApi(api2), startWorker(), startWorker()]);
  apis.push(started[0], started[1]);
  workers.push(started[2], started[3]);
  queue = new Queue(QUEUE_NAME, { connection: { url: redis.url }, prefix: KEY_PREFIX });
  // While (c) restarts Redis the test's own connection fails too, and reconnects.
  queue.on('error', () => undefined);
}, 180_000);

afterAll(async () => {
  if (process.env.QUEUE_TEST_LOGS) {
    for (const [i, child] of everyChild.entries())
      await writeFile(path.join(process.env.QUEUE_TEST_LOGS, `child-${i}.log`), child.output.join('\n'));
  }
  await queue.close().catch(() => undefined);
  await Promise.all(everyChild.map((child) => stopChild(child)));
  await ehr.close();
  await redis.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const patient = (index: number) => {
  const seeded = ehr.seed.patients[index];
  if (!seeded) throw new Error(`no patient ${index}`);
  return seeded;
};
const studyOf = (index: number) => `ImagingStudy/${patient(index).imagingStudyId}`;

/** A clinician's token from an EHR launch in this patient's chart (the app's own client and scopes). */
async function tokenOf(index: number): Promise<string> {
  const token = await launchAndAuthorize({
    fhirBaseUrl: ehr.fhirBaseUrl,
    launch: ehr.createLaunch(patient(index).patientId),
    clientId: SMART_CLIENT_ID,
    redirectUri: `http://localhost:${apiPorts[0] ?? 0}/index.html`,
    scope: SMART_SCOPE,
  });
  return token.access_token;
}

const apiUrl = (which: number): string => `http://127.0.0.1:${apiPorts[which] ?? 0}`;
const headers = (token: string) => ({ Authorization: `Bearer ${token}`, 'X-FHIR-Server': ehr.fhirBaseUrl });

async function analyze(which: number, index: number, token: string): Promise<AnalysisJobSnapshot> {
  const response = await fetch(`${apiUrl(which)}/api/analyses`, {
    method: 'POST',
    headers: { ...headers(token), 'Content-Type': 'application/json' },
    body: JSON.stringify({ imagingStudy: studyOf(index) }),
  });
  const body = (await response.json()) as AnalysisJobSnapshot;
  expect(response.status, JSON.stringify(body)).toBe(202);
  return body;
}

/**
 * A GET, sent once more when the connection breaks without an answer: on a loaded machine a server's keep-alive timer
 * can close an idle connection just as the next request goes out on it ("other side closed"), as a browser retries.
 */
async function get(url: string, token: string): Promise<Response> {
  try {
    return await fetch(url, { headers: headers(token) });
  } catch {
    return fetch(url, { headers: headers(token) });
  }
}

async function jobOf(which: number, id: string, token: string): Promise<AnalysisJobSnapshot> {
  const response = await get(`${apiUrl(which)}/api/analyses/jobs/${id}`, token);
  expect(response.status).toBe(200);
  return (await response.json()) as AnalysisJobSnapshot;
}

/** Reads the job from the given API process until it has finished. */
async function finished(which: number, id: string, token: string, ms = 90_000): Promise<AnalysisJobSnapshot> {
  const end = Date.now() + ms;
  for (;;) {
    const snapshot = await jobOf(which, id, token);
    if (isFinishedState(snapshot.state)) return snapshot;
    if (Date.now() > end) throw new Error(`job ${id} still ${snapshot.state} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function reportsOf(index: number): Promise<DiagnosticReport[]> {
  const reports = await ehr.repo.searchResources<DiagnosticReport>({ resourceType: 'DiagnosticReport', count: 1000 });
  return reports.filter((report) => report.imagingStudy?.some((ref) => ref.reference === studyOf(index)));
}

interface StreamEvent {
  event: string;
  id?: string;
  snapshot?: AnalysisJobSnapshot;
}

/** A job's Server-Sent Events as the panel reads them; ends with the stream, or rejects when the connection breaks. */
async function readEvents(which: number, id: string, token: string, onEvent: (event: StreamEvent) => void) {
  const response = await get(`${apiUrl(which)}/api/analyses/jobs/${id}/events`, token);
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    pending += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = pending.indexOf('\n\n')) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
      }
      const event = fields.get('event');
      if (!event) continue;
      const data = fields.get('data');
      onEvent({
        event,
        ...(fields.has('id') ? { id: fields.get('id') } : {}),
        ...(data ? { snapshot: JSON.parse(data) as AnalysisJobSnapshot } : {}),
      });
    }
  }
}

describe('analyses on the BullMQ queue: 2 API processes, 2 worker processes, Redis', () => {
  it('(a) when 20 studies are submitted at once to both API processes, then all complete, each with exactly one report whose Provenance names the clinician', async () => {
    const indexes = Array.from({ length: SCALE }, (_, index) => index);
    const tokens = await Promise.all(indexes.map((index) => tokenOf(index)));
    const started = Date.now();
    const jobs = await Promise.all(indexes.map((index) => analyze(index % 2, index, tokens[index] ?? '')));
    expect(new Set(jobs.map((job) => job.id)).size).toBe(SCALE);
    // Each read back from the other API process than the one it was submitted to.
    const done = await Promise.all(
      jobs.map((job, index) => finished((index + 1) % 2, job.id, tokens[index] ?? '', 150_000)),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(done.map((job) => job.state)).toEqual(indexes.map(() => 'completed'));
    for (const index of indexes) {
      const reports = await reportsOf(index);
      expect(reports, `study of patient ${index}`).toHaveLength(1);
      expect(done[index]?.result?.diagnosticReport).toBe(`DiagnosticReport/${reports[0]?.id ?? ''}`);
    }
    // Written with the workers' own Backend Services token, for the clinician who asked: the Provenance says who.
    const provenances = await ehr.repo.searchResources<Provenance>({ resourceType: 'Provenance', count: 1000 });
    const first = provenances.find((provenance) =>
      provenance.target.some((target) => target.reference === done[0]?.result?.diagnosticReport),
    );
    expect(first?.agent.map((agent) => agent.type?.coding?.[0]?.code)).toEqual(['author', 'enterer']);
    expect(first?.agent[1]?.who.reference).toMatch(/^Practitioner\//);
    // Both workers took a share.
    const processedBy = new Set<string>();
    for (const job of jobs) {
      const stored = await Job.fromId(queue, job.id);
      if (stored?.processedBy) processedBy.add(stored.processedBy);
    }
    expect(processedBy.size).toBe(2);
    const ms = (from?: string, to?: string) => (from && to ? Date.parse(to) - Date.parse(from) : NaN);
    const runs = done.map((job) => ms(job.startedAt, job.finishedAt)).sort((a, b) => a - b);
    const waits = done.map((job) => ms(job.createdAt, job.startedAt)).sort((a, b) => a - b);
    console.info(
      `(a) ${SCALE} studies through 2 workers in ${seconds.toFixed(1)} s; run p50 ${runs[SCALE / 2] ?? NaN} ms, max ${runs.at(-1) ?? NaN} ms; wait p50 ${waits[SCALE / 2] ?? NaN} ms, max ${waits.at(-1) ?? NaN} ms`,
    );
  }, 200_000);

  it('(b) when the worker running a job is killed (SIGKILL) mid-analysis, then the other worker runs it again and exactly one report is written', async () => {
    const index = PATIENTS.kill;
    const token = await tokenOf(index);
    // Slow images: the analysis is still retrieving when its worker dies.
    ehr.faults.dicomWebDelayMs = 400;
    try {
      const job = await analyze(0, index, token);
      let holder = '';
      await until(async () => {
        const snapshot = await jobOf(1, job.id, token);
        holder = (await Job.fromId(queue, job.id))?.processedBy ?? '';
        return snapshot.progress.stage === 'retrieving' && holder !== '';
      }, 'the job to be retrieving');
      const victim = workers.find((worker) => worker.ready === holder);
      if (!victim) throw new Error(`no worker named ${holder}`);
      await stopChild(victim, 'SIGKILL');
      ehr.faults.dicomWebDelayMs = 0;
      const done = await finished(1, job.id, token);
      expect(done.state).toBe('completed');
      expect(await reportsOf(index)).toHaveLength(1);
      const stored = await Job.fromId(queue, job.id);
      expect(stored?.processedBy).not.toBe(holder);
      expect(stored?.attemptsStarted).toBeGreaterThanOrEqual(2);
    } finally {
      ehr.faults.dicomWebDelayMs = 0;
    }
    // A new worker takes the dead one's place for the next tests; it starts while they run.
    replaceKilledWorker();
  }, 150_000);

  it('(b) when the worker is killed after its FHIR write landed but before it could say so, then the job runs again and finds the report: still exactly one', async () => {
    const index = PATIENTS.killAfterWrite;
    const token = await tokenOf(index);
    // The EHR applies the transaction and loses its answer: the FHIR client waits 1 s (Retry-After) to send it again,
    // and the worker is killed in that second, its results written and its job unfinished.
    ehr.faults.loseTransactionAnswers = 1;
    try {
      const job = await analyze(1, index, token);
      await until(async () => (await reportsOf(index)).length > 0, 'the report to be written');
      const holder = (await Job.fromId(queue, job.id))?.processedBy ?? '';
      const victim = workers.find((worker) => worker.ready === holder);
      if (!victim) throw new Error(`no worker named ${holder}`);
      await stopChild(victim, 'SIGKILL');
      const done = await finished(0, job.id, token);
      expect(done.state).toBe('completed');
      // The second run found this model version's report and answered it: nothing new was written.
      expect(done.result?.created).toBe(false);
      expect(await reportsOf(index)).toHaveLength(1);
      expect((await Job.fromId(queue, job.id))?.processedBy).not.toBe(holder);
    } finally {
      ehr.faults.loseTransactionAnswers = 0;
    }
    replaceKilledWorker();
  }, 150_000);

  it('(c) when Redis restarts while jobs run and wait, then none is lost: all complete, one report each', async () => {
    const indexes = [...PATIENTS.redis];
    const tokens = await Promise.all(indexes.map((index) => tokenOf(index)));
    await Promise.all(replacements.splice(0));
    let jobs: AnalysisJobSnapshot[] = [];
    try {
      jobs = await Promise.all(indexes.map((index, i) => analyze(i % 2, index, tokens[i] ?? '')));
      // Four run (2 workers × 2), one waits: then Redis goes down and comes back with its append-only file.
      await until(async () => {
        const counts = await queue.getJobCounts('active', 'wait');
        return (counts.active ?? 0) >= 4 && (counts.wait ?? 0) >= 1;
      }, 'four jobs running and one waiting');
      await redis.restart({ downMs: 1000 });
    } finally {
      ehr.faults.dicomWebDelayMs = 0;
    }
    const done = await Promise.all(jobs.map((job, i) => finished(i % 2, job.id, tokens[i] ?? '', 90_000)));
    expect(done.map((job) => job.state)).toEqual(indexes.map(() => 'completed'));
    for (const index of indexes) expect(await reportsOf(index), `patient ${index}`).toHaveLength(1);
  }, 200_000);

  it('(d) when the API process streaming a job’s events dies, then the client reconnects to the other and gets the completion; the restarted process answers it too', async () => {
    const index = PATIENTS.restart;
    const token = await tokenOf(index);
    ehr.faults.dicomWebDelayMs = 300;
    let job: AnalysisJobSnapshot;
    const first: StreamEvent[] = [];
    try {
      job = await analyze(1, index, token);
      // Stream from API process 2 until its first progress event, then kill it.
      const broken = readEvents(1, job.id, token, (event) => first.push(event)).then(
        () => 'ended',
        () => 'broken',
      );
      await until(() => first.some((event) => event.event === 'progress'), 'a progress event');
      await stopChild(apis[1] as Child, 'SIGKILL');
      expect(await broken).toBe('broken');
    } finally {
      ehr.faults.dicomWebDelayMs = 0;
    }
    const restarted = startApi(apiPorts[1] ?? 0);
    // The panel reconnects (here to the other process): a snapshot first, then on to the final event.
    const second: StreamEvent[] = [];
    await readEvents(0, job.id, token, (event) => second.push(event));
    expect(second[0]?.event).toBe('snapshot');
    expect(second.at(-1)?.event).toBe('completed');
    expect(second.at(-1)?.snapshot?.result?.diagnosticReport).toMatch(/^DiagnosticReport\//);
    const ids = second.map((event) => Number(event.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    apis[1] = await restarted;
    expect((await jobOf(1, job.id, token)).state).toBe('completed');
    expect(await reportsOf(index)).toHaveLength(1);
  }, 150_000);

  it('(e) when the EHR answers 503 to the write more often than the FHIR client repeats it, then the job is run again after a backoff and one report is written', async () => {
    const index = PATIENTS.fhir503;
    const token = await tokenOf(index);
    // The FHIR client sends a transaction 4 times (Retry-After: 1 s); the 5th 503 is the second run's first answer.
    ehr.faults.failTransactions = 5;
    try {
      const job = await analyze(0, index, token);
      const events: StreamEvent[] = [];
      await readEvents(1, job.id, token, (event) => events.push(event));
      expect(events.at(-1)?.event).toBe('completed');
      expect(
        events.some((event) => event.snapshot?.progress.text.startsWith('Waiting to try again (attempt 2 of 3)')),
      ).toBe(true);
      expect(ehr.faults.failTransactions).toBe(0);
      expect(await reportsOf(index)).toHaveLength(1);
      expect((await Job.fromId(queue, job.id))?.attemptsMade).toBeGreaterThanOrEqual(1);
    } finally {
      ehr.faults.failTransactions = 0;
    }
  }, 150_000);
});
