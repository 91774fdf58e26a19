/**
 * The BullMQ engine (bullmq-jobs.ts, bullmq-worker.ts) against a real Redis (Debian's redis-server on a free loopback
 * port), with a scripted runner in place of the pipeline: two API engines — two "processes" with nothing shared but
 * Redis — and one worker. What the interface promises holds across them: events in order to the final one whichever
 * process streams, joining is atomic, a finished job is not joined, cancel in each state, the bounds, readers, no
 * token anywhere in Redis, a job without the server's seal is refused, a transient failure is run again.
 * The real pipeline, worker processes and faults: test/integration/analysis-queue.int.test.ts.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../test/support/redis-server';
import { openSealedJson, sealJson, loadOrCreateClientKey, type ClientKey } from '../http/client-key';
import type { AnalyzeResult } from '../pipeline/analyze-study';
import {
  JobRefusedError,
  waitForJob,
  type AnalysisJobData,
  type AnalysisJobEvent,
  type AnalysisRunner,
  type JobFailure,
  type RunControls,
} from './analysis-jobs';
import { createBullmqJobs, type BullmqJobs } from './bullmq-jobs';
import { createAnalysisWorker, type AnalysisWorker } from './bullmq-worker';
import { KEY_PREFIX, QUEUE_NAME, queuedAnalysisOf } from './redis-job-store';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';

const TOKEN = 'secret-backend-token-5f2c';
const USER_TOKEN = 'secret-user-token-9a1d';

let redis: RedisServer;
let keyDir: string;
let key: ClientKey;
let apiA: BullmqJobs;
let apiB: BullmqJobs;
let worker: AnalysisWorker;

/** What the scripted runner does per study: how it ends, and the gates a test opens. */
interface Script {
  runs: number;
  tokens: string[];
  /** Resolves the run (after `beforeWriting`) when opened. */
  gate?: Promise<void>;
  open?: () => void;
  /** Waits on the gate before writing instead of after. */
  gateBeforeWriting?: boolean;
  /** Fails the first n runs with this status. */
  failFirst?: { runs: number; status: number };
  signals: AbortSignal[];
  wrote: boolean;
  /** Reports this many slices inferred at once, as a worker whose thread is busy does. */
  burst?: number;
}
const scripts = new Map<string, Script>();

function script(study: string, options: Partial<Script> = {}): Script {
  const entry: Script = { runs: 0, tokens: [], signals: [], wrote: false, ...options };
  if (options.gate === undefined && options.open === undefined) {
    let open: () => void = () => undefined;
    entry.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    entry.open = open;
  }
  scripts.set(study, entry);
  return entry;
}

class StatusError extends Error {
  constructor(readonly status: number) {
    super(`upstream ${status}`);
  }
}

const result = (study: string): AnalyzeResult =>
  ({
    diagnosticReport: `DiagnosticReport/of-${study.split('/')[1] ?? ''}`,
    observations: [],
    created: true,
  }) as unknown as AnalyzeResult;

const aborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => {
      reject(new Error('aborted'));
    });
  });

const runner: AnalysisRunner = async (data, accessToken, controls: RunControls) => {
  const entry = scripts.get(data.imagingStudy) ?? script(data.imagingStudy, { gate: Promise.resolve() });
  entry.runs++;
  entry.tokens.push(accessToken);
  entry.signals.push(controls.signal);
  controls.onProgress({ stage: 'finding-series' });
  for (let done = 1; done <= 3; done++) {
    controls.onProgress({ stage: 'retrieving', done, total: 3 });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (let done = 1; done <= (entry.burst ?? 0); done++)
    controls.onProgress({ stage: 'inferring', done, total: entry.burst });
  if (entry.failFirst && entry.runs <= entry.failFirst.runs) throw new StatusError(entry.failFirst.status);
  if (!entry.gateBeforeWriting) await Promise.race([entry.gate, aborted(controls.signal)]);
  controls.signal.throwIfAborted();
  await controls.beforeWriting?.();
  controls.signal.throwIfAborted();
  controls.onProgress({ stage: 'writing-fhir' });
  if (entry.gateBeforeWriting) await entry.gate;
  entry.wrote = true;
  return result(data.imagingStudy);
};

const describeFailure = (error: unknown): JobFailure => ({
  status: error instanceof StatusError ? error.status : 500,
  outcome: {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'transient', diagnostics: (error as Error).message }],
  },
});

