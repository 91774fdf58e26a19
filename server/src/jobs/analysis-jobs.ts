/**
 * Analyses as jobs (issue 23): the one interface the API uses, whichever engine runs them — in this process
 * (in-process-jobs.ts, the default) or BullMQ workers over Redis (bullmq-jobs.ts, with REDIS_URL). It is shaped so
 * that either can implement it:
 *
 * - a job's data (`AnalysisJobData`) is plain JSON, what a queue stores; the user's access token is not in it but
 *   handed to `submit` beside it (the in-process engine keeps it in memory only; a queue must not store it in clear);
 * - the state is a BullMQ job state (queued = waiting or delayed, running = active, completed, failed; cancelled = a
 *   failed job whose reason is the cancel), the progress is what `job.updateProgress` stores, and the events are
 *   what QueueEvents publishes (`progress`, `completed`, `failed`);
 * - a snapshot (`AnalysisJobSnapshot`) is the API's body for a job, plain JSON, without the token.
 *
 * One analysis per study, model version and EHR: a request for a key whose job is still queued or running joins that
 * job (the same id) instead of starting another; who may read a job is every caller that submitted or joined it.
 */
import type { OperationOutcome } from 'fhir/r4';
import type { ModelRef } from '../findings/findings';
import type { AnalysisProgress, ProgressListener } from '../pipeline/analysis-progress';
import type { AnalyzeResult } from '../pipeline/analyze-study';
import type { PatientRestriction } from '../pipeline/patient-match';

export const JOB_STATES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States a job never leaves. */
export function isFinishedState(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}

/** The line a finished job's progress ends with. */
export const FINAL_TEXT: Record<Exclude<JobState, 'queued' | 'running'>, string> = {
  completed: 'Done: the results are in the EHR',
  failed: 'The analysis failed',
  cancelled: 'Cancelled: nothing was written',
};
/** A completed job whose analysis the EHR already held when it ran. */
export const ALREADY_HELD_TEXT = 'Done: the EHR already held this analysis';
/** A running job told to stop. */
export const STOPPING_TEXT = 'Stopping: nothing will be written';

/** The pipeline's progress with the line a clinician reads for it ("Retrieving images 12/40"). */
export interface AnalysisJobProgress extends AnalysisProgress {
  text: string;
}

/** Why a job failed, as the API would have answered a synchronous analysis: the status and its OperationOutcome. */
export interface JobFailure {
  status: number;
  outcome: OperationOutcome;
  /** For a busy server or an upstream that asked us to wait (503, 429): the Retry-After to pass on, seconds. */
  retryAfterSeconds?: number;
}

/**
 * A failure the engines describe themselves (not the pipeline's: those come from `describeFailure`), as a FHIR
 * OperationOutcome with one error issue (R4 `IssueType`: `transient` for "try again", `security` for a refused job).
 */
export function engineFailure(
  status: number,
  code: 'transient' | 'security',
  diagnostics: string,
  retryAfterSeconds?: number,
): JobFailure {
  return {
    status,
    outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] },
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
}

/** The API's body for a job (GET /api/analyses/jobs/{id}, each event of its stream). */
export interface AnalysisJobSnapshot {
  /** A random UUID. */
  id: string;
  state: JobState;
  /** `ImagingStudy/<id>` on the EHR of the request. */
  imagingStudy: string;
  model: ModelRef;
  progress: AnalysisJobProgress;
  /** ISO 8601 instants. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** `completed`: what POST /api/analyses answers for a finished analysis. */
  result?: AnalyzeResult;
  /** `failed`: what a synchronous POST would have answered. */
  error?: JobFailure;
}

/** What runs an analysis, as a queue stores it: plain JSON, no credentials. */
export interface AnalysisJobData {
  fhirBaseUrl: string;
  imagingStudy: string;
  model: ModelRef;
  /** The DICOMweb origins the caller's token may go to (this EHR's, EHRS_FILE). */
  imagingOrigins: string[];
  storeStructuredReport: boolean;
  /** The submitter's patient-scoped token's patient: the job acts for that patient only. */
  patientRestriction?: PatientRestriction;
  /**
   * Who asked for it: the submitter's verified `fhirUser` as a reference relative to `fhirBaseUrl`
   * (`Practitioner/…`), recorded in the AI Provenance as its enterer. Absent when the EHR names no user of its own.
   */
  requestedBy?: string;
}

/** What an engine hands the pipeline besides the job's data and the token it acts with. */
export interface RunControls {
  /** Fires on cancel; the analysis stops at its next request, frame or batch, until it starts writing. */
  signal: AbortSignal;
  onProgress: ProgressListener;
  /** Awaited just before the first write: an engine whose cancel comes from elsewhere settles it there. */
  beforeWriting?: () => Promise<void>;
}

/**
 * Runs one analysis with a token that may read the study and write its results (the user's, or the worker's own
 * Backend Services token); stops (rejects) when `signal` fires, until it starts writing.
 */
