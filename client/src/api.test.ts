import { describe, expect, it } from 'vitest';
import {
  ApiError,
  analysesUrl,
  buildApiHeaders,
  getModelCard,
  getStoredAnalysis,
  historyOf,
  postAnalysis,
  postReview,
  type FetchFn,
} from './api';
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
    // The synchronous answer (RFC 7240): the analysis runs as a job, and the panel waits for it to finish.
    expect(calls[0]?.init?.headers).toMatchObject({ Prefer: 'wait=600' });
  });

  it('when the analysis is still running when the wait is over (202), then the call says it goes on', async () => {
    const { fetch } = recordingFetch(json({ id: 'job-1', state: 'running' }, 202));
    const error = await postAnalysis(session, 'st1', { baseUrl, fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 202, message: expect.stringMatching(/goes on on the server/) as unknown });
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

describe('signing a review', () => {
  const request = {
    diagnosticReport: 'DiagnosticReport/dr1',
    versionId: '2',
    levels: [{ level: 'L4-L5' as const, decision: 'confirm' as const }],
  };

  it('when the review is posted, then it goes to /api/analyses/review with the version the user saw', async () => {
    const signed = { ...result, status: 'final', versionId: '3' };
    const { fetch, calls } = recordingFetch(json(signed));
    const answer = await postReview(session, request, { baseUrl, fetch });
    expect(answer).toMatchObject({ status: 'final', versionId: '3' });
    expect(calls[0]?.url).toBe('http://localhost:3000/api/analyses/review');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(JSON.parse(calls[0]?.init?.body as string)).toEqual(request);
  });

  it('when someone else changed the report (409), then the error is a conflict with the server sentence', async () => {
    const outcome = {
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'conflict', diagnostics: 'Someone else changed this report since you opened it.' },
      ],
    };
    const { fetch } = recordingFetch(json(outcome, 409));
    const error = await postReview(session, request, { baseUrl, fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ isConflict: true, message: 'Someone else changed this report since you opened it.' });
  });

  it('when the stored analysis lists its versions, then malformed entries are dropped and names and times kept', () => {
    expect(
      historyOf([
        { versionId: '1', status: 'preliminary', at: '2026-03-05T09:00:00Z' },
        {
          versionId: '2',
          status: 'final',
          signature: { by: 'Practitioner/p1', display: 'Dr Ada', at: '2026-03-05T10:00:00Z' },
        },
        { status: 'final' },
        'junk',
      ]),
    ).toEqual([
      { versionId: '1', status: 'preliminary', at: '2026-03-05T09:00:00Z' },
      { versionId: '2', status: 'final', by: 'Dr Ada', at: '2026-03-05T10:00:00Z' },
    ]);
    expect(historyOf(undefined)).toBeUndefined();
  });
});

describe('model card', () => {
  it('when the card is on the app server, then its markdown comes back with the session headers', async () => {
    const { fetch, calls } = recordingFetch(
      new Response('# msu-ldh 1.8.0', { headers: { 'Content-Type': 'text/markdown' } }),
    );
    expect(await getModelCard(session, '/api/model/card', { baseUrl, fetch })).toBe('# msu-ldh 1.8.0');
    expect(calls[0]?.url).toBe('http://localhost:3000/api/model/card');
  });

  it('when the card URL is on another server, then the token is not sent there', async () => {
    const { fetch, calls } = recordingFetch(new Response(''));
    await expect(getModelCard(session, 'http://elsewhere.example/card.md', { baseUrl, fetch })).rejects.toThrow(
      'another server',
    );
    expect(calls).toHaveLength(0);
  });
});