const data = (study: string): AnalysisJobData => ({
  fhirBaseUrl: 'http://ehr.test/fhir',
  imagingStudy: study,
  model: { id: 'msu-ldh', version: '1.8.0' },
  imagingOrigins: ['http://ehr.test'],
  storeStructuredReport: false,
});
const alice = { reader: 'reader:alice', user: 'sub:alice', accessToken: USER_TOKEN };
const bob = { reader: 'reader:bob', user: 'sub:bob', accessToken: USER_TOKEN };

function engine(maxPerUser = 10, maxQueued = 100): BullmqJobs {
  return createBullmqJobs({
    redisUrl: redis.url,
    seal: (payload) => sealJson(key, payload),
    maxQueued,
    maxPerUser,
    attempts: 3,
    backoffMs: 100,
    pollMs: 300,
  });
}

/** Every event of a job from `engine`, until its final one. */
async function follow(jobs: BullmqJobs, id: string, reader = alice.reader) {
  const events: AnalysisJobEvent[] = [];
  let settle: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const watch = await jobs.watch(id, reader, (event) => {
    events.push(event);
    if (['completed', 'failed', 'cancelled'].includes(event.type)) settle();
  });
  if (!watch) throw new Error('not watchable');
  if (['completed', 'failed', 'cancelled'].includes(watch.snapshot.state)) settle();
  return { first: watch, events, done };
}

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
  keyDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-jobs-key-'));
  key = await loadOrCreateClientKey(path.join(keyDir, 'key.json'));
  apiA = engine();
  apiB = engine();
  worker = createAnalysisWorker({
    redisUrl: redis.url,
    run: runner,
    accessTokenFor: () => Promise.resolve(TOKEN),
    open: async (sealed) => queuedAnalysisOf(await openSealedJson(key, sealed)),
    describeFailure,
    concurrency: 2,
    lockMs: 5000,
    cancelPollMs: 100,
  });
  await worker.ready();
}, 30_000);

afterAll(async () => {
  await Promise.allSettled([apiA.close(), apiB.close(), worker.close()]);
  await redis.stop();
  await rm(keyDir, { recursive: true, force: true });
});

