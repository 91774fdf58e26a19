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
export const preconditionFailed = make(412, 'incomplete');
/** The request was well-formed but the study cannot be analyzed (missing endpoint, unsupported image…). */
export const unprocessable = make(422, 'processing');
export const internalError = make(500, 'exception');

export function unauthorized(diagnostics: string): HttpError {
  // RFC 6750 §3: a 401 names the scheme the client must use.
  return new HttpError(401, operationOutcome('login', diagnostics), { 'WWW-Authenticate': 'Bearer' });
}

/**
 * An upstream server (FHIR, DICOMweb) failed. 4xx statuses are passed through so the client sees the real
 * cause (401 expired token, 404 unknown study); 5xx and network failures become 502 Bad Gateway.
 * An upstream OperationOutcome body is kept as is.
 */
export function upstream(service: string, status: number | undefined, body: unknown): HttpError {
  const passStatus = status !== undefined && status >= 400 && status < 500 ? status : 502;
  if (isOperationOutcome(body)) {
    return new HttpError(passStatus, {
      ...body,
      issue: [
        ...body.issue,
        { severity: 'error', code: 'transient', diagnostics: `from ${service} (HTTP ${status ?? 'no response'})` },
      ],
    });
  }
  const detail = typeof body === 'string' && body.length > 0 ? `: ${body.slice(0, 500)}` : '';
  const code: IssueCode =
    passStatus === 401 ? 'login' : passStatus === 403 ? 'forbidden' : passStatus === 404 ? 'not-found' : 'transient';
  return new HttpError(
    passStatus,
    operationOutcome(code, `${service} answered HTTP ${status ?? 'no response'}${detail}`),
  );
}

export function isOperationOutcome(value: unknown): value is OperationOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { resourceType?: unknown }).resourceType === 'OperationOutcome' &&
    Array.isArray((value as { issue?: unknown }).issue)
  );
}
