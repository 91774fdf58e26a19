import type { OperationOutcome } from 'fhir/r4';

export function isOperationOutcome(body: unknown): body is OperationOutcome {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { resourceType?: unknown }).resourceType === 'OperationOutcome'
  );
}

/**
 * `text` as something a clinician can read, or undefined when it is not a sentence: JSON or markup gives nothing;
 * otherwise the first line, with every URL cut to its host name (no paths, ids or tokens on screen).
 */
export function toReadableSentence(text: string | undefined): string | undefined {
  const line = text?.trim().split('\n')[0]?.trim();
  if (!line || /^[{[<]/.test(line)) return undefined;
  return line.replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (url) => {
    try {
      return new URL(url).host;
    } catch {
      return '(an address)';
    }
  });
}

/**
 * The first issue's text as a readable sentence: `issue[0].diagnostics`, then `details.text`, then the first
 * coding's display. The API puts its sentence for the clinician first (server/src/http/http-error.ts `upstream`).
 */
export function operationOutcomeToSentence(body: unknown): string | undefined {
  if (!isOperationOutcome(body)) return undefined;
  const issue = body.issue[0];
  return toReadableSentence(
    issue?.diagnostics?.trim() || issue?.details?.text?.trim() || issue?.details?.coding?.[0]?.display?.trim(),
  );
}

/**
 * The message a clinician sees for a failed API call. Our API answers errors as FHIR OperationOutcome
 * (docs/architecture.md §Where each concern lives, "Errors"): its first issue's text, as a sentence; else the HTTP
 * status (a proxy's HTML page, an empty body, an issue that is JSON rather than words).
 */
export function errorBodyToMessage(body: unknown, status: number, statusText = ''): string {
  const sentence = operationOutcomeToSentence(body);
  if (sentence) return sentence;
  const reason = statusText.trim() ? ` ${statusText.trim()}` : '';
  return `The ldh-cds server answered HTTP ${status}${reason} without an explanation.`;
}

/** The response header in which the app server names the request (server/src/http/security.ts). */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * The app server's id of a failed request, for the user to quote to support: its `X-Request-Id` header, else the
 * `Reference: <id>` issue its OperationOutcome ends with. Undefined from anything else (a proxy's page).
 */
export function requestReferenceOf(headers: Headers, body: unknown): string | undefined {
  const fromHeader = headers.get(REQUEST_ID_HEADER)?.trim();
  const fromOutcome = isOperationOutcome(body)
    ? body.issue.map((issue) => /^Reference: (\S+)$/.exec(issue.diagnostics ?? '')?.[1]).find(Boolean)
    : undefined;
  const reference = fromHeader || fromOutcome;
  return reference && /^[\w-]{1,64}$/.test(reference) ? reference : undefined;
}
