/**
 * The in-process job engine on its own, with a runner the test drives (each analysis runs until the test finishes,
 * fails or reports progress for it): order and bounds, joining, who may read, events, cancel, what is kept. The real
 * pipeline behind it is exercised through the API in test/integration/analysis-jobs.int.test.ts.
 */
import type { OperationOutcome } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import type { AnalysisProgress } from '../pipeline/analysis-progress';
import type { AnalyzeResult } from '../pipeline/analyze-study';
import {
  JobRefusedError,
  waitForJob,
  type AnalysisJobData,
  type AnalysisJobEvent,
  type JobRequester,
} from './analysis-jobs';
import { createInProcessJobs, type InProcessJobsOptions } from './in-process-jobs';

interface Running {
  data: AnalysisJobData;
  token: string;
  signal: AbortSignal;
  progress(progress: AnalysisProgress): void;
  complete(created?: boolean): void;
  fail(error: Error): void;
}

/** An engine whose analyses run until the test settles them, by ImagingStudy. */
function engine(options: Partial<InProcessJobsOptions> = {}) {
  const running = new Map<string, Running>();
  const started: string[] = [];
  const jobs = createInProcessJobs({
    maxRunning: 1,
    maxQueued: 10,
    maxPerUser: 10,
    describeFailure: (error) => ({
      status: 502,
      outcome: {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'transient', diagnostics: (error as Error).message }],
      },
      retryAfterSeconds: 5,
    }),
    run: (data, token, { signal, onProgress }) =>
      new Promise<AnalyzeResult>((resolve, reject) => {
        started.push(data.imagingStudy);
        signal.addEventListener('abort', () => {
          reject(new Error('aborted'));
        });
        running.set(data.imagingStudy, {
          data,
          token,
          signal,
          progress: onProgress,
          complete: (created = true) => {
            resolve({ created, diagnosticReport: 'DiagnosticReport/r1', observations: [] } as unknown as AnalyzeResult);
          },
          fail: reject,
        });
      }),
    ...options,
  });
  const analysis = (imagingStudy: string): Running => {
    const found = running.get(imagingStudy);
    if (!found) throw new Error(`${imagingStudy} is not running`);
    return found;
  };
  return { jobs, started, analysis };
}

const data = (study: string, fhirBaseUrl = 'https://ehr.example/fhir'): AnalysisJobData => ({
  fhirBaseUrl,
  imagingStudy: `ImagingStudy/${study}`,
  model: { id: 'msu-ldh', version: '1.8.0' },
  imagingOrigins: ['https://pacs.example'],
  storeStructuredReport: false,
});
const alice: JobRequester = { reader: 'alice@p1', user: 'alice', accessToken: 'alice-secret-token' };
const bob: JobRequester = { reader: 'bob@p1', user: 'bob', accessToken: 'bob-secret-token' };

