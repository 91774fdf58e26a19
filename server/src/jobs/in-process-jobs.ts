/**
 * The in-process engine of analysis jobs (analysis-jobs.ts), the default for `npm start` and the tests: the jobs live
 * in this process's memory and run here, at most `maxRunning` at once (MAX_CONCURRENT_ANALYSES: decoding and
 * inference share the cores, more at once would only queue for them), the others waiting in order of arrival.
 *
 * What it holds is bounded: at most `maxQueued` jobs wait (MAX_QUEUED_ANALYSES; beyond, a new job is refused, 503),
 * one user has at most `maxPerUser` unfinished jobs, submitted or joined (MAX_CONCURRENT_ANALYSES_PER_USER; beyond,
 * 429), and finished jobs are kept, for a reload to read, in an LRU cache with a lifetime (1,000 for an hour by
 * default). A job joined by a second request is not a new job: joining is never refused.
 *
 * The user's access token is kept on the unfinished job only, in memory, and dropped when it finishes; no snapshot
 * carries it. A restart loses the jobs (their results are in the EHR): the queue engine is for that.
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { isWritingStage, progressText, type ProgressListener } from '../pipeline/analysis-progress';
import type { AnalyzeResult } from '../pipeline/analyze-study';
import {
  eventTypeOf,
  ALREADY_HELD_TEXT,
  FINAL_TEXT,
  STOPPING_TEXT,
  JobRefusedError,
  jobKeyOf,
  type AnalysisJobData,
  type AnalysisJobEvent,
  type AnalysisRunner,
  type AnalysisJobs,
  type AnalysisJobSnapshot,
  type JobFailure,
} from './analysis-jobs';
import { analysisErrorKind, type JobMetrics } from './job-metrics';

export interface InProcessJobsOptions {
  run: AnalysisRunner;
  /** A failed run's error as the API would answer it (the engine knows no HTTP: http/job-failures.ts). */
  describeFailure: (error: unknown, jobId: string) => JobFailure;
  /** Jobs running at once (MAX_CONCURRENT_ANALYSES). */
  maxRunning: number;
  /** Jobs waiting for their turn (MAX_QUEUED_ANALYSES); 0: none wait, a job is refused when all run. */
  maxQueued: number;
  /** Unfinished jobs one user has submitted or joined (MAX_CONCURRENT_ANALYSES_PER_USER). */
  maxPerUser: number;
  /** What a refused caller is told to wait, seconds (default 15: a usual analysis takes 5–30 s on the CPU). */
  retryAfterSeconds?: number;
  /** Finished jobs kept for reading: at most `max`, each for `ttlMs` (default 1,000 for an hour). */
  keepFinished?: { max: number; ttlMs: number };
  /** Counts and times the jobs, reads the queue at each scrape (job-metrics.ts). */
  metrics?: JobMetrics;
  now?: () => Date;
}

interface Job {
  readonly id: string;
  readonly key: string;
  readonly data: AnalysisJobData;
  snapshot: AnalysisJobSnapshot;
  /** Callers who submitted or joined it: who may read it. */
  readonly readers: Set<string>;
  /** Users who submitted or joined it: whose per-user limit it counts against. */
  readonly users: Set<string>;
  /** The submitter's token, until the job finishes. */
  accessToken: string | undefined;
  readonly controller: AbortController;
  cancelRequested: boolean;
  /** It reported a writing stage: from then on it is not cancelled. */
  writing: boolean;
  readonly listeners: Set<(event: AnalysisJobEvent) => void>;
  sequence: number;
  /** Settles when the job has finished (close() waits for the running ones). */
  finished?: Promise<void>;
}

interface FinishedJob {
  snapshot: AnalysisJobSnapshot;
  readers: ReadonlySet<string>;
  /** Its last event's: a stream opened on it later ends with the same id. */
  sequence: number;
}

