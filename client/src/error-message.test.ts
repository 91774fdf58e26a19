import HttpError from 'fhirclient/lib/HttpError';
import { describe, expect, it } from 'vitest';
import { ApiError, postAnalysis, type FetchFn } from './api';
import { errorToMessage } from './error-message';
import { SESSION_LOST_MESSAGE } from './smart-scope';

const unavailable = {
  resourceType: 'OperationOutcome',
  issue: [
    { severity: 'error', code: 'transient', diagnostics: 'FHIR server temporarily unavailable (fault injection)' },
  ],
};

/** fhirclient's own error for a failed FHIR request, message built exactly as fhirclient builds it. */
async function fhirclientError(status: number, body: unknown): Promise<HttpError> {
  const response = new Response(JSON.stringify(body), {
    status,
    statusText: 'Service Unavailable',
    headers: { 'Content-Type': 'application/fhir+json' },
  });
  Object.defineProperty(response, 'url', { value: 'http://ehr.example/fhir/ImagingStudy?patient=Patient/p1' });
  return new HttpError(response).parse();
}

describe('what the panel shows for a failure', () => {
  it("when the EHR's FHIR server answers the browser 503, then a sentence from its OperationOutcome, no JSON or URL", async () => {
    const error = await fhirclientError(503, unavailable);
    expect(error.message).toContain('"resourceType"'); // fhirclient's own message carries the JSON and the URL …
    const message = errorToMessage(error, "load the patient's studies");
    expect(message).toBe(
      "Could not load the patient's studies: the EHR's FHIR server is unavailable (HTTP 503): FHIR server temporarily unavailable (fault injection). Try again in a few minutes; call support if this keeps happening.",
    );
    expect(message).not.toMatch(/[{}]|https?:\/\//); // … the clinician sees neither
  });

  it('when the FHIR server answers the browser 401, then the clinician is told to relaunch', async () => {
    expect(errorToMessage(await fhirclientError(401, unavailable), 'load')).toBe(SESSION_LOST_MESSAGE);
  });

  it("when the API answers an upstream failure, then the panel shows the first issue's sentence only", async () => {
    const body = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'transient',
          diagnostics:
            "The EHR's FHIR server is unavailable (HTTP 503) after 4 attempts, while ldh-cds was saving the results. Nothing was saved. Try again in a few minutes.",
        },
        ...unavailable.issue,
        { severity: 'information', code: 'informational', diagnostics: 'from FHIR server (HTTP 503)' },
      ],
    };
    const fetch: FetchFn = () => Promise.resolve(new Response(JSON.stringify(body), { status: 502 }));
    const error = await postAnalysis({ accessToken: 't', fhirServer: 'http://ehr.example/fhir' }, 's1', {
      baseUrl: 'http://app.example/',
      fetch,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(errorToMessage(error, 'analyze the study')).toBe(body.issue[0]?.diagnostics);
  });

  it('when the API names the request (X-Request-Id, Reference issue), then the panel shows it for support', async () => {
    const reference = '3f2c9a4e-8d1b-4c7a-9e0f-1a2b3c4d5e6f';
    const body = {
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'not-found', diagnostics: 'No stored analysis for ImagingStudy/s1.' },
        { severity: 'information', code: 'informational', diagnostics: `Reference: ${reference}` },
      ],
    };
    const answer =
      (headers: Record<string, string>): FetchFn =>
      () =>
        Promise.resolve(new Response(JSON.stringify(body), { status: 404, headers }));
    const session = { accessToken: 't', fhirServer: 'http://ehr.example/fhir' };
    for (const headers of [{ 'X-Request-Id': reference }, {}] as Record<string, string>[]) {
      const error = await postAnalysis(session, 's1', { baseUrl: 'http://app.example/', fetch: answer(headers) }).catch(
        (e: unknown) => e,
      );
      expect((error as ApiError).reference).toBe(reference);
      expect(errorToMessage(error, 'analyze the study')).toBe(
        `No stored analysis for ImagingStudy/s1. Reference for support: ${reference}.`,
      );
    }
  });

  it('when an error message is several lines with a URL, then only its first line shows, the URL cut to its host', () => {
    const error = new Error('Token endpoint https://auth.example/token?code=abc failed\n\n{"error":"invalid_grant"}');
    expect(errorToMessage(error, 'refresh the session')).toBe(
      'Could not refresh the session: Token endpoint auth.example failed',
    );
  });
});
