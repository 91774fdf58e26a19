/**
 * The one error type of the HTTP API: a status plus the FHIR OperationOutcome that is its body
 * (docs/architecture.md §Where each concern lives, "Errors"). Factories keep call sites short and the issue codes
 * consistent (FHIR R4 ValueSet issue-type).
 */
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export type IssueCode = OperationOutcomeIssue['code'];

export class HttpError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  readonly headers: Record<string, string>;

  constructor(status: number, outcome: OperationOutcome, headers: Record<string, string> = {}) {
    super(outcome.issue.map((issue) => issue.diagnostics ?? issue.code).join('; '));
    this.name = 'HttpError';
    this.status = status;
    this.outcome = outcome;
    this.headers = headers;
  }
}

export function operationOutcome(
  code: IssueCode,
  diagnostics: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

const make =
  (status: number, code: IssueCode) =>
  (diagnostics: string): HttpError =>
    new HttpError(status, operationOutcome(code, diagnostics));

export const badRequest = make(400, 'invalid');
export const forbidden = make(403, 'forbidden');
export const notFound = make(404, 'not-found');
/** The record changed since the user read it (RFC 9110 §15.5.10): reload, nothing was overwritten. */
export const conflict = make(409, 'conflict');
export const preconditionFailed = make(412, 'incomplete');
/** The request was well-formed but the study cannot be analyzed (missing endpoint, unsupported image…). */
export const unprocessable = make(422, 'processing');
export const internalError = make(500, 'exception');
/** The study exceeds a configured limit (422, FHIR issue `too-costly`): the message names the limit and its key. */
export const tooCostly = make(422, 'too-costly');

/**
 * An answer that says the server is at capacity by design (a full queue, a full replay cache): 503 with Retry-After,
 * as serviceBusy makes it. Logged as a warning, which a flood repeats, not as a failure with a stack.
 */
export function isCapacityRefusal(status: number, hasRetryAfter: boolean): boolean {
  return status === 503 && hasRetryAfter;
}

/** The server is at capacity (RFC 9110 §15.6.4): nothing is wrong with the request; Retry-After says when to retry. */
export function serviceBusy(diagnostics: string, retryAfterSeconds: number): HttpError {
  return new HttpError(503, operationOutcome('transient', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
}

/** This caller sent too much (RFC 6585 §4): Retry-After says when to retry. */
export function tooManyRequests(diagnostics: string, retryAfterSeconds: number): HttpError {
  return new HttpError(429, operationOutcome('throttled', diagnostics), { 'Retry-After': String(retryAfterSeconds) });
}

export function unauthorized(diagnostics: string): HttpError {
  // RFC 6750 §3: a 401 names the scheme the client must use.
  return new HttpError(401, operationOutcome('login', diagnostics), { 'WWW-Authenticate': 'Bearer' });
}

export interface UpstreamFailureContext {
  /**
   * The sentence the upstream's client already wrote for a clinician (fhir/fhir-client.ts writes one: what failed,
   * whether anything was saved, what to do); without it one is built from the service and the status.
   */
  summary?: string;
  /** How long the upstream asked us to wait (its Retry-After): passed on as our Retry-After. */
  retryAfterSeconds?: number;
}

/**
 * An upstream server (FHIR, DICOMweb) failed. 4xx statuses are passed through so the client can act on the real
 * cause (401 expired token, 404 unknown study); 5xx, redirects and no answer become 502 Bad Gateway.
 *
 * The OperationOutcome's FIRST issue is one plain sentence for the clinician — what failed, whether anything was
 * saved when that is known, and what to do (try again later, re-launch the app, call support); the panel shows
 * only that issue. The upstream's own issues follow unchanged, then one naming the service and its status, for
 * engineers.
 */
export function upstream(
  service: string,
  status: number | undefined,
  body: unknown,
  context: UpstreamFailureContext = {},
): HttpError {
  const passStatus = status !== undefined && status >= 400 && status < 500 ? status : 502;
  const first: OperationOutcomeIssue = {
    severity: 'error',
    code: upstreamIssueCode(passStatus),
    diagnostics: upstreamSentence(service, status, context),
  };
  const detail = typeof body === 'string' && body.length > 0 ? `: ${body.slice(0, 500)}` : '';
  const theirs: OperationOutcomeIssue[] = isOperationOutcome(body) ? body.issue : [];
  const headers: Record<string, string> = {};
  // RFC 6750 §3: a 401 names the scheme the client must use.
  if (passStatus === 401) headers['WWW-Authenticate'] = 'Bearer';
  if (context.retryAfterSeconds !== undefined) headers['Retry-After'] = String(context.retryAfterSeconds);
  return new HttpError(
    passStatus,
    {
      resourceType: 'OperationOutcome',
      issue: [
        first,
        ...theirs,
        {
          severity: 'information',
          code: 'informational',
          diagnostics: `from ${service} (HTTP ${status ?? 'no response'})${isOperationOutcome(body) ? '' : detail}`,
        },
      ],
    },
    headers,
  );
}

function upstreamIssueCode(status: number): IssueCode {
  switch (status) {
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 409:
    case 412:
      return 'conflict';
    case 429:
      return 'throttled';
    default:
      return status < 500 ? 'processing' : 'transient';
  }
}

/** "The EHR's FHIR server" or "The image archive (DICOMweb server)": whom the clinician would call about. */
function serviceLabel(service: string): string {
  if (/^FHIR\b/i.test(service)) return "The EHR's FHIR server";
  if (/^DICOMweb\b/i.test(service)) return 'The image archive (DICOMweb server)';
  return `The ${service}`;
}

function upstreamSentence(service: string, status: number | undefined, context: UpstreamFailureContext): string {
  if (status === 401) return 'Your EHR session has expired or was revoked — re-launch ldh-cds from the chart.';
  if (status === 403) {
    return (
      `${serviceLabel(service)} refused access: this ldh-cds session lacks the permission (SMART scope) it needs. ` +
      "Re-launch ldh-cds from the chart; if this happens again, call support to check the app's permissions."
    );
  }
  if (context.summary?.trim()) return context.summary.trim();
  const label = serviceLabel(service);
  if (status === undefined)
    return `${label} did not answer. Try again in a few minutes; call support if this keeps happening.`;
  if (status === 404) {
    return `${label} could not find what ldh-cds asked for (HTTP 404). Check that the study is still in the chart; call support if it is.`;
  }
  if (status === 409 || status === 412) {
    return `${label} reports that the record changed meanwhile (HTTP ${status}). Reload the study and try again.`;
  }
  if (status === 429) {
    const wait = context.retryAfterSeconds ? `about ${context.retryAfterSeconds} seconds` : 'a minute';
    return `${label} is busy (HTTP 429). Try again in ${wait}.`;
  }
  if (status >= 300 && status < 400) {
    return `${label} answered with a redirect (HTTP ${status}), which ldh-cds does not follow with your token. Call support.`;
  }
  if (status < 500) return `${label} refused the request (HTTP ${status}). Call support if this keeps happening.`;
  return `${label} is unavailable (HTTP ${status}). Try again in a few minutes; call support if this keeps happening.`;
}

export function isOperationOutcome(value: unknown): value is OperationOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { resourceType?: unknown }).resourceType === 'OperationOutcome' &&
    Array.isArray((value as { issue?: unknown }).issue)
  );
}
