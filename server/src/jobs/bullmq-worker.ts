/**
 * The BullMQ engine's worker side (issue 23): takes analysis jobs from Redis and runs them with this process's model
 * session, `concurrency` at once (WORKER_CONCURRENCY). `npm run worker` runs one (worker.ts, worker-main.ts); an API
 * process runs one too unless RUN_WORKER_IN_API=false.
 *
 * For each job it:
 * - opens the sealed job data (a job an API process did not seal with the server's key is refused);
 * - gets a token for the job's EHR from `accessTokenFor` — SMART Backend Services, the worker's own, never the user's
 *   (docs/deploy.md §Worker authorization); the user was checked with their own token before the job was queued, and
 *   the job data holds the patient restriction and the imaging origins the pipeline enforces as it would for them;
 * - publishes progress as the job's BullMQ progress (a ProgressRecord with a sequence number per event), which every
 *   API process receives through QueueEvents;
 * - polls the job's cancel flag (`cancelPollMs`) and aborts the analysis when it is set; just before the first write it
 *   settles the cancel atomically in Redis (`beginWriting`): from then on the job is not cancellable, before it the
 *   analysis is aborted and writes nothing;
 * - on a transient failure (the EHR or the PACS busy or down: 429, 502, 503, 504) lets BullMQ run it again after an
 *   exponential backoff, up to the job's attempts; any other failure, and a cancel, end it at once.
 *
 * A worker that dies mid-analysis (SIGKILL, a lost host) stops renewing the job's lock; after `lockMs` BullMQ's stalled
 * check moves the job back to the queue and another worker runs it again. The FHIR write is one transaction of
 * conditional creates on identifiers derived from the study and the model version, and an analysis first looks for
 * the stored report, so a job run twice writes one report.
 */
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import { isWritingStage, progressText, type AnalysisProgress } from '../pipeline/analysis-progress';
import type { AnalyzeResult } from '../pipeline/analyze-study';
import {
  engineFailure,
  STOPPING_TEXT,
  type AnalysisJobProgress,
  type AnalysisRunner,
  type JobFailure,
} from './analysis-jobs';
import { analysisErrorKind, type JobMetrics } from './job-metrics';
import {
  bullConnection,
  CANCELLED_REASON,
  closeWithin,
  createJobStore,
  isProgressRecord,
  QUEUE_NAME,
  type ProgressRecord,
  type QueuedAnalysis,
  type SealedJobData,
} from './redis-job-store';

/** Failures worth another run: the EHR or PACS asked us to wait, or is down for a moment. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

export interface AnalysisWorkerOptions {
  redisUrl: string;
  run: AnalysisRunner;
  /** The worker's own token for an EHR (SMART Backend Services, http/backend-services.ts). */
  accessTokenFor: (fhirBaseUrl: string) => Promise<string>;
  /** Opens a job's sealed data (http/client-key.ts); rejects a seal that is not the server's. */
  open: (sealed: string) => Promise<QueuedAnalysis>;
  /** A failed run's error as the API would answer it (http/job-answers.ts), logged under the job's id. */
  describeFailure: (error: unknown, jobId: string) => JobFailure;
  /** Jobs this worker runs at once (WORKER_CONCURRENCY). */
  concurrency: number;
  /** BullMQ's lock on a running job, and how often stalled jobs are looked for, ms (JOB_LOCK_MS). */
  lockMs: number;
  /** How often a running job's cancel flag is read, ms (default 250). */
  cancelPollMs?: number;
  /** How long `close` waits for the running analyses, ms (default 60 s). */
  closeGraceMs?: number;
  /** Names this worker's connections (CLIENT LIST, BullMQ's getWorkers). */
  name?: string;
  log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
  /** Counts and times the jobs this worker runs (job-metrics.ts). */
  metrics?: JobMetrics;
  now?: () => Date;
}

export interface AnalysisWorker {
  /** Resolves once the worker is connected and taking jobs. */
  ready(): Promise<void>;
  /** Takes no new job and waits for the running ones to finish. */
  close(): Promise<void>;
}

/**
 * Sends a job's progress records in order, each with the next sequence number; errors are logged, never thrown.
 * While one record is on its way to Redis, a newer count of the same stage replaces the one waiting behind it (as the
 * event stream does, http/event-stream.ts): a worker reporting every frame and slice sends a few writes per stage
 * instead of one per image, and a busy worker's bar is not fed stale counts; no stage is ever skipped.
 */
