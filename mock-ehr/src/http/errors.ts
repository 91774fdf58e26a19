/**
 * The mock EHR's one error type. Every route throws `HttpError`; the terminal handler in `error-handler.ts` renders
 * it in the wire format of the protocol that was called:
 * - FHIR and DICOMweb: an OperationOutcome (FHIR R4 http.html "Operation Outcomes"; DICOMweb has no error body of
 *   its own, so we reuse the FHIR one to name what was wrong),
 * - OAuth endpoints: RFC 6749 §5.2 error JSON,
 * - browser pages: a small HTML page.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** RFC 6749 §4.1.2.1 and §5.2 error codes (plus SMART's `invalid_scope` usage). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error';

export type ErrorBody =
  | { kind: 'outcome'; outcome: OperationOutcome }
  | { kind: 'oauth'; error: OAuthErrorCode; description: string }
  | { kind: 'html'; title: string; description: string };

export class HttpError extends Error {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, body: ErrorBody, headers: Record<string, string> = {}) {
    super(body.kind === 'outcome' ? outcomeText(body.outcome) : body.description);
    this.name = 'HttpError';
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

type IssueType = OperationOutcomeIssue['code'];

export function buildOutcome(
  code: IssueType,
  text: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function outcomeText(outcome: OperationOutcome): string {
  return outcome.issue.map((issue) => issue.details?.text ?? issue.diagnostics ?? issue.code).join('; ');
}

export function badRequest(text: string): HttpError {
  return new HttpError(400, { kind: 'outcome', outcome: buildOutcome('invalid', text) });
}

export function notFound(text: string): HttpError {
  return new HttpError(404, { kind: 'outcome', outcome: buildOutcome('not-found', text) });
}

export function notAcceptable(text: string): HttpError {
  return new HttpError(406, { kind: 'outcome', outcome: buildOutcome('not-supported', text) });
}

export function forbidden(text: string): HttpError {
  return new HttpError(403, { kind: 'outcome', outcome: buildOutcome('forbidden', text) });
}

/**
 * 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). `error` is omitted when the request carried no
 * token at all (§3.1: "the resource server SHOULD NOT include an error code").
 */
export function unauthorized(text: string, bearerError?: 'invalid_token' | 'invalid_request'): HttpError {
  const challenge = bearerError
    ? `Bearer realm="mock-ehr", error="${bearerError}", error_description="${text.replace(/"/g, "'")}"`
    : 'Bearer realm="mock-ehr"';
  return new HttpError(
    401,
    { kind: 'outcome', outcome: buildOutcome('login', text) },
    { 'WWW-Authenticate': challenge },
  );
}

/** An error from the FHIR engine that already is an OperationOutcome (keeps its status). */
export function outcomeError(status: number, outcome: OperationOutcome): HttpError {
  return new HttpError(status, { kind: 'outcome', outcome });
}

/** RFC 6749 §5.2: 400 for everything except `invalid_client`, which is 401. */
export function oauthError(error: OAuthErrorCode, description: string): HttpError {
  return new HttpError(error === 'invalid_client' ? 401 : 400, { kind: 'oauth', error, description });
}

/** A page for the browser, used when we must not redirect (RFC 6749 §4.1.2.1: bad client_id or redirect_uri). */
export function errorPage(status: number, title: string, description: string): HttpError {
  return new HttpError(status, { kind: 'html', title, description });
}
