/**
 * What the job engines count and time (issue 23, Operations), as Prometheus metrics on a registry the process owns
 * (http/metrics.ts serves it): jobs queued, running and finished by state, the analysis stages' durations, the whole
 * run and the wait in the queue, the queue's depth, errors and reruns by kind. docs/deploy.md §What to monitor and
 * alert on lists each metric with its alert.
 *
 * No label carries a patient, a study, a UID, a user or a token: every label value comes from a closed list below
 * (a state, a stage, an error kind), so the series are few and say nothing about whom an analysis was for.
 *
 * Counters and histograms count what happened in this process: the in-process engine's jobs, or the jobs a worker ran
 * (the API process's own worker included). The queue gauges are read from the engine at each scrape — with Redis,
 * they are the whole queue's, the same from every API process (aggregate them with max, not sum).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AnalysisStage, ProgressListener } from '../pipeline/analysis-progress';
import { PipelineError, toPipelineError } from '../pipeline/pipeline-error';
import { JobRefusedError } from './analysis-jobs';

/** Why an analysis did not give results, as the `kind` label says it. */
export const ANALYSIS_ERROR_KINDS = [
  // PipelineError kinds (pipeline/pipeline-error.ts), as the API answers them (http/pipeline-errors.ts).
  'invalid-input',
  'not-found',
  'unprocessable',
  'upstream',
  'forbidden',
  'conflict',
  'too-large',
  'busy',
  // A new job refused (JobRefusedError): the queue is full (503), the user has enough unfinished (429).
  'queue-full',
  'user-limit',
  // The worker's own: Redis did not answer at the point of no return; a job not sealed by this server's key; the
  // EHR did not give the worker its own (Backend Services) token.
  'queue-unavailable',
  'refused-job',
  'worker-token',
  // Anything else: a bug, a model that will not load (500).
  'internal',
] as const;
export type AnalysisErrorKind = (typeof ANALYSIS_ERROR_KINDS)[number];

/** Why a run is run again: a transient error's kind, or `stalled` (its worker stopped renewing its lock). */
export type RetryKind = AnalysisErrorKind | 'stalled';

export type FinishedState = 'completed' | 'failed' | 'cancelled';
const FINISHED_STATES: readonly FinishedState[] = ['completed', 'failed', 'cancelled'];

/** The queue as the engine sees it at a scrape. */
export interface QueueCounts {
  /** Waiting for their turn or a worker, including those waiting to be run again. */
  queued: number;
  running: number;
}

export interface QueueSource {
  /** Jobs that may wait (MAX_QUEUED_ANALYSES, as the engine applies it). */
  capacity: number;
  /** Read at each scrape; a rejection leaves the gauges NaN for that scrape (the queue did not answer). */
  read: () => Promise<QueueCounts>;
}

export interface JobMetrics {
  /** A new job was queued (joining a queued or running job is not one). */
  jobQueued(): void;
  /** A job started its first run after waiting `waitMs` in the queue. */
  jobStarted(waitMs: number): void;
  /** A job ended in `state`; `runMs` is its last run's time (none for a job cancelled before it ran). */
  jobFinished(state: FinishedState, runMs?: number): void;
  /** A run failed and the job will run again. */
  jobRetried(kind: RetryKind): void;
  /** An analysis refused or failed. */
  analysisError(kind: AnalysisErrorKind): void;
  /** A stage of the pipeline took `ms` (analysis-progress.ts's stages, as the progress bar shows them). */
  stageCompleted(stage: AnalysisStage, ms: number): void;
  /** The engine whose queue the gauges read at each scrape (the API side; a worker process has none). */
  observeQueue(source: QueueSource): void;
}

/** The kind an error counts as: a PipelineError's kind, a refusal's reason, else `internal`. */
export function analysisErrorKind(error: unknown): AnalysisErrorKind {
  if (error instanceof JobRefusedError) return error.reason;
  const classified = toPipelineError(error);
  if (classified instanceof PipelineError && classified.kind !== 'cancelled') return classified.kind;
  return 'internal';
}

const PREFIX = 'ldh_cds_';
const seconds = (ms: number): number => Math.max(0, ms) / 1000;

