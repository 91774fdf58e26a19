/**
 * The BullMQ engine of analysis jobs (analysis-jobs.ts), API side: with REDIS_URL set, POST /api/analyses queues the
 * analysis in Redis and workers run it (bullmq-worker.ts, `npm run worker`, or one inside the API process). An API
 * process keeps no job state of its own — any API process answers and streams any job:
 *
 * - the job is a BullMQ job whose id is the snapshot's UUID; its data is the job's plain JSON sealed with the
 *   server's key (no token: a worker acts with its own Backend Services token, docs/deploy.md);
 * - joining is atomic across processes: one Lua script of redis-job-store.ts maps the job key (EHR, study, model
 *   version) to the live job or creates one, and counts the user's unfinished jobs; a finished or cancelling job is
 *   never joined, so a new analysis after a finished one is always possible;
 * - the snapshot is read back from BullMQ (state, progress, result, failure) and the store (readers, meta, cancel);
 * - events come from BullMQ's QueueEvents (one stream reader per process): `progress` carries the worker's
 *   ProgressRecord with its sequence number, `completed` / `failed` / `removed` and our `ldh-cds-finished` make the
 *   watchers read the final snapshot; a slow poll of each watched job catches an event lost to a Redis restart;
 * - cancel sets a flag in Redis that the worker polls (it aborts the analysis, which stops at its next request,
 *   frame or batch, and a write is refused from the flag on); a job no worker has taken yet is removed from the queue
 *   and cancelled at once.
 *
 * Bounds: MAX_QUEUED_ANALYSES jobs waiting for a worker (at least one), MAX_CONCURRENT_ANALYSES_PER_USER unfinished
 * jobs per user (in the Lua script, so exact across processes); joining is never refused.
 */
import { randomUUID } from 'node:crypto';
import { Job, Queue, QueueEvents, QueueEventsProducer } from 'bullmq';
import { progressText } from '../pipeline/analysis-progress';
import type { AnalyzeResult } from '../pipeline/analyze-study';
import {
  engineFailure,
  ALREADY_HELD_TEXT,
  eventTypeOf,
  FINAL_TEXT,
  isFinishedState,
  JobRefusedError,
  jobKeyOf,
  STOPPING_TEXT,
  type AnalysisJobEvent,
  type AnalysisJobs,
  type AnalysisJobSnapshot,
  type JobFailure,
  type JobState,
} from './analysis-jobs';
import type { JobMetrics } from './job-metrics';
import {
  bullConnection,
  CANCELLED_REASON,
  closeWithin,
  createJobStore,
  isProgressRecord,
  KEEP_FINISHED_S,
  QUEUE_NAME,
  redisAddress,
  type FinalRecord,
  type JobMeta,
  type JobStore,
  type QueuedAnalysis,
  type SealedJobData,
} from './redis-job-store';

/** The custom QueueEvents event the API publishes when it finished a job itself (a cancel before any worker). */
const FINISHED_EVENT = 'ldh-cds-finished';

export interface BullmqJobsOptions {
  redisUrl: string;
  /** Seals a job's data with the server's key (http/client-key.ts): a worker runs only jobs an API process queued. */
  seal: (payload: QueuedAnalysis) => Promise<string>;
  /** Jobs waiting for a worker (MAX_QUEUED_ANALYSES; 0 counts as 1). */
  maxQueued: number;
  /** Unfinished jobs one user has submitted or joined (MAX_CONCURRENT_ANALYSES_PER_USER). */
  maxPerUser: number;
  /** Runs of a job before it fails (JOB_ATTEMPTS): a transient failure (EHR or PACS busy or down) is run again. */
  attempts: number;
  /** The first retry's wait, doubled for each further one (JOB_BACKOFF_MS). */
  backoffMs: number;
  /** What a refused caller is told to wait, seconds (default 15). */
  retryAfterSeconds?: number;
  /** How often each watched job is read back in case an event was lost (default 1,000 ms). */
  pollMs?: number;
  /** Counts the jobs this process queues, cancels and refuses; reads the whole queue at each scrape (job-metrics.ts). */
  metrics?: JobMetrics;
  now?: () => Date;
}

export interface QueueHealth {
  ok: boolean;
  detail: string;
}

export interface BullmqJobs extends AnalysisJobs {
  /** /readyz: Redis answers (within 1 s), with how many workers are connected. */
  health(): Promise<QueueHealth>;
}

