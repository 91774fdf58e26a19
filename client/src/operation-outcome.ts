import type { OperationOutcome } from 'fhir/r4';

export function isOperationOutcome(body: unknown): body is OperationOutcome {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { resourceType?: unknown }).resourceType === 'OperationOutcome'
  );
}

/**
 * The message a clinician sees for a failed API call. Our API answers errors as FHIR OperationOutcome
 * (docs/architecture.md §Where each concern lives, "Errors"): prefer `issue[0].diagnostics`, then
 * `issue[0].details.text`; fall back to the HTTP status when the body is something else (a proxy's HTML page, empty).
 */
export function errorBodyToMessage(body: unknown, status: number, statusText = ''): string {
  if (isOperationOutcome(body)) {
    const issue = body.issue[0];
    const text =
      issue?.diagnostics?.trim() || issue?.details?.text?.trim() || issue?.details?.coding?.[0]?.display?.trim();
    if (text) return text;
  }
  const reason = statusText.trim() ? ` ${statusText.trim()}` : '';
  return `The ldh-cds server answered HTTP ${status}${reason} without an explanation.`;
}
