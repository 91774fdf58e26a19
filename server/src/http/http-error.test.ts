import type { OperationOutcome } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { createFhirClient } from '../fhir/fhir-client';
import { toPipelineError, type PipelineError } from '../pipeline/pipeline-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { upstream } from './http-error';
import { pipelineErrorToHttpError } from './pipeline-errors';

const theirOutcome: OperationOutcome = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'transient',
      diagnostics: 'Backend pool exhausted at http://ehr.example/fhir/Observation?_id=123',
    },
  ],
};

/** What the panel shows: the first issue's text. */
const shown = (outcome: OperationOutcome): string => outcome.issue[0]?.diagnostics ?? '';

describe('upstream(): the API error for an upstream failure', () => {
  it('when the FHIR server answered 503, then 502 with a first issue a clinician can read, then their issues', () => {
    const error = upstream('FHIR server', 503, theirOutcome);
    expect(error.status).toBe(502);
    expect(shown(error.outcome)).toBe(
      "The EHR's FHIR server is unavailable (HTTP 503). Try again in a few minutes; call support if this keeps happening.",
    );
    expect(shown(error.outcome)).not.toMatch(/[{}]|https?:\/\//);
    expect(error.outcome.issue[0]).toMatchObject({ severity: 'error', code: 'transient' });
    expect(error.outcome.issue[1]).toEqual(theirOutcome.issue[0]);
    expect(error.outcome.issue[2]?.diagnostics).toBe('from FHIR server (HTTP 503)');
  });

  it('when the FHIR client wrote a summary, then it is the first issue and Retry-After is passed on', () => {
    const summary =
      "The EHR's FHIR server is unavailable (HTTP 503) after 4 attempts, while ldh-cds was saving the results. Nothing was saved. Try again in a few minutes.";
    const error = upstream('FHIR server', 503, theirOutcome, { summary, retryAfterSeconds: 60 });
    expect(shown(error.outcome)).toBe(summary);
    expect(error.headers['Retry-After']).toBe('60');
  });

  it('when the upstream answered an HTML page, then the page stays out of the first issue', () => {
    const error = upstream('FHIR server', 504, '<html><body>Gateway Timeout</body></html>');
    expect(error.status).toBe(502);
    expect(shown(error.outcome)).toBe(
      "The EHR's FHIR server is unavailable (HTTP 504). Try again in a few minutes; call support if this keeps happening.",
    );
    expect(error.outcome.issue[1]?.diagnostics).toContain('Gateway Timeout');
  });

  it('when the upstream did not answer, then 502 says it did not answer', () => {
    const error = upstream('DICOMweb server (DICOMweb retrieve frames failed: socket hang up)', undefined, undefined);
    expect(error.status).toBe(502);
    expect(shown(error.outcome)).toBe(
      'The image archive (DICOMweb server) did not answer. Try again in a few minutes; call support if this keeps happening.',
    );
  });

  it('when the upstream answered 401, then 401 says to re-launch from the chart, whatever the summary', () => {
    const error = upstream('FHIR server', 401, theirOutcome, { summary: 'something else' });
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toBe('Bearer');
    expect(error.outcome.issue[0]).toMatchObject({
      code: 'login',
      diagnostics: 'Your EHR session has expired or was revoked — re-launch ldh-cds from the chart.',
    });
  });

  it('when the upstream answered 403, then 403 names the missing permission (scope)', () => {
    const error = upstream('FHIR server', 403, undefined);
    expect(error.status).toBe(403);
    expect(error.outcome.issue[0]?.code).toBe('forbidden');
    expect(shown(error.outcome)).toContain('lacks the permission (SMART scope)');
    expect(shown(error.outcome)).toContain('Re-launch ldh-cds from the chart');
  });

  it('when the upstream answered 404, then 404 passes through and their OperationOutcome is kept', () => {
    const notFound: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', diagnostics: 'ImagingStudy/nope not found' }],
    };
    const error = upstream('FHIR server', 404, notFound);
    expect(error.status).toBe(404);
    expect(error.outcome.issue[0]?.code).toBe('not-found');
    expect(error.outcome.issue[1]).toEqual(notFound.issue[0]);
  });
});

describe('a pipeline failure of the FHIR client, as the API answers it', () => {
  it("when the EHR's FHIR server keeps answering 503, then the API's first issue is the client's sentence", async () => {
    const unavailable: typeof fetch = () =>
      Promise.resolve(
        new Response(JSON.stringify(theirOutcome), {
          status: 503,
          headers: { 'Content-Type': 'application/fhir+json', 'Retry-After': '1' },
        }),
      );
    const client = createFhirClient('http://ehr.example/fhir', 'token-abcdefgh', {
      fetch: unavailable,
      sleep: () => Promise.resolve(),
    });
    const cause = await client
      .transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] })
      .catch((e: unknown) => e);
    expect(cause).toBeInstanceOf(UpstreamRequestError);
    const error = pipelineErrorToHttpError(toPipelineError(cause) as PipelineError);
    expect(error.status).toBe(502);
    expect(shown(error.outcome)).toBe(
      "The EHR's FHIR server is unavailable (HTTP 503) after 4 attempts, while ldh-cds was saving the results: Backend pool exhausted at ehr.example. Nothing was saved. Try again in a few minutes; call support if this keeps happening.",
    );
    expect(shown(error.outcome)).not.toMatch(/[{}]|\/fhir|token-/);
    expect(error.headers['Retry-After']).toBe('1');
    expect(error.outcome.issue[1]).toEqual(theirOutcome.issue[0]);
  });
});