/** A failed job's reason as the worker wrote it (bullmq-worker.ts): the failure JSON, or the cancel. */
function failureOf(reason: string | undefined): JobFailure | 'cancelled' {
  if (reason === CANCELLED_REASON) return 'cancelled';
  try {
    const parsed = JSON.parse(reason ?? '') as Partial<JobFailure>;
    if (typeof parsed.status === 'number' && parsed.outcome?.resourceType === 'OperationOutcome')
      return parsed as JobFailure;
  } catch {
    // Not ours: BullMQ's own reason, such as a job that stalled more often than allowed.
  }
  return engineFailure(
    503,
    'transient',
    'The analysis stopped because the workers running it stopped responding more than once; nothing of it was kept. Analyze the study again in a few minutes; call support if this keeps happening.',
    60,
  );
}

const QUEUED: ProgressOf = { stage: 'queued', text: progressText({ stage: 'queued' }) };
type ProgressOf = AnalysisJobSnapshot['progress'];

/** Rejects when `promise` has not settled within `ms`: a question to Redis while it is away waits for ever. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms / 1000} s`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

interface Watcher {
  listener: (event: AnalysisJobEvent) => void;
  /** The last sequence delivered (or the snapshot's, once ready). */
  last: number;
  /** Fields of the snapshot that never change, set once the watch has read the job. */
  base?: Pick<AnalysisJobSnapshot, 'id' | 'imagingStudy' | 'model' | 'createdAt'>;
  /** Events that came before the watch had read the job. */
  early: unknown[];
}