function progressSender(job: Job, startSequence: number, onError: (error: unknown) => void) {
  let sequence = startSequence;
  const waiting: Omit<ProgressRecord, 'sequence'>[] = [];
  let sending: Promise<void> | undefined;
  const pump = async (): Promise<void> => {
    for (let record = waiting.shift(); record; record = waiting.shift()) {
      sequence++;
      await job.updateProgress({ ...record, sequence }).catch(onError);
    }
    sending = undefined;
  };
  return {
    send(record: Omit<ProgressRecord, 'sequence'>): void {
      const last = waiting.at(-1);
      if (last && last.state === record.state && last.progress.stage === record.progress.stage)
        waiting[waiting.length - 1] = record;
      else waiting.push(record);
      sending ??= pump();
    },
    flush: (): Promise<void> => sending ?? Promise.resolve(),
  };
}

export function createAnalysisWorker(options: AnalysisWorkerOptions): AnalysisWorker {
  const { run, describeFailure, metrics } = options;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  const cancelPollMs = options.cancelPollMs ?? 250;
  const store = createJobStore(options.redisUrl, 20);
  /** Closes a finished job in the store; a failure only leaves it to expire (a joiner finds it finished). */
  const finish = (id: string): Promise<void> =>
    store.finish(id).catch((error: unknown) => {
      log('warn', { job: id, err: (error as Error).message }, 'finished job not closed in Redis');
    });

  async function process(job: Job<SealedJobData, AnalyzeResult>): Promise<AnalyzeResult> {
    const id = job.id ?? '';
    const runStart = performance.now();
    const runMs = (): number => performance.now() - runStart;
    // BullMQ counts starts: the first one ends the job's wait in the queue (a rerun's wait is a backoff, not a queue).
    if (job.attemptsStarted <= 1) metrics?.jobStarted((job.processedOn ?? Date.now()) - job.timestamp);
    const refuse = (reason: string): UnrecoverableError => {
      metrics?.analysisError('refused-job');
      metrics?.jobFinished('failed', runMs());
      return new UnrecoverableError(JSON.stringify(refusedSeal(reason)));
    };
    const payload = await options.open(job.data.sealed).catch((error: unknown) => {
      throw refuse(`its data is not sealed by this server's key (${(error as Error).message})`);
    });
    if (payload.id !== id) throw refuse('its seal is for another job');
    const record = await store.record(id);
    if (!record || record.cancel) {
      await finish(id);
      metrics?.jobFinished('cancelled', runMs());
      throw new UnrecoverableError(CANCELLED_REASON);
    }
    const previous = isProgressRecord(job.progress) ? job.progress : undefined;
    const startedAt = now().toISOString();
    const sender = progressSender(job, previous?.sequence ?? 0, (error) => {
      log('warn', { job: id, err: (error as Error).message }, 'job progress not published');
    });
    const controller = new AbortController();
    let current: AnalysisJobProgress = { stage: 'queued', text: progressText({ stage: 'queued' }) };
    /** It reported a writing stage: from then on it is not stopped (an object: closures set it). */
    const state = { writing: false };
    const publish = (progress: AnalysisJobProgress): void => {
      current = progress;
      sender.send({ state: 'running', progress, startedAt });
    };
    const stop = (): void => {
      if (controller.signal.aborted || state.writing) return;
      publish({ ...current, text: STOPPING_TEXT });
      controller.abort();
    };
    const onProgress = (progress: AnalysisProgress): void => {
      if (controller.signal.aborted) return;
      if (current.stage === progress.stage && current.done === progress.done && current.total === progress.total)
        return;
      if (isWritingStage(progress.stage)) state.writing = true;
      publish({ ...progress, text: progressText(progress) });
    };
    let polling = false;
    const poll = setInterval(() => {
      if (polling || state.writing) return;
      polling = true;
      store
        .cancelRequested(id)
        .then((asked) => {
          if (asked) stop();
        })
        .catch(() => undefined)
        .finally(() => {
          polling = false;
        });
    }, cancelPollMs);
    try {
      publish({ stage: 'finding-series', text: progressText({ stage: 'finding-series' }) });
      const accessToken = await options.accessTokenFor(payload.data.fhirBaseUrl).catch((error: unknown) => {
        throw new WorkerTokenError(error);
      });
      const result = await run(payload.data, accessToken, {
        signal: controller.signal,
        onProgress,
        beforeWriting: async () => {
          // The point of no return, settled in Redis: a cancel asked before it wins, none after it. Without an
          // answer nothing is written, and the job is run again.
          const may = await store.beginWriting(id).catch((error: unknown) => {
            throw new QueueUnavailableError(error);
          });
          if (!may) stop();
        },
      });
      await sender.flush();
      await finish(id);
      metrics?.jobFinished('completed', runMs());
      return result;
    } catch (error) {
      await sender.flush();
      if (controller.signal.aborted && !state.writing) {
        await finish(id);
        log('info', { job: id }, 'analysis job cancelled');
        metrics?.jobFinished('cancelled', runMs());
        throw new UnrecoverableError(CANCELLED_REASON);
      }
      const failure =
        error instanceof QueueUnavailableError
          ? error.failure
          : describeFailure(error instanceof WorkerTokenError ? error.cause : error, id);
      const kind =
        error instanceof QueueUnavailableError
          ? 'queue-unavailable'
          : error instanceof WorkerTokenError
            ? 'worker-token'
            : analysisErrorKind(error);
      const maxAttempts = job.opts.attempts ?? 1;
      const attempt = job.attemptsMade + 1;
      if (RETRYABLE_STATUSES.has(failure.status) && attempt < maxAttempts) {
        const reason = failure.outcome.issue[0]?.diagnostics ?? 'the EHR or the PACS is busy';
        sender.send({
          state: 'queued',
          progress: {
            stage: 'queued',
            text: `Waiting to try again (attempt ${attempt + 1} of ${maxAttempts}): ${reason}`,
          },
        });
        await sender.flush();
        log('warn', { job: id, attempt, status: failure.status }, 'analysis job will be run again');
        metrics?.jobRetried(kind);
        throw new Error(JSON.stringify(failure));
      }
      await finish(id);
      metrics?.analysisError(kind);
      metrics?.jobFinished('failed', runMs());
      throw new UnrecoverableError(JSON.stringify(failure));
    } finally {
      clearInterval(poll);
    }
  }

  const worker = new Worker<SealedJobData, AnalyzeResult>(QUEUE_NAME, process, {
    ...bullConnection(options.redisUrl),
    concurrency: options.concurrency,
    lockDuration: options.lockMs,
    stalledInterval: options.lockMs,
    // A job whose worker died is run again; one that takes two workers down with it fails.
    maxStalledCount: 2,
    ...(options.name ? { name: options.name } : {}),
  });
  worker.on('error', (error) => {
    log('warn', { err: error.message }, 'job queue connection problem');
  });
  // A job whose worker stopped renewing its lock, put back in the queue (or failed, past maxStalledCount) by this
  // worker's stalled check.
  worker.on('stalled', () => {
    metrics?.jobRetried('stalled');
  });
  // Once BullMQ has recorded the end, the job is closed in the store again (idempotent): after a Redis restart that
  // lost the first close, and for a job BullMQ failed itself (it stalled too often), which no processor closed.
  worker.on('completed', (job) => {
    if (job.id) void finish(job.id);
  });
  worker.on('failed', (job) => {
    if (!job?.id) return;
    const id = job.id;
    void job
      .getState()
      .then(async (state) => {
        if (state === 'failed') await finish(id);
      })
      .catch(() => undefined);
  });

  return {
    ready: () => worker.waitUntilReady().then(() => undefined),
    async close() {
      // The running analyses finish first (a minute at most); past that, or with Redis away, BullMQ gives them to
      // another worker once their lock lapses.
      await closeWithin(
        options.closeGraceMs ?? 60_000,
        () => worker.close(),
        () =>
          closeWithin(
            2000,
            () => worker.close(true),
            () => worker.disconnect(),
          ),
      );
      await store.close();
    },
  };
}

/** Redis did not answer at the point of no return: nothing was written, the job is run again. */
class QueueUnavailableError extends Error {
  readonly failure: JobFailure;

  constructor(cause: unknown) {
    super(`the job queue's Redis did not answer: ${(cause as Error).message}`, { cause });
    this.failure = engineFailure(
      503,
      'transient',
      'ldh-cds could not reach its job queue before writing the results; nothing was written. Try again in a minute.',
      60,
    );
  }
}

/** The worker's own token could not be had (http/backend-services.ts): its error, told apart for the metrics. */
class WorkerTokenError extends Error {
  constructor(cause: unknown) {
    super('the worker could not get its own access token from the EHR', { cause });
  }
}

/** A job whose seal does not hold: refused, never run (someone with write access to Redis queued it). */
function refusedSeal(reason: string): JobFailure {
  return engineFailure(
    500,
    'security',
    `The analysis job was refused by the worker: ${reason}. Check that every API process and worker shares CLIENT_KEY_FILE.`,
  );
}