describe('the BullMQ engine over a real Redis', () => {
  it('when a job is submitted on one API process, then another streams its events in order to the result, and the worker ran with its own token', async () => {
    const run = script('ImagingStudy/s1');
    const { snapshot } = await apiA.submit(data('ImagingStudy/s1'), alice);
    expect(snapshot).toMatchObject({ state: 'queued', imagingStudy: 'ImagingStudy/s1' });
    const followed = await follow(apiB, snapshot.id);
    await until(() => run.runs === 1);
    run.open?.();
    await followed.done;
    const sequences = followed.events.map((event) => event.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);
    const last = followed.events.at(-1);
    expect(last?.type).toBe('completed');
    expect(last?.snapshot.result?.diagnosticReport).toBe('DiagnosticReport/of-s1');
    expect(last?.snapshot.progress.text).toBe('Done: the results are in the EHR');
    expect(followed.events.map((event) => event.snapshot.progress.stage)).toContain('retrieving');
    expect(run.tokens).toEqual([TOKEN]);
    // Both processes answer the finished job, the same way.
    expect(await apiA.get(snapshot.id, alice.reader)).toEqual(await apiB.get(snapshot.id, alice.reader));
    // A stream opened now gets the final snapshot with the same sequence at once.
    const late = await apiA.watch(snapshot.id, alice.reader, () => undefined);
    expect(late?.sequence).toBe(last?.sequence);
  });

  it('when a worker reports many counts at once, then they reach Redis coalesced, the last count of each stage kept and no stage skipped', async () => {
    const run = script('ImagingStudy/burst', { burst: 500 });
    const { snapshot } = await apiA.submit(data('ImagingStudy/burst'), alice);
    const followed = await follow(apiB, snapshot.id);
    await until(() => run.runs === 1);
    run.open?.();
    await followed.done;
    const progress = followed.events.map((event) => event.snapshot.progress);
    const stages = progress.map((p) => p.stage).filter((stage, i, all) => stage !== all[i - 1]);
    expect(stages).toEqual(expect.arrayContaining(['retrieving', 'inferring', 'writing-fhir']));
    expect(stages.indexOf('inferring')).toBeGreaterThan(stages.indexOf('retrieving'));
    expect(stages.indexOf('writing-fhir')).toBeGreaterThan(stages.indexOf('inferring'));
    expect(progress.filter((p) => p.stage === 'inferring').at(-1)).toMatchObject({ done: 500, total: 500 });
    // One write per count would be 500 records; the sequence counts the records the worker sent.
    expect(followed.events.at(-1)?.sequence).toBeLessThan(50);
  });

  it('when the same study is submitted on two processes at once, then it is one job, run once; after it finished, a new request starts a new job', async () => {
    const run = script('ImagingStudy/s2');
    const [first, second] = await Promise.all([
      apiA.submit(data('ImagingStudy/s2'), alice),
      apiB.submit(data('ImagingStudy/s2'), bob),
    ]);
    expect(first.snapshot.id).toBe(second.snapshot.id);
    expect([first.joined, second.joined].sort()).toEqual([false, true]);
    // The joiner may read it, on any process.
    expect((await apiA.get(first.snapshot.id, bob.reader))?.id).toBe(first.snapshot.id);
    run.open?.();
    const done = await waitForJob(apiB, first.snapshot.id, bob.reader, 10_000);
    expect(done?.state).toBe('completed');
    expect(run.runs).toBe(1);
    const again = await apiA.submit(data('ImagingStudy/s2'), alice);
    expect(again.joined).toBe(false);
    expect(again.snapshot.id).not.toBe(first.snapshot.id);
    expect((await waitForJob(apiA, again.snapshot.id, alice.reader, 10_000))?.state).toBe('completed');
  });

  it('when another caller asks for a job, then it does not exist for them, on any process', async () => {
    script('ImagingStudy/s3', { gate: Promise.resolve() });
    const { snapshot } = await apiA.submit(data('ImagingStudy/s3'), alice);
    for (const api of [apiA, apiB]) {
      expect(await api.get(snapshot.id, bob.reader)).toBeUndefined();
      expect(await api.watch(snapshot.id, bob.reader, () => undefined)).toBeUndefined();
      expect(await api.cancel(snapshot.id, bob.reader)).toBeUndefined();
      expect(await api.get('6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90', alice.reader)).toBeUndefined();
    }
    await waitForJob(apiA, snapshot.id, alice.reader, 10_000);
  });

  it('when a running job is cancelled on another process, then the worker stops it before any write and every process says cancelled; a new request starts anew', async () => {
    const run = script('ImagingStudy/s4');
    const { snapshot } = await apiA.submit(data('ImagingStudy/s4'), alice);
    const followed = await follow(apiA, snapshot.id);
    await until(() => run.runs === 1);
    const cancelled = await apiB.cancel(snapshot.id, alice.reader);
    expect(cancelled?.outcome).toBe('cancelling');
    expect(cancelled?.snapshot.progress.text).toBe('Stopping: nothing will be written');
    // A request for the study meanwhile does not join the job that is stopping.
    const fresh = script('ImagingStudy/s4');
    const after = await apiB.submit(data('ImagingStudy/s4'), alice);
    expect(after.snapshot.id).not.toBe(snapshot.id);
    await followed.done;
    expect(followed.events.at(-1)?.type).toBe('cancelled');
    expect(run.signals[0]?.aborted).toBe(true);
    expect(run.wrote).toBe(false);
    expect((await apiB.get(snapshot.id, alice.reader))?.state).toBe('cancelled');
    expect((await apiB.cancel(snapshot.id, alice.reader))?.outcome).toBe('cancelled');
    fresh.open?.();
    expect((await waitForJob(apiA, after.snapshot.id, alice.reader, 10_000))?.state).toBe('completed');
  });

  it('when a job no worker has taken is cancelled, then it is cancelled at once and its watchers on the other process hear it', async () => {
    // Both worker slots busy, so the third job waits.
    const busy = [script('ImagingStudy/b1'), script('ImagingStudy/b2')];
    const running = await Promise.all([
      apiA.submit(data('ImagingStudy/b1'), alice),
      apiA.submit(data('ImagingStudy/b2'), alice),
    ]);
    await until(() => busy.every((run) => run.runs === 1));
    const waitingRun = script('ImagingStudy/w1');
    const { snapshot } = await apiA.submit(data('ImagingStudy/w1'), alice);
    const followed = await follow(apiB, snapshot.id);
    const cancelled = await apiA.cancel(snapshot.id, alice.reader);
    expect(cancelled?.outcome).toBe('cancelled');
    expect(cancelled?.snapshot.state).toBe('cancelled');
    await followed.done;
    expect(followed.events.at(-1)).toMatchObject({ type: 'cancelled', snapshot: { state: 'cancelled' } });
    for (const run of busy) run.open?.();
    await Promise.all(running.map(({ snapshot: job }) => waitForJob(apiA, job.id, alice.reader, 10_000)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(waitingRun.runs).toBe(0);
  });

  it('when a job has begun writing, then it cannot be cancelled, and it completes', async () => {
    const run = script('ImagingStudy/s5', { gateBeforeWriting: true });
    const { snapshot } = await apiA.submit(data('ImagingStudy/s5'), alice);
    const followed = await follow(apiA, snapshot.id);
    await until(() => followed.events.some((event) => event.snapshot.progress.stage === 'writing-fhir'));
    expect((await apiB.cancel(snapshot.id, alice.reader))?.outcome).toBe('not-cancellable');
    run.open?.();
    await followed.done;
    expect(followed.events.at(-1)?.type).toBe('completed');
    expect(run.wrote).toBe(true);
  });

  it('when a user has as many unfinished jobs as allowed, then a new one is refused (429) on any process, while joining is not', async () => {
    const strictA = engine(1);
    const strictB = engine(1);
    try {
      const run = script('ImagingStudy/u1');
      const first = await strictA.submit(data('ImagingStudy/u1'), { ...alice, user: 'sub:carol', reader: 'r:carol' });
      await expect(
        strictB.submit(data('ImagingStudy/u2'), { ...alice, user: 'sub:carol', reader: 'r:carol' }),
      ).rejects.toMatchObject({ reason: 'user-limit' });
      const joined = await strictB.submit(data('ImagingStudy/u1'), { ...bob, user: 'sub:dave', reader: 'r:dave' });
      expect(joined.snapshot.id).toBe(first.snapshot.id);
      run.open?.();
      await waitForJob(strictA, first.snapshot.id, 'r:carol', 10_000);
      script('ImagingStudy/u2', { gate: Promise.resolve() });
      const next = await strictB.submit(data('ImagingStudy/u2'), { ...alice, user: 'sub:carol', reader: 'r:carol' });
      await waitForJob(strictB, next.snapshot.id, 'r:carol', 10_000);
    } finally {
      await Promise.all([strictA.close(), strictB.close()]);
    }
  });

  it('when as many jobs wait for a worker as the queue takes, then a new one is refused (503) with Retry-After', async () => {
    const tight = engine(10, 1);
    try {
      const busy = [script('ImagingStudy/q1'), script('ImagingStudy/q2')];
      const running = await Promise.all(busy.map((_, i) => tight.submit(data(`ImagingStudy/q${i + 1}`), alice)));
      await until(() => busy.every((run) => run.runs === 1));
      const waiting = script('ImagingStudy/q3', { gate: Promise.resolve() });
      const queued = await tight.submit(data('ImagingStudy/q3'), alice);
      const refused = await tight.submit(data('ImagingStudy/q4'), alice).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(JobRefusedError);
      expect(refused).toMatchObject({ reason: 'queue-full', retryAfterSeconds: 15 });
      for (const run of busy) run.open?.();
      for (const { snapshot } of [...running, queued]) await waitForJob(tight, snapshot.id, alice.reader, 10_000);
      expect(waiting.runs).toBe(1);
    } finally {
      await tight.close();
    }
  });

  it('when the EHR answers 503, then the job waits and runs again, and completes on its second run', async () => {
    const run = script('ImagingStudy/t1', { gate: Promise.resolve(), failFirst: { runs: 1, status: 503 } });
    const { snapshot } = await apiA.submit(data('ImagingStudy/t1'), alice);
    const followed = await follow(apiB, snapshot.id);
    await followed.done;
    expect(run.runs).toBe(2);
    expect(followed.events.at(-1)?.type).toBe('completed');
    expect(followed.events.some((event) => event.snapshot.progress.text.startsWith('Waiting to try again'))).toBe(true);
  });

  it('when a run fails for good (422), then the job fails at once with the failure the API answers', async () => {
    const run = script('ImagingStudy/f1', { gate: Promise.resolve(), failFirst: { runs: 5, status: 422 } });
    const { snapshot } = await apiA.submit(data('ImagingStudy/f1'), alice);
    const done = await waitForJob(apiB, snapshot.id, alice.reader, 10_000);
    expect(done).toMatchObject({ state: 'failed', error: { status: 422 } });
    expect(run.runs).toBe(1);
  });

  it('when a job is queued in Redis without the server’s seal, then the worker refuses it and runs nothing', async () => {
    const queue = new Queue(QUEUE_NAME, { connection: { url: redis.url }, prefix: KEY_PREFIX });
    try {
      const forged = script('ImagingStudy/forged', { gate: Promise.resolve() });
      const other = await loadOrCreateClientKey(path.join(keyDir, 'other-key.json'));
      const id = '0b7d6f0e-1d1c-4c55-9d1e-52e4a4c3f001';
      const sealed = await sealJson(other, { id, data: data('ImagingStudy/forged'), createdAt: '' });
      const job = await queue.add('analysis', { sealed }, { jobId: id });
      await until(async () => (await job.getState()) === 'failed');
      const failed = await queue.getJob(id);
      expect(failed?.failedReason).toContain('not sealed by this server');
      expect(forged.runs).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('then no access token is anywhere in Redis: not the user’s, not the worker’s', async () => {
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('*');
      expect(keys.length).toBeGreaterThan(10);
      for (const name of keys) {
        const type = await client.type(name);
        let content: unknown;
        if (type === 'string') content = await client.get(name);
        else if (type === 'hash') content = await client.hgetall(name);
        else if (type === 'set') content = await client.smembers(name);
        else if (type === 'zset') content = await client.zrange(name, 0, -1);
        else if (type === 'list') content = await client.lrange(name, 0, -1);
        else if (type === 'stream') content = await client.xrange(name, '-', '+');
        const text = JSON.stringify(content);
        expect(text, name).not.toContain(USER_TOKEN);
        expect(text, name).not.toContain(TOKEN);
      }
    } finally {
      client.disconnect();
    }
  });
});
