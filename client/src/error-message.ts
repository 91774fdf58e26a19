import { ApiError } from './api';
import { operationOutcomeToSentence, toReadableSentence } from './operation-outcome';
import { SESSION_LOST_MESSAGE } from './smart-scope';

/** True for errors that mean "relaunch": an expired/revoked token or lost SMART state. */
export function isSessionLost(error: unknown): boolean {
  if (error instanceof ApiError) return error.isUnauthorized;
  if (error instanceof Error && error.name === 'SessionExpiredError') return true;
  // fhirclient's HttpError carries `status`.
  const status = (error as { status?: unknown } | null)?.status;
  return status === 401;
}

export function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function fhirStatusToWords(status: number): { what: string; advice: string } {
  const retry = 'Try again in a few minutes; call support if this keeps happening.';
  if (status === 403) {
    return { what: 'refused access', advice: 'Re-launch ldh-cds from the chart; call support if this happens again.' };
  }
  if (status === 404) return { what: 'could not find it', advice: 'Call support if this keeps happening.' };
  if (status === 429) return { what: 'is busy', advice: retry };
  if (status >= 500) return { what: 'is unavailable', advice: retry };
  return { what: 'refused the request', advice: 'Call support if this keeps happening.' };
}

/**
 * fhirclient's HttpError (a failed request from the browser to the EHR's FHIR server): its message is
 * "<status> <statusText>\nURL: <url>\n\n<body as JSON>", so the server's OperationOutcome is read back from it.
 */
function fhirHttpErrorToSentence(error: Error & { status: number }, doing: string): string {
  const { status } = error;
  const json = error.message.split('\n\n').slice(1).join('\n\n');
  let reason: string | undefined;
  try {
    reason = operationOutcomeToSentence(JSON.parse(json) as unknown);
  } catch {
    reason = undefined;
  }
  const { what, advice } = fhirStatusToWords(status);
  const because = reason ? `: ${reason.replace(/[.\s]+$/, '')}` : '';
  return `Could not ${doing}: the EHR's FHIR server ${what} (HTTP ${status})${because}. ${advice}`;
}

/** The sentence, then the request's reference for support when the server gave one. */
function withReference(message: string, reference: string | undefined): string {
  return reference ? `${message} Reference for support: ${reference}.` : message;
}

/**
 * What to tell the clinician when something failed while `doing` (e.g. "load the patient's studies"): always a
 * sentence, never JSON or a URL.
 */
export function errorToMessage(error: unknown, doing: string): string {
  if (isSessionLost(error)) return SESSION_LOST_MESSAGE;
  if (error instanceof ApiError) return withReference(error.message, error.reference);
  if (error instanceof TypeError) return `Could not ${doing}: the server could not be reached (${error.message}).`;
  if (
    error instanceof Error &&
    error.name === 'HttpError' &&
    typeof (error as { status?: unknown }).status === 'number'
  ) {
    return fhirHttpErrorToSentence(error as Error & { status: number }, doing);
  }
  const sentence = error instanceof Error ? toReadableSentence(error.message) : undefined;
  if (sentence) return `Could not ${doing}: ${sentence}`;
  return `Could not ${doing}.`;
}