export type AnalysisRunner = (
  data: AnalysisJobData,
  accessToken: string,
  controls: RunControls,
) => Promise<AnalyzeResult>;

/** Who asks for a job. */
export interface JobRequester {
  /**
   * The caller's key for reading the job: its verified user, on this FHIR base, with its patient restriction
   * (http/caller-keys.ts). Opaque here; a job answers only the keys that submitted or joined it.
   */
  reader: string;
  /** The user the per-user limit counts (MAX_CONCURRENT_ANALYSES_PER_USER). */
  user: string;
  /** The user's SMART access token, with which the analysis reads the study and writes its results. */
  accessToken: string;
}

export type JobEventType = 'progress' | 'completed' | 'failed' | 'cancelled';

export interface AnalysisJobEvent {
  /** Counts up from 1 per job: the Server-Sent Events `id`. */
  sequence: number;
  type: JobEventType;
  snapshot: AnalysisJobSnapshot;
}

/** The event a finished state ends the stream with; progress for the others. */
export function eventTypeOf(state: JobState): JobEventType {
  return isFinishedState(state) ? (state as Exclude<JobState, 'queued' | 'running'>) : 'progress';
}

export interface JobWatch {
  /** The job as it is now; the listener gets every change after it. */
  snapshot: AnalysisJobSnapshot;
  /** The sequence number of the last event published before `snapshot` (0 before any). */
  sequence: number;
  stop(): void;
}

/**
 * - `cancelled`: the job is cancelled (a queued job at once, or it was before);
 * - `cancelling`: it is running and stops at its next request, frame or batch; nothing will be written;
 * - `not-cancellable`: it has begun writing its results, or it has finished.
 */
export type CancelOutcome = 'cancelled' | 'cancelling' | 'not-cancellable';

export interface AnalysisJobs {
  /**
   * Queues a new job, or joins the queued or running job of the same key (`joined`). Refuses a new job with
   * JobRefusedError: the requester's user has too many unfinished jobs, or the queue is full.
   */
  submit(data: AnalysisJobData, requester: JobRequester): Promise<{ snapshot: AnalysisJobSnapshot; joined: boolean }>;
  /** The job, when it exists and `reader` submitted or joined it; undefined otherwise (never say which). */
  get(id: string, reader: string): Promise<AnalysisJobSnapshot | undefined>;
  /** The job now, then each change to `listener` until it finishes (the last event is its final state). */
  watch(id: string, reader: string, listener: (event: AnalysisJobEvent) => void): Promise<JobWatch | undefined>;
  cancel(id: string, reader: string): Promise<{ outcome: CancelOutcome; snapshot: AnalysisJobSnapshot } | undefined>;
  /** Stops taking jobs, cancels the ones that can be and waits for those that are writing. */
  close(): Promise<void>;
}

export type JobRefusal = 'queue-full' | 'user-limit';

/** A new job refused: the server's queue is full (503) or the user has too many unfinished jobs (429). */
export class JobRefusedError extends Error {
  readonly reason: JobRefusal;
  readonly retryAfterSeconds: number;

  constructor(reason: JobRefusal, message: string, retryAfterSeconds: number) {
    super(message);
    this.name = 'JobRefusedError';
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** One analysis per EHR, study and model version: the key a second request joins by. */
export function jobKeyOf(data: Pick<AnalysisJobData, 'fhirBaseUrl' | 'imagingStudy' | 'model'>): string {
  return [data.fhirBaseUrl, data.imagingStudy, data.model.id, data.model.version].join('\u0000');
}

/**
 * Waits up to `timeoutMs` for the job to finish (RFC 7240 `Prefer: wait`): its final snapshot, or the snapshot at the
 * time limit (unfinished), or undefined when it is not this reader's. `signal` stops the wait early (the caller left).
 */
export async function waitForJob(
  jobs: AnalysisJobs,
  id: string,
  reader: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AnalysisJobSnapshot | undefined> {
  let settle: (snapshot: AnalysisJobSnapshot) => void = () => undefined;
  const finished = new Promise<AnalysisJobSnapshot>((resolve) => {
    settle = resolve;
  });
  let latest: AnalysisJobSnapshot | undefined;
  const watch = await jobs.watch(id, reader, (event) => {
    latest = event.snapshot;
    if (isFinishedState(event.snapshot.state)) settle(event.snapshot);
  });
  if (!watch) return undefined;
  latest ??= watch.snapshot;
  if (isFinishedState(latest.state)) {
    watch.stop();
    return latest;
  }
  let timer: NodeJS.Timeout | undefined;
  const stopEarly = (): void => {
    if (latest) settle(latest);
  };
  try {
    timer = setTimeout(stopEarly, timeoutMs);
    signal?.addEventListener('abort', stopEarly, { once: true });
    return await finished;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', stopEarly);
    watch.stop();
  }
}
