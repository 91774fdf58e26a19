import { ApiError } from './api';
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

/** What to tell the clinician when something failed while `doing` (e.g. "load the patient's studies"). */
export function errorToMessage(error: unknown, doing: string): string {
  if (isSessionLost(error)) return SESSION_LOST_MESSAGE;
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return `Could not ${doing}: the server could not be reached (${error.message}).`;
  if (error instanceof Error && error.message.trim()) return `Could not ${doing}: ${error.message.trim()}`;
  return `Could not ${doing}.`;
}