/** Lets the engine's settle callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function refusalOf(promise: Promise<unknown>): Promise<JobRefusedError> {
  const error: unknown = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(JobRefusedError);
  return error as JobRefusedError;
}

describe('createInProcessJobs: order and bounds', () => {
  it('when more jobs come than run at once, then the others wait queued and start in order of arrival as one finishes', async () => {
    const { jobs, started, analysis } = engine({ maxRunning: 1 });
    const a = await jobs.submit(data('a'), alice);
    const b = await jobs.submit(data('b'), alice);
    const c = await jobs.submit(data('c'), bob);
    expect([a, b, c].map(({ snapshot }) => snapshot.state)).toEqual(['running', 'queued', 'queued']);
    expect(started).toEqual(['ImagingStudy/a']);
    analysis('ImagingStudy/a').complete();
    await settle();
    expect(started).toEqual(['ImagingStudy/a', 'ImagingStudy/b']);
    expect((await jobs.get(c.snapshot.id, bob.reader))?.state).toBe('queued');
    analysis('ImagingStudy/b').fail(new Error('PACS down'));
    await settle();
    expect(started).toEqual(['ImagingStudy/a', 'ImagingStudy/b', 'ImagingStudy/c']);
  });

  it('when as many wait as allowed, then a new job is refused (queue-full, Retry-After) but joining one is not', async () => {
    const { jobs } = engine({ maxRunning: 1, maxQueued: 1, retryAfterSeconds: 7 });
    await jobs.submit(data('a'), alice);
    const queued = await jobs.submit(data('b'), alice);
    const refused = await refusalOf(jobs.submit(data('c'), bob));
    expect(refused.reason).toBe('queue-full');
    expect(refused.retryAfterSeconds).toBe(7);
    expect(refused.message).toBe(
      'ldh-cds is running 1 analyses, the most it runs at once (MAX_CONCURRENT_ANALYSES), and 1 more are waiting, the most it queues (MAX_QUEUED_ANALYSES). Try again in about 7 seconds.',
    );
    const joined = await jobs.submit(data('b'), bob);
    expect(joined).toMatchObject({ joined: true, snapshot: { id: queued.snapshot.id } });
  });

  it('when MAX_QUEUED_ANALYSES is 0, then a job is refused whenever all slots run, as the synchronous API did', async () => {
    const { jobs } = engine({ maxRunning: 1, maxQueued: 0 });
    await jobs.submit(data('a'), alice);
    const refused = await refusalOf(jobs.submit(data('b'), bob));
    expect(refused.message).toContain(
      'ldh-cds is running 1 analyses, the most it runs at once (MAX_CONCURRENT_ANALYSES), and queues none (MAX_QUEUED_ANALYSES).',
    );
  });

  it('when one user has as many unfinished jobs as allowed, then their next is refused (user-limit); another user still gets one; once one finishes, they may again', async () => {
    const { jobs, analysis } = engine({ maxRunning: 3, maxPerUser: 2 });
    await jobs.submit(data('a'), alice);
    await jobs.submit(data('b'), alice);
    const refused = await refusalOf(jobs.submit(data('c'), alice));
    expect(refused.reason).toBe('user-limit');
    expect(refused.retryAfterSeconds).toBe(15);
    expect(refused.message).toMatch(/^You already have 2 analyses running, .*\(MAX_CONCURRENT_ANALYSES_PER_USER\)/);
    await expect(jobs.submit(data('c'), bob)).resolves.toMatchObject({ joined: false });
    analysis('ImagingStudy/a').complete();
    await settle();
    await expect(jobs.submit(data('d'), alice)).resolves.toMatchObject({ joined: false });
  });
});

describe('createInProcessJobs: one job per study, read by those who asked', () => {
  it('when the same study and model are asked for while the job runs, then the request joins it; after it finished, a new job starts', async () => {
    const { jobs, started, analysis } = engine();
    const first = await jobs.submit(data('a'), alice);
    const second = await jobs.submit(data('a'), bob);
    expect(second).toEqual({ joined: true, snapshot: expect.objectContaining({ id: first.snapshot.id }) as unknown });
    expect(started).toEqual(['ImagingStudy/a']);
    // Another EHR's study of the same id, or another model version, is another job.
    const otherEhr = await jobs.submit(data('a', 'https://other.example/fhir'), alice);
    expect(otherEhr.snapshot.id).not.toBe(first.snapshot.id);
    const otherModel = await jobs.submit({ ...data('a'), model: { id: 'msu-ldh', version: '2.0.0' } }, alice);
    expect(otherModel.snapshot.id).not.toBe(first.snapshot.id);
    expect(await jobs.get(first.snapshot.id, bob.reader)).toMatchObject({ id: first.snapshot.id });
    analysis('ImagingStudy/a').complete();
    await settle();
    const again = await jobs.submit(data('a'), alice);
    expect(again.joined).toBe(false);
    expect(again.snapshot.id).not.toBe(first.snapshot.id);
  });

  it('when a caller who neither submitted nor joined a job asks for it, then it does not exist for them, as an unknown id', async () => {
    const { jobs } = engine();
    const { snapshot } = await jobs.submit(data('a'), alice);
    await expect(jobs.get(snapshot.id, bob.reader)).resolves.toBeUndefined();
    await expect(jobs.watch(snapshot.id, bob.reader, () => undefined)).resolves.toBeUndefined();
    await expect(jobs.cancel(snapshot.id, bob.reader)).resolves.toBeUndefined();
    await expect(jobs.get('00000000-0000-4000-8000-000000000000', alice.reader)).resolves.toBeUndefined();
    expect((await jobs.get(snapshot.id, alice.reader))?.state).toBe('running');
  });

  it('when the job runs, then the runner gets the token but no snapshot or event ever carries it', async () => {
    const { jobs, analysis } = engine();
    const events: AnalysisJobEvent[] = [];
    const { snapshot } = await jobs.submit(data('a'), alice);
    await jobs.watch(snapshot.id, alice.reader, (event) => events.push(event));
    expect(analysis('ImagingStudy/a').token).toBe('alice-secret-token');
    analysis('ImagingStudy/a').progress({ stage: 'retrieving', done: 1, total: 2 });
    analysis('ImagingStudy/a').complete();
    await settle();
    const everything = JSON.stringify([snapshot, events, await jobs.get(snapshot.id, alice.reader)]);
    expect(everything).not.toContain('secret');
  });
});

describe('createInProcessJobs: progress and the end', () => {
  it('when the analysis reports progress, then watchers get it in order with the line to read, then one final event', async () => {
    const { jobs, analysis } = engine();
    const { snapshot } = await jobs.submit(data('a'), alice);
    const events: AnalysisJobEvent[] = [];
    const watch = await jobs.watch(snapshot.id, alice.reader, (event) => events.push(event));
    expect(watch?.snapshot.state).toBe('running');
    const running = analysis('ImagingStudy/a');
    running.progress({ stage: 'finding-series' });
    running.progress({ stage: 'retrieving', done: 12, total: 40 });
    running.progress({ stage: 'retrieving', done: 12, total: 40 });
    running.progress({ stage: 'writing-fhir' });
    running.complete();
    await settle();
    expect(events.map((event) => [event.type, event.snapshot.progress.text])).toEqual([
      ['progress', 'Finding the lumbar series'],
      ['progress', 'Retrieving images 12/40'],
      ['progress', 'Writing the results to the EHR'],
      ['completed', 'Done: the results are in the EHR'],
    ]);
    expect(events.map((event) => event.sequence)).toEqual([1, 2, 3, 4].map((n) => n + (watch?.sequence ?? 0)));
    const done = events.at(-1)?.snapshot;
    expect(done).toMatchObject({ state: 'completed', result: { diagnosticReport: 'DiagnosticReport/r1' } });
    expect(done?.finishedAt).toBeDefined();
    // Watched after it finished (a reload): the final snapshot, under its last event's sequence.
    const later = await jobs.watch(snapshot.id, alice.reader, () => undefined);
    expect(later).toMatchObject({ snapshot: { state: 'completed' }, sequence: events.at(-1)?.sequence });
  });

  it('when the analysis fails, then the job keeps what the API would have answered, and its line is the first sentence', async () => {
    const { jobs, analysis } = engine();
    const { snapshot } = await jobs.submit(data('a'), alice);
    analysis('ImagingStudy/a').fail(new Error('The image archive is unavailable.'));
    await settle();
    const failed = await jobs.get(snapshot.id, alice.reader);
    expect(failed).toMatchObject({
      state: 'failed',
      error: { status: 502, retryAfterSeconds: 5 },
      progress: { text: 'The image archive is unavailable.' },
    });
    expect((failed?.error?.outcome as OperationOutcome).issue[0]?.diagnostics).toBe(
      'The image archive is unavailable.',
    );
  });

  it('when a request waits for a job, then it gets the final snapshot, or the job as it is when the wait is over', async () => {
    const { jobs, analysis } = engine();
    const { snapshot } = await jobs.submit(data('a'), alice);
    const short = await waitForJob(jobs, snapshot.id, alice.reader, 20);
    expect(short?.state).toBe('running');
    const waiting = waitForJob(jobs, snapshot.id, alice.reader, 10_000);
    analysis('ImagingStudy/a').complete();
    await expect(waiting).resolves.toMatchObject({ state: 'completed' });
    await expect(waitForJob(jobs, snapshot.id, bob.reader, 10)).resolves.toBeUndefined();
  });
});

describe('createInProcessJobs: cancel', () => {
  it('when a queued job is cancelled, then it is cancelled at once and never runs', async () => {
    const { jobs, started, analysis } = engine({ maxRunning: 1 });
    await jobs.submit(data('a'), alice);
    const { snapshot } = await jobs.submit(data('b'), alice);
    await expect(jobs.cancel(snapshot.id, alice.reader)).resolves.toMatchObject({
      outcome: 'cancelled',
      snapshot: { state: 'cancelled', progress: { text: 'Cancelled: nothing was written' } },
    });
    analysis('ImagingStudy/a').complete();
    await settle();
    expect(started).toEqual(['ImagingStudy/a']);
    await expect(jobs.cancel(snapshot.id, alice.reader)).resolves.toMatchObject({ outcome: 'cancelled' });
  });

  it('when a running job is cancelled, then its signal fires, it answers "cancelling", and it ends cancelled; a new request starts a new job', async () => {
    const { jobs, analysis } = engine({ maxRunning: 2 });
    const { snapshot } = await jobs.submit(data('a'), alice);
    analysis('ImagingStudy/a').progress({ stage: 'retrieving', done: 3, total: 40 });
    const answer = await jobs.cancel(snapshot.id, alice.reader);
    expect(answer).toMatchObject({
      outcome: 'cancelling',
      snapshot: { state: 'running', progress: { text: 'Stopping: nothing will be written' } },
    });
    expect(analysis('ImagingStudy/a').signal.aborted).toBe(true);
    const fresh = await jobs.submit(data('a'), alice);
    expect(fresh.joined).toBe(false);
    await settle();
    expect(await jobs.get(snapshot.id, alice.reader)).toMatchObject({ state: 'cancelled' });
    expect((await jobs.get(snapshot.id, alice.reader))?.error).toBeUndefined();
  });

  it('when a job has begun writing or has finished, then it cannot be cancelled', async () => {
    const { jobs, analysis } = engine();
    const { snapshot } = await jobs.submit(data('a'), alice);
    analysis('ImagingStudy/a').progress({ stage: 'writing-fhir' });
    await expect(jobs.cancel(snapshot.id, alice.reader)).resolves.toMatchObject({ outcome: 'not-cancellable' });
    expect(analysis('ImagingStudy/a').signal.aborted).toBe(false);
    analysis('ImagingStudy/a').complete();
    await settle();
    await expect(jobs.cancel(snapshot.id, alice.reader)).resolves.toMatchObject({
      outcome: 'not-cancellable',
      snapshot: { state: 'completed' },
    });
  });

  it('when the engine closes, then waiting jobs are cancelled, running ones stopped, and one that is writing finishes first', async () => {
    const { jobs, analysis } = engine({ maxRunning: 2 });
    const writing = await jobs.submit(data('a'), alice);
    const stopping = await jobs.submit(data('b'), alice);
    const waiting = await jobs.submit(data('c'), bob);
    analysis('ImagingStudy/a').progress({ stage: 'writing-fhir' });
    let closed = false;
    const closing = jobs.close().then(() => {
      closed = true;
    });
    await settle();
    expect(closed).toBe(false);
    expect(analysis('ImagingStudy/b').signal.aborted).toBe(true);
    analysis('ImagingStudy/a').complete();
    await closing;
    expect((await jobs.get(writing.snapshot.id, alice.reader))?.state).toBe('completed');
    expect((await jobs.get(stopping.snapshot.id, alice.reader))?.state).toBe('cancelled');
    expect((await jobs.get(waiting.snapshot.id, bob.reader))?.state).toBe('cancelled');
    await expect(jobs.submit(data('d'), bob)).rejects.toBeInstanceOf(JobRefusedError);
  });
});

describe('createInProcessJobs: finished jobs are kept, within bounds', () => {
  it('when more jobs finished than are kept, or they are older than kept, then the oldest are forgotten', async () => {
    const { jobs, analysis } = engine({ maxRunning: 3, keepFinished: { max: 2, ttlMs: 300 } });
    const ids: string[] = [];
    for (const study of ['a', 'b', 'c']) {
      ids.push((await jobs.submit(data(study), alice)).snapshot.id);
      analysis(`ImagingStudy/${study}`).complete();
      await settle();
    }
    const states = async () => Promise.all(ids.map(async (id) => (await jobs.get(id, alice.reader))?.state));
    expect(await states()).toEqual([undefined, 'completed', 'completed']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await states()).toEqual([undefined, undefined, undefined]);
  });
});