export function createInProcessJobs(options: InProcessJobsOptions): AnalysisJobs {
  const { run, describeFailure, maxRunning, maxQueued, maxPerUser, metrics } = options;
  const retryAfterSeconds = options.retryAfterSeconds ?? 15;
  const now = options.now ?? (() => new Date());
  const keep = options.keepFinished ?? { max: 1000, ttlMs: 60 * 60 * 1000 };
  const unfinished = new Map<string, Job>();
  /** The job a request with this key joins: unfinished and not being cancelled. */
  const joinable = new Map<string, Job>();
  const waiting: Job[] = [];
  const finished = new LRUCache<string, FinishedJob>({ max: keep.max, ttl: keep.ttlMs });
  let running = 0;
  let closed = false;
  metrics?.observeQueue({
    capacity: maxQueued,
    read: () => Promise.resolve({ queued: waiting.length, running }),
  });

  function publish(job: Job): void {
    job.sequence++;
    const event: AnalysisJobEvent = {
      sequence: job.sequence,
      type: eventTypeOf(job.snapshot.state),
      snapshot: structuredClone(job.snapshot),
    };
    for (const listener of job.listeners) listener(event);
  }

  function finish(job: Job, state: 'completed' | 'failed' | 'cancelled', outcome: unknown): void {
    const snapshot = job.snapshot;
    snapshot.state = state;
    snapshot.finishedAt = now().toISOString();
    let text = FINAL_TEXT[state];
    if (state === 'completed') {
      snapshot.result = outcome as AnalyzeResult;
      if (!snapshot.result.created) text = ALREADY_HELD_TEXT;
    } else if (state === 'failed') {
      snapshot.error = describeFailure(outcome, job.id);
      text = snapshot.error.outcome.issue[0]?.diagnostics ?? text;
      metrics?.analysisError(analysisErrorKind(outcome));
    }
    metrics?.jobFinished(
      state,
      snapshot.startedAt ? Date.parse(snapshot.finishedAt) - Date.parse(snapshot.startedAt) : undefined,
    );
    snapshot.progress = { ...snapshot.progress, text };
    job.accessToken = undefined;
    unfinished.delete(job.id);
    if (joinable.get(job.key) === job) joinable.delete(job.key);
    const kept: FinishedJob = { snapshot, readers: job.readers, sequence: job.sequence };
    finished.set(job.id, kept);
    publish(job);
    kept.sequence = job.sequence;
    job.listeners.clear();
  }

  function onProgress(job: Job): ProgressListener {
    return (progress) => {
      if (job.snapshot.state !== 'running' || job.cancelRequested) return;
      const current = job.snapshot.progress;
      if (current.stage === progress.stage && current.done === progress.done && current.total === progress.total)
        return;
      // The pipeline reports the first writing stage in the turn it last looked at the signal: from here, no cancel.
      if (isWritingStage(progress.stage)) job.writing = true;
      job.snapshot.progress = { ...progress, text: progressText(progress) };
      publish(job);
    };
  }

  function start(job: Job): void {
    running++;
    job.snapshot.state = 'running';
    job.snapshot.startedAt = now().toISOString();
    metrics?.jobStarted(Date.parse(job.snapshot.startedAt) - Date.parse(job.snapshot.createdAt));
    const sequenceBefore = job.sequence;
    // A runner that throws instead of rejecting fails its job the same way.
    const analysis = (async () =>
      run(job.data, job.accessToken ?? '', { signal: job.controller.signal, onProgress: onProgress(job) }))();
    // The pipeline reports its first stage before its first await; a runner that does not still shows as running.
    if (job.sequence === sequenceBefore) publish(job);
    job.finished = analysis.then(
      (result) => {
        finish(job, 'completed', result);
      },
      (error: unknown) => {
        finish(job, job.cancelRequested ? 'cancelled' : 'failed', error);
      },
    );
    void job.finished.finally(() => {
      running--;
      startWaiting();
    });
  }

  function startWaiting(): void {
    while (!closed && running < maxRunning) {
      const next = waiting.shift();
      if (!next) return;
      start(next);
    }
  }

  function readable(id: string, reader: string): Job | FinishedJob | undefined {
    const job = unfinished.get(id) ?? finished.get(id);
    return job?.readers.has(reader) ? job : undefined;
  }

  const isUnfinished = (job: Job | FinishedJob): job is Job => unfinished.get(job.snapshot.id) === job;

  return {
    submit(data, { reader, user, accessToken }) {
      const key = jobKeyOf(data);
      const existing = joinable.get(key);
      if (existing) {
        existing.readers.add(reader);
        existing.users.add(user);
        return Promise.resolve({ snapshot: structuredClone(existing.snapshot), joined: true });
      }
      const ofUser = [...unfinished.values()].filter((job) => job.users.has(user)).length;
      if (ofUser >= maxPerUser) {
        metrics?.analysisError('user-limit');
        return Promise.reject(
          new JobRefusedError(
            'user-limit',
            `You already have ${ofUser} analyses running, the most one user may run at once (MAX_CONCURRENT_ANALYSES_PER_USER). Analyses waiting for their turn count too. Try again when one has finished, in about ${retryAfterSeconds} seconds.`,
            retryAfterSeconds,
          ),
        );
      }
      if (closed || (running >= maxRunning && waiting.length >= maxQueued)) {
        metrics?.analysisError('queue-full');
        const queued =
          maxQueued === 0
            ? 'and queues none (MAX_QUEUED_ANALYSES)'
            : `and ${waiting.length} more are waiting, the most it queues (MAX_QUEUED_ANALYSES)`;
        return Promise.reject(
          new JobRefusedError(
            'queue-full',
            closed
              ? `ldh-cds is shutting down and takes no new analyses. Try again in about ${retryAfterSeconds} seconds.`
              : `ldh-cds is running ${running} analyses, the most it runs at once (MAX_CONCURRENT_ANALYSES), ${queued}. Try again in about ${retryAfterSeconds} seconds.`,
            retryAfterSeconds,
          ),
        );
      }
      const id = randomUUID();
      const job: Job = {
        id,
        key,
        data: structuredClone(data),
        snapshot: {
          id,
          state: 'queued',
          imagingStudy: data.imagingStudy,
          model: { ...data.model },
          progress: { stage: 'queued', text: progressText({ stage: 'queued' }) },
          createdAt: now().toISOString(),
        },
        readers: new Set([reader]),
        users: new Set([user]),
        accessToken,
        controller: new AbortController(),
        cancelRequested: false,
        writing: false,
        listeners: new Set(),
        sequence: 0,
      };
      unfinished.set(id, job);
      joinable.set(key, job);
      waiting.push(job);
      metrics?.jobQueued();
      startWaiting();
      return Promise.resolve({ snapshot: structuredClone(job.snapshot), joined: false });
    },

    get(id, reader) {
      const job = readable(id, reader);
      return Promise.resolve(job ? structuredClone(job.snapshot) : undefined);
    },

    watch(id, reader, listener) {
      const job = readable(id, reader);
      if (!job) return Promise.resolve(undefined);
      const snapshot = structuredClone(job.snapshot);
      if (!isUnfinished(job)) return Promise.resolve({ snapshot, sequence: job.sequence, stop: () => undefined });
      job.listeners.add(listener);
      return Promise.resolve({
        snapshot,
        sequence: job.sequence,
        stop: () => {
          job.listeners.delete(listener);
        },
      });
    },

    cancel(id, reader) {
      const job = readable(id, reader);
      if (!job) return Promise.resolve(undefined);
      const answer = (outcome: 'cancelled' | 'cancelling' | 'not-cancellable') =>
        Promise.resolve({ outcome, snapshot: structuredClone(job.snapshot) });
      if (!isUnfinished(job)) return answer(job.snapshot.state === 'cancelled' ? 'cancelled' : 'not-cancellable');
      if (job.snapshot.state === 'queued') {
        waiting.splice(waiting.indexOf(job), 1);
        finish(job, 'cancelled', undefined);
        return answer('cancelled');
      }
      if (job.writing) return answer('not-cancellable');
      if (!job.cancelRequested) {
        job.cancelRequested = true;
        // A request for the same study from now on starts a new analysis rather than join one that is stopping.
        if (joinable.get(job.key) === job) joinable.delete(job.key);
        job.snapshot.progress = { ...job.snapshot.progress, text: STOPPING_TEXT };
        publish(job);
        job.controller.abort();
      }
      return answer('cancelling');
    },

    async close() {
      closed = true;
      for (const job of waiting.splice(0)) finish(job, 'cancelled', undefined);
      const stopping = [...unfinished.values()];
      for (const job of stopping) {
        if (job.writing || job.cancelRequested) continue;
        job.cancelRequested = true;
        job.controller.abort();
      }
      // Jobs that are writing finish their write: a transaction is never left half sent.
      await Promise.all(stopping.map((job) => job.finished ?? Promise.resolve()));
    },
  };
}
