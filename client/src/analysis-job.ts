/**
 * The panel's view of an analysis job (issue 23), without React: how full the progress bar is, what a screen reader
 * hears, what a finished job means for the panel, and the job to reconnect to after a reload or a re-launch.
 */
import {
  ApiError,
  getAnalysisJob,
  isFinishedJobState,
  type AnalysisJob,
  type AnalysisResult,
  type ApiSession,
  type FetchFn,
  type JobProgress,
} from './api';
import { errorBodyToMessage, requestReferenceOf } from './operation-outcome';
import { analysisJobKey, forgetAnalysisJob, rememberedAnalysisJob, type KeyValueStorage } from './session-storage';

/**
 * Each stage's share of the bar, in percent: from, to (server/src/pipeline/analysis-progress.ts `ANALYSIS_STAGES`).
 * Retrieval and inference take most of an analysis; the writing stages are short.
 */
const STAGE_SPAN: Record<string, readonly [number, number]> = {
  queued: [0, 0],
  'finding-series': [2, 5],
  retrieving: [5, 45],
  decoding: [45, 60],
  inferring: [60, 90],
  'writing-sr': [90, 94],
  'writing-fhir': [94, 99],
};

/**
 * How full the bar is, 0–100, moving forward through the stages and, within a stage with a count, with it; 100 once
 * the job completed. Undefined for a stage this client does not know (the bar then shows no value).
 */
export function jobPercent(job: Pick<AnalysisJob, 'state' | 'progress'>): number | undefined {
  if (job.state === 'completed') return 100;
  const span = STAGE_SPAN[job.progress.stage];
  if (!span) return undefined;
  const [from, to] = span;
  const { done, total } = job.progress;
  const fraction = done !== undefined && total !== undefined && total > 0 ? Math.min(1, done / total) : 0;
  return Math.round(from + (to - from) * fraction);
}

/** The stage line without its count ("Retrieving images"): what a screen reader hears once per stage, not per image. */
export function stageAnnouncement(progress: Pick<JobProgress, 'text'>): string {
  return progress.text.replace(/\s+\d+\/\d+$/, '').trim();
}

/** What a finished job means for the panel. */
export type JobOutcome =
  { kind: 'completed'; result: AnalysisResult } | { kind: 'failed'; error: ApiError } | { kind: 'cancelled' };

/**
 * A finished job's outcome: its result, exactly what the synchronous API answered; its failure as the ApiError the
 * synchronous API would have caused (the OperationOutcome's first issue, the status, the reference for support); or
 * the cancel. Undefined while it runs.
 */
export function jobOutcome(job: AnalysisJob): JobOutcome | undefined {
  if (!isFinishedJobState(job.state)) return undefined;
  if (job.state === 'cancelled') return { kind: 'cancelled' };
  if (job.state === 'completed') {
    if (job.result) return { kind: 'completed', result: job.result };
    return {
      kind: 'failed',
      error: new ApiError(200, 'The analysis finished, but the ldh-cds server did not send findings the app can read.'),
    };
  }
  const status = job.error?.status ?? 500;
  const outcome = job.error?.outcome;
  const message = errorBodyToMessage(outcome, status);
  return { kind: 'failed', error: new ApiError(status, message, requestReferenceOf(new Headers(), outcome)) };
}

/** What the panel does for a study when it opens: follow a job still running, or look for the stored analysis. */
export type Reconnect = { kind: 'follow'; jobId: string; job?: AnalysisJob } | { kind: 'none' };

/**
 * The job this tab started or joined for the study, if it still runs: read from sessionStorage and asked of the
 * server. A job the server does not know (404) or that has finished is forgotten, and the panel shows the stored
 * analysis or offers Analyze. When the server cannot be asked (the network, a restart), the job is followed anyway:
 * the follow reconnects with backoff, and ends with JobGoneError if the job is gone. 401 and other refusals throw.
 */
export async function reconnectableJob(options: {
  storage: KeyValueStorage;
  session: ApiSession;
  studyId: string;
  baseUrl: string;
  fetch?: FetchFn;
  signal?: AbortSignal;
}): Promise<Reconnect> {
  const { storage, session, studyId } = options;
  const key = analysisJobKey(session.fhirServer, studyId);
  const jobId = rememberedAnalysisJob(storage, key);
  if (!jobId) return { kind: 'none' };
  let job: AnalysisJob | null;
  try {
    job = await getAnalysisJob(session, jobId, {
      baseUrl: options.baseUrl,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const transient =
      error instanceof TypeError || (error instanceof ApiError && (error.status >= 500 || error.status === 429));
    if (transient) return { kind: 'follow', jobId };
    throw error;
  }
  if (!job || isFinishedJobState(job.state)) {
    forgetAnalysisJob(storage, key);
    return { kind: 'none' };
  }
  return { kind: 'follow', jobId, job };
}