export function createBullmqJobs(options: BullmqJobsOptions): BullmqJobs {
  const { maxPerUser, attempts, backoffMs, metrics } = options;
  const retryAfterSeconds = options.retryAfterSeconds ?? 15;
  const now = options.now ?? (() => new Date());
  const connection = bullConnection(options.redisUrl);
  const store: JobStore = createJobStore(options.redisUrl);
  const queue = new Queue<SealedJobData, AnalyzeResult>(QUEUE_NAME, connection);
  const events = new QueueEvents(QUEUE_NAME, connection);
  const producer = new QueueEventsProducer(QUEUE_NAME, connection);
  // Connection errors while Redis is away: each command that fails says so, and BullMQ reconnects.
  queue.on('error', () => undefined);
  events.on('error', () => undefined);
  producer.on('error', () => undefined);
  const watchers = new Map<string, Set<Watcher>>();
  let closed = false;
  metrics?.observeQueue({
    capacity: Math.max(1, options.maxQueued),
    read: async () => {
      const counts = await within(1000, queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active'));
      const count = (type: string): number => counts[type] ?? 0;
      return { queued: count('waiting') + count('prioritized') + count('delayed'), running: count('active') };
    },
  });

  const baseOf = (id: string, meta: JobMeta) => ({
    id,
    imagingStudy: meta.imagingStudy,
    model: meta.model,
    createdAt: meta.createdAt,
  });

  /** The job as it is now, with the sequence of its last event; undefined when unknown or forgotten. */
  async function readJob(id: string): Promise<FinalRecord | undefined> {
    const record = await store.record(id);
    if (!record) return undefined;
    if (record.final) return record.final;
    const base = baseOf(id, record.meta);
    // The state first, then the job: what the job holds is then at least as new as its state (a result, a reason).
    const bullState = await queue.getJobState(id);
    const job = await Job.fromId<SealedJobData, AnalyzeResult>(queue, id);
    // Created in the store, not yet in the queue (a moment), or forgotten by BullMQ.
    if (!job || bullState === 'unknown')
      return record.live ? { snapshot: { ...base, state: 'queued', progress: QUEUED }, sequence: 0 } : undefined;
    const recorded = isProgressRecord(job.progress) ? job.progress : undefined;
    const sequence = recorded?.sequence ?? 0;
    const progress = recorded?.progress ?? QUEUED;
    const startedAt = recorded?.startedAt ?? iso(job.processedOn);
    if (bullState === 'completed') {
      const result = job.returnvalue;
      return {
        snapshot: {
          ...base,
          state: 'completed',
          progress: { ...progress, text: result.created ? FINAL_TEXT.completed : ALREADY_HELD_TEXT },
          ...(startedAt ? { startedAt } : {}),
          ...(job.finishedOn ? { finishedAt: iso(job.finishedOn) } : {}),
          result,
        },
        sequence: sequence + 1,
      };
    }
    if (bullState === 'failed') {
      const failure = failureOf(job.failedReason);
      const finished = {
        ...base,
        ...(startedAt ? { startedAt } : {}),
        ...(job.finishedOn ? { finishedAt: iso(job.finishedOn) } : {}),
      };
      const snapshot: AnalysisJobSnapshot =
        failure === 'cancelled'
          ? { ...finished, state: 'cancelled', progress: { ...progress, text: FINAL_TEXT.cancelled } }
          : {
              ...finished,
              state: 'failed',
              progress: { ...progress, text: failure.outcome.issue[0]?.diagnostics ?? FINAL_TEXT.failed },
              error: failure,
            };
      return { snapshot, sequence: sequence + 1 };
    }
    const state: JobState = bullState === 'active' ? 'running' : 'queued';
    const text = record.cancel && state === 'running' ? STOPPING_TEXT : progress.text;
    return {
      snapshot: {
        ...base,
        state,
        progress: { ...progress, text },
        ...(state === 'running' && startedAt ? { startedAt } : {}),
      },
      sequence,
    };
  }

  function deliver(id: string, event: AnalysisJobEvent): void {
    const set = watchers.get(id);
    if (!set) return;
    for (const watcher of set) {
      if (event.sequence <= watcher.last && !isFinishedState(event.snapshot.state)) continue;
      watcher.last = event.sequence;
      watcher.listener(structuredClone(event));
    }
    if (isFinishedState(event.snapshot.state)) watchers.delete(id);
  }

  function onProgress(id: string, data: unknown): void {
    const set = watchers.get(id);
    if (!set || !isProgressRecord(data)) return;
    for (const watcher of set) {
      if (!watcher.base) {
        watcher.early.push(data);
        continue;
      }
      if (data.sequence <= watcher.last) continue;
      watcher.last = data.sequence;
      watcher.listener({
        sequence: data.sequence,
        type: 'progress',
        snapshot: {
          ...watcher.base,
          state: data.state,
          progress: data.progress,
          ...(data.state === 'running' && data.startedAt ? { startedAt: data.startedAt } : {}),
        },
      });
    }
  }

  const settling = new Set<string>();
  /** Reads a watched job back and, when it has finished, gives its watchers the final event. */
  async function settle(id: string): Promise<void> {
    if (!watchers.has(id) || settling.has(id)) return;
    settling.add(id);
    try {
      const read = await readJob(id);
      if (read && isFinishedState(read.snapshot.state)) {
        deliver(id, { sequence: read.sequence, type: eventTypeOf(read.snapshot.state), snapshot: read.snapshot });
      }
    } catch {
      // Redis is away for a moment: the next event or poll reads it again.
    } finally {
      settling.delete(id);
    }
  }

  events.on('progress', ({ jobId, data }) => {
    onProgress(jobId, data);
  });
  for (const name of ['completed', 'failed', 'removed'] as const) {
    events.on(name, ({ jobId }: { jobId: string }) => {
      void settle(jobId);
    });
  }
  events.on(FINISHED_EVENT as 'completed', ({ jobId }: { jobId: string }) => {
    void settle(jobId);
  });
  const poll = setInterval(() => {
    for (const id of watchers.keys()) void settle(id);
  }, options.pollMs ?? 1000);
  poll.unref();

  /** Refuses a new job as the in-process engine does (503 queue full, 429 user limit). */
  function refusal(answer: { outcome: 'user-limit'; count: number } | { outcome: 'queue-full' }): JobRefusedError {
    if (answer.outcome === 'user-limit') {
      return new JobRefusedError(
        'user-limit',
        `You already have ${answer.count} analyses running, the most one user may run at once (MAX_CONCURRENT_ANALYSES_PER_USER). Analyses waiting for their turn count too. Try again when one has finished, in about ${retryAfterSeconds} seconds.`,
        retryAfterSeconds,
      );
    }
    return new JobRefusedError(
      'queue-full',
      closed
        ? `ldh-cds is shutting down and takes no new analyses. Try again in about ${retryAfterSeconds} seconds.`
        : `ldh-cds has as many analyses waiting for a worker as it queues (MAX_QUEUED_ANALYSES). Try again in about ${retryAfterSeconds} seconds.`,
      retryAfterSeconds,
    );
  }

  return {
    async submit(data, { reader, user }) {
      // Twice at most: a joined job found finished (its worker died before it could say so) is closed, then again.
      for (let round = 0; ; round++) {
        const waiting = closed ? Infinity : await queue.getJobCountByTypes('waiting', 'delayed', 'prioritized');
        const createdAt = now().toISOString();
        const answer = await store.submit({
          key: jobKeyOf(data),
          id: randomUUID(),
          reader,
          user,
          maxPerUser,
          queueFull: waiting >= Math.max(1, options.maxQueued),
          meta: { imagingStudy: data.imagingStudy, model: { ...data.model }, createdAt },
        });
        if (answer.outcome === 'user-limit' || answer.outcome === 'queue-full') {
          metrics?.analysisError(answer.outcome);
          throw refusal(answer);
        }
        if (answer.outcome === 'joined') {
          const read = await readJob(answer.id);
          if (read && !isFinishedState(read.snapshot.state)) return { snapshot: read.snapshot, joined: true };
          if (read && round > 0) return { snapshot: read.snapshot, joined: true };
          await store.finish(answer.id);
          continue;
        }
        const { id } = answer;
        try {
          const sealed = await options.seal({ id, data, createdAt });
          await queue.add(
            'analysis',
            { sealed },
            {
              jobId: id,
              attempts,
              backoff: { type: 'exponential', delay: backoffMs },
              removeOnComplete: { age: KEEP_FINISHED_S },
              removeOnFail: { age: KEEP_FINISHED_S },
            },
          );
        } catch (error) {
          await store.finish(id).catch(() => undefined);
          throw error;
        }
        metrics?.jobQueued();
        const snapshot: AnalysisJobSnapshot = {
          id,
          state: 'queued',
          imagingStudy: data.imagingStudy,
          model: { ...data.model },
          progress: QUEUED,
          createdAt,
        };
        return { snapshot, joined: false };
      }
    },

    async get(id, reader) {
      if (!(await store.isReader(id, reader))) return undefined;
      return (await readJob(id))?.snapshot;
    },

    async watch(id, reader, listener) {
      if (!(await store.isReader(id, reader))) return undefined;
      // Listen first, then read: an event published meanwhile waits in `early` and is not lost.
      const watcher: Watcher = { listener, last: 0, early: [] };
      const set = watchers.get(id) ?? new Set<Watcher>();
      watchers.set(id, set);
      set.add(watcher);
      const stop = (): void => {
        const current = watchers.get(id);
        current?.delete(watcher);
        if (current?.size === 0) watchers.delete(id);
      };
      let read: FinalRecord | undefined;
      try {
        read = await readJob(id);
      } catch (error) {
        stop();
        throw error;
      }
      if (!read || isFinishedState(read.snapshot.state)) {
        stop();
        return read ? { snapshot: read.snapshot, sequence: read.sequence, stop: () => undefined } : undefined;
      }
      const { snapshot, sequence } = read;
      watcher.last = sequence;
      watcher.base = {
        id: snapshot.id,
        imagingStudy: snapshot.imagingStudy,
        model: snapshot.model,
        createdAt: snapshot.createdAt,
      };
      for (const data of watcher.early.splice(0)) onProgress(id, data);
      // It may have finished between the read and now, its final event gone before we listened: look again soon.
      void settle(id);
      return { snapshot, sequence, stop };
    },

    async cancel(id, reader) {
      if (!(await store.isReader(id, reader))) return undefined;
      const asked = await store.requestCancel(id);
      const current = await readJob(id);
      if (!current) return undefined;
      if (asked === 'finished')
        return {
          outcome: current.snapshot.state === 'cancelled' ? 'cancelled' : 'not-cancellable',
          snapshot: current.snapshot,
        };
      if (asked === 'writing') return { outcome: 'not-cancellable', snapshot: current.snapshot };
      // Not taken by a worker yet (waiting, or waiting to retry): out of the queue, cancelled now. BullMQ refuses to
      // remove a job a worker holds; that one stops when its worker sees the flag.
      const job = await Job.fromId(queue, id);
      const state = job ? await job.getState() : 'unknown';
      if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
        const removed = await job.remove().then(
          () => true,
          () => false,
        );
        if (removed) {
          const final: FinalRecord = {
            snapshot: {
              ...current.snapshot,
              state: 'cancelled',
              progress: { ...current.snapshot.progress, text: FINAL_TEXT.cancelled },
              finishedAt: now().toISOString(),
            },
            sequence: current.sequence + 1,
          };
          await store.finish(id, final);
          metrics?.jobFinished('cancelled');
          await producer.publishEvent({ eventName: FINISHED_EVENT, jobId: id }).catch(() => undefined);
          void settle(id);
          return { outcome: 'cancelled', snapshot: final.snapshot };
        }
      }
      return {
        outcome: 'cancelling',
        snapshot: { ...current.snapshot, progress: { ...current.snapshot.progress, text: STOPPING_TEXT } },
      };
    },

    async health() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error('no answer within 1 s'));
        }, 1000);
      });
      try {
        await Promise.race([store.redis.ping(), timeout]);
        const workers = await Promise.race([queue.getWorkersCount(), timeout]);
        return {
          ok: true,
          detail: `Redis at ${redisAddress(options.redisUrl)} answers; ${workers} worker connection${workers === 1 ? '' : 's'}.`,
        };
      } catch (error) {
        return {
          ok: false,
          detail: `The job queue cannot be reached: Redis at ${redisAddress(options.redisUrl)} (REDIS_URL): ${(error as Error).message.replace(/\.+$/, '')}.`,
        };
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      closed = true;
      clearInterval(poll);
      watchers.clear();
      // The jobs go on in the workers: an API process holds none.
      await Promise.all(
        [events, producer, queue].map((part) =>
          closeWithin(
            2000,
            () => part.close(),
            () => part.disconnect(),
          ),
        ),
      );
      await store.close();
    },
  };
}
