/**
 * Jobs in the API's words (issue 23): a failed job keeps what a synchronous analysis would have answered — the status
 * and OperationOutcome the terminal error handler makes of its error (error-handler.ts), with its Retry-After — and
 * answers exactly that again when a request waited for it (`Prefer: wait`); an engine's refusal is 503 (the server's
 * queue is full) or 429 (this user has enough unfinished); a job that is not the caller's does not exist (404).
 *
 * A job's failure is logged where it happens, as codes under the job's id, never its message
 * (docs/security.md §Logs): no request is there to log it when nobody waits.
 */
import type { Logger } from 'pino';
import type { JobFailure } from '../jobs/analysis-jobs';
import { JobRefusedError } from '../jobs/analysis-jobs';
import { errorToLogFields, toHttpError } from './error-handler';
import { conflict, HttpError, notFound, serviceBusy, tooManyRequests } from './http-error';
import { stackFramesOf } from './log-serializers';

/** The failure a job keeps, from its error, logged under the job's id. */
export function jobFailureDescriber(logger: Logger): (error: unknown, jobId: string) => JobFailure {
  return (error, jobId) => {
    const httpError = toHttpError(error);
    const fields = { job: jobId, ...errorToLogFields(error, httpError) };
    if (httpError.status >= 500) logger.error({ ...fields, stack: stackFramesOf(error) }, 'analysis job failed');
    else logger.info(fields, 'analysis job refused');
    const retryAfter = Number(httpError.headers['Retry-After']);
    return {
      status: httpError.status,
      outcome: httpError.outcome,
      ...(Number.isInteger(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {}),
    };
  };
}

/** What a synchronous analysis answered for this failure: its status, OperationOutcome and headers. */
export function httpErrorOfFailure(failure: JobFailure): HttpError {
  const headers: Record<string, string> = {};
  if (failure.retryAfterSeconds !== undefined) headers['Retry-After'] = String(failure.retryAfterSeconds);
  // RFC 6750 §3: a 401 names the scheme the client must use.
  if (failure.status === 401) headers['WWW-Authenticate'] = 'Bearer';
  return new HttpError(failure.status, failure.outcome, headers);
}

/** A request that waited for a job that was cancelled meanwhile: the job was stopped, nothing was written. */
export function cancelledJobError(imagingStudy: string): HttpError {
  return conflict(
    `The analysis of ${imagingStudy} was cancelled before it wrote anything; nothing was written to the EHR or the PACS. Analyze again to start it anew.`,
  );
}

/** An engine's refusal of a new job as the API answers it; anything else unchanged. */
export function refusalToHttpError(error: unknown): unknown {
  if (!(error instanceof JobRefusedError)) return error;
  return error.reason === 'user-limit'
    ? tooManyRequests(error.message, error.retryAfterSeconds)
    : serviceBusy(error.message, error.retryAfterSeconds);
}

/** The same answer for a job that never existed, has been forgotten, or is another caller's: ids leak nothing. */
export function jobNotFound(): HttpError {
  return notFound(
    'No analysis job with this id is known to this session: it may have finished more than an hour ago, or have been started in another patient’s chart or by another user. Analyze the study again to see its result.',
  );
}

/** DELETE of a job that has begun writing or has finished (RFC 9110 §15.5.10: the job's state conflicts). */
export function notCancellableError(state: string): HttpError {
  return state === 'running'
    ? conflict(
        'The analysis is already writing its results to the EHR and can no longer be cancelled: a write is never stopped half-way. Its results are preliminary until a clinician reviews them.',
      )
    : conflict(
        `The analysis has already ${state === 'completed' ? 'completed' : 'failed'}; there is nothing to cancel.`,
      );
}