export function createJobMetrics(registry: Registry): JobMetrics {
  const registers = [registry];
  const queued = new Counter({
    name: `${PREFIX}analysis_jobs_queued_total`,
    help: 'Analysis jobs queued (a request that joined a queued or running job is not counted).',
    registers,
  });
  const finished = new Counter({
    name: `${PREFIX}analysis_jobs_finished_total`,
    help: 'Analysis jobs finished, by final state: completed, failed, cancelled.',
    labelNames: ['state'] as const,
    registers,
  });
  const retries = new Counter({
    name: `${PREFIX}analysis_job_retries_total`,
    help: 'Runs of an analysis job that will be run again: the transient error kind, or stalled (its worker stopped).',
    labelNames: ['kind'] as const,
    registers,
  });
  const errors = new Counter({
    name: `${PREFIX}analysis_errors_total`,
    help: 'Analyses refused or failed, by kind: the PipelineError kind (unprocessable, too-large, upstream, ...), a refusal (queue-full, user-limit), or internal.',
    labelNames: ['kind'] as const,
    registers,
  });
  const stages = new Histogram({
    name: `${PREFIX}analysis_stage_duration_seconds`,
    help: 'Time an analysis spent in each stage of the pipeline (finding-series, retrieving, decoding, inferring, writing-sr, writing-fhir).',
    labelNames: ['stage'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const runs = new Histogram({
    name: `${PREFIX}analysis_job_duration_seconds`,
    help: "An analysis job's last run, from its start to its end, by final state.",
    labelNames: ['state'] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
    registers,
  });
  const waits = new Histogram({
    name: `${PREFIX}analysis_queue_wait_seconds`,
    help: 'Time an analysis job waited from queued to its first start.',
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 1800],
    registers,
  });
  // Every known label value from 0, so that the first failure shows as an increase (not as a new series).
  for (const state of FINISHED_STATES) finished.inc({ state }, 0);
  for (const kind of ANALYSIS_ERROR_KINDS) errors.inc({ kind }, 0);

  return {
    jobQueued: () => {
      queued.inc();
    },
    jobStarted: (waitMs) => {
      waits.observe(seconds(waitMs));
    },
    jobFinished: (state, runMs) => {
      finished.inc({ state });
      if (runMs !== undefined) runs.observe({ state }, seconds(runMs));
    },
    jobRetried: (kind) => {
      retries.inc({ kind });
    },
    analysisError: (kind) => {
      errors.inc({ kind });
    },
    stageCompleted: (stage, ms) => {
      stages.observe({ stage }, seconds(ms));
    },
    observeQueue: (source) => {
      // One read per scrape for both gauges (with Redis, one round trip).
      let last: { at: number; counts: Promise<QueueCounts | undefined> } | undefined;
      const counts = (): Promise<QueueCounts | undefined> => {
        const now = performance.now();
        if (!last || now - last.at > 1000) {
          last = { at: now, counts: source.read().catch(() => undefined) };
        }
        return last.counts;
      };
      new Gauge({
        name: `${PREFIX}analysis_queue_depth`,
        help: 'Analysis jobs waiting for their turn or a worker, including those waiting to be run again (NaN: the queue did not answer).',
        registers,
        async collect() {
          this.set((await counts())?.queued ?? NaN);
        },
      });
      new Gauge({
        name: `${PREFIX}analysis_jobs_running`,
        help: 'Analysis jobs running now (NaN: the queue did not answer).',
        registers,
        async collect() {
          this.set((await counts())?.running ?? NaN);
        },
      });
      new Gauge({
        name: `${PREFIX}analysis_queue_capacity`,
        help: 'Analysis jobs that may wait (MAX_QUEUED_ANALYSES); beyond, a new analysis is refused with 503.',
        registers,
      }).set(source.capacity);
    },
  };
}

/**
 * Times the stages an analysis reports (analysis-progress.ts): a stage lasts from its first report to the next
 * stage's. `completed` closes the last one when the analysis succeeded; a failed or cancelled analysis's unfinished
 * stage is not observed (it did not complete).
 */
export function stageTimer(
  metrics: JobMetrics,
  onProgress?: ProgressListener,
): { onProgress: ProgressListener; completed(): void } {
  let current: { stage: AnalysisStage; since: number } | undefined;
  const close = (at: number): void => {
    if (current) metrics.stageCompleted(current.stage, at - current.since);
  };
  return {
    onProgress: (progress) => {
      if (current?.stage !== progress.stage) {
        const at = performance.now();
        close(at);
        current = { stage: progress.stage, since: at };
      }
      onProgress?.(progress);
    },
    completed: () => {
      close(performance.now());
      current = undefined;
    },
  };
}
