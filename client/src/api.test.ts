import { describe, expect, it } from 'vitest';
import { ApiError, analysesUrl, buildApiHeaders, getStoredAnalysis, postAnalysis, type FetchFn } from './api';
import { someFindings } from './test-factories';

const session = { accessToken: 'tok-123', fhirServer: 'http://localhost:4000/fhir' };
const baseUrl = 'http://localhost:3000/index.html?code=x&state=y';

function recordingFetch(response: Response): {
  fetch: FetchFn;
  calls: { url: string; init: RequestInit | undefined }[];
} {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetch: FetchFn = (url, init) => {
    calls.push({ url, init });
    return Promise.resolve(response);
  };
  return { fetch, calls };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const result = { findings: someFindings(), diagnosticReport: 'DiagnosticReport/dr1', observations: ['Observation/o1'] };

describe('app server API', () => {
  it('when the app is served under a page URL, then the API is /api/analyses on the same origin', () => {
    expect(analysesUrl(baseUrl)).toBe('http://localhost:3000/api/analyses');
    expect(analysesUrl(baseUrl, 'st 1')).toBe('http://localhost:3000/api/analyses?imagingStudy=ImagingStudy%2Fst+1');
  });

  it('sends the SMART token and the FHIR base in headers', () => {
    expect(buildApiHeaders(session, true)).toEqual({
      Accept: 'application/json',
      Authorization: 'Bearer tok-123',
      'X-FHIR-Server': 'http://localhost:4000/fhir',
      'Content-Type': 'application/json',
    });
  });

  it('when Analyze is posted, then the body names the ImagingStudy reference and the findings come back', async () => {
    const { fetch, calls } = recordingFetch(json(result));
    const answer = await postAnalysis(session, 'st1', { baseUrl, fetch });
    expect(answer).toEqual(result);
    expect(calls[0]?.url).toBe('http://localhost:3000/api/analyses');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(calls[0]?.init?.body).toBe('{"imagingStudy":"ImagingStudy/st1"}');
  });

  it('when the server answers an OperationOutcome, then an ApiError carries its status and diagnostics', async () => {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'X-FHIR-Server is not trusted' }],
    };
    const { fetch } = recordingFetch(json(outcome, 403));
    const error = await postAnalysis(session, 'st1', { baseUrl, fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, message: 'X-FHIR-Server is not trusted' });
  });

  it('when the server answers 200 with something that is not findings, then the call fails clearly', async () => {
    const { fetch } = recordingFetch(json({ ok: true }));
    await expect(postAnalysis(session, 'st1', { baseUrl, fetch })).rejects.toThrow('not with findings');
  });

  it('when no analysis is stored (404), then the lookup gives null', async () => {
    const { fetch, calls } = recordingFetch(json({ resourceType: 'OperationOutcome', issue: [] }, 404));
    expect(await getStoredAnalysis(session, 'st1', { baseUrl, fetch })).toBeNull();
    expect(calls[0]?.init?.method).toBe('GET');
    expect(calls[0]?.url).toBe('http://localhost:3000/api/analyses?imagingStudy=ImagingStudy%2Fst1');
  });

  it('when a stored analysis has no warnings field, then warnings default to an empty list', async () => {
    const findings: Partial<ReturnType<typeof someFindings>> = someFindings();
    delete findings.warnings;
    const { fetch } = recordingFetch(json({ ...result, findings }));
    const stored = await getStoredAnalysis(session, 'st1', { baseUrl, fetch });
    expect(stored?.findings.warnings).toEqual([]);
  });

  it('when the token is rejected (401), then the error says so', async () => {
    const { fetch } = recordingFetch(
      json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }, 401),
    );
    const error = await getStoredAnalysis(session, 'st1', { baseUrl, fetch }).catch((e: unknown) => e);
    expect(error instanceof ApiError && error.isUnauthorized).toBe(true);
  });
});
