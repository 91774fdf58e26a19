import { describe, expect, it } from 'vitest';
import {
  ApiError,
  analysesUrl,
  buildApiHeaders,
  cancelAnalysisJob,
  getAnalysisJob,
  getModelCard,
  getStoredAnalysis,
  historyOf,
  postAnalysis,
  postReview,
  toAnalysisJob,
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
const jobId = '6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90';

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

  it('when Analyze is posted and the EHR holds the analysis (200), then the findings come back at once', async () => {
    const { fetch, calls } = recordingFetch(json(result));
    const answer = await postAnalysis(session, 'st1', { baseUrl, fetch });
    expect(answer).toEqual({ kind: 'result', result });
    expect(calls[0]?.url).toBe('http://localhost:3000/api/analyses');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(calls[0]?.init?.body).toBe('{"imagingStudy":"ImagingStudy/st1"}');
    // No RFC 7240 wait: the panel follows the job instead of holding the connection.
    expect(calls[0]?.init?.headers).not.toHaveProperty('Prefer');
  });

  it('when the analysis runs as a job (202), then the job comes back, read field by field', async () => {
    const snapshot = {
      id: jobId,
      state: 'running',
      imagingStudy: 'ImagingStudy/st1',
      progress: { stage: 'retrieving', done: 12, total: 40, text: 'Retrieving images 12/40' },
      createdAt: '2025-06-03T09:12:01.114Z',
    };
    const { fetch } = recordingFetch(json(snapshot, 202));
    expect(await postAnalysis(session, 'st1', { baseUrl, fetch })).toEqual({
      kind: 'job',
      job: {
        id: jobId,
        state: 'running',
        progress: { stage: 'retrieving', done: 12, total: 40, text: 'Retrieving images 12/40' },
      },
    });
  });

  it('when a 202 carries no job the app can follow, then the call fails clearly', async () => {
    for (const body of [{ state: 'running' }, { id: '../../x', state: 'running' }, { id: jobId, state: 'asleep' }]) {
      const { fetch } = recordingFetch(json(body, 202));
      await expect(postAnalysis(session, 'st1', { baseUrl, fetch })).rejects.toThrow('did not say how to follow it');
    }
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

describe('analysis jobs', () => {
  it('when a job is read, then GET /api/analyses/jobs/{id} with the session headers; 404 is null', async () => {
    const { fetch, calls } = recordingFetch(json({ id: jobId, state: 'queued', progress: { stage: 'queued' } }));
    expect(await getAnalysisJob(session, jobId, { baseUrl, fetch })).toEqual({
      id: jobId,
      state: 'queued',
      progress: { stage: 'queued', text: '' },
    });
    expect(calls[0]?.url).toBe(`http://localhost:3000/api/analyses/jobs/${jobId}`);
    expect(calls[0]?.init?.method).toBe('GET');
    expect(calls[0]?.init?.headers).toMatchObject({ Authorization: 'Bearer tok-123' });
    const gone = recordingFetch(json({ resourceType: 'OperationOutcome', issue: [] }, 404));
    expect(await getAnalysisJob(session, jobId, { baseUrl, fetch: gone.fetch })).toBeNull();
  });

  it('when a job is cancelled, then DELETE answers the job stopping (202) or cancelled (200)', async () => {
    const stopping = {
      id: jobId,
      state: 'running',
      progress: { stage: 'retrieving', text: 'Stopping: nothing will be written' },
    };
    const { fetch, calls } = recordingFetch(json(stopping, 202));
    expect(await cancelAnalysisJob(session, jobId, { baseUrl, fetch })).toMatchObject({
      state: 'running',
      progress: { text: 'Stopping: nothing will be written' },
    });
    expect(calls[0]?.init?.method).toBe('DELETE');
    expect(calls[0]?.url).toBe(`http://localhost:3000/api/analyses/jobs/${jobId}`);
  });

  it('when the job is already writing (409), then the cancel fails with the server’s sentence', async () => {
    const sentence =
      'The analysis is already writing its results to the EHR and can no longer be cancelled: a write is never stopped half-way.';
    const { fetch } = recordingFetch(
      json(
        { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'conflict', diagnostics: sentence }] },
        409,
      ),
    );
    const error = await cancelAnalysisJob(session, jobId, { baseUrl, fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ isConflict: true, message: sentence });
  });

  it('when a snapshot is read, then a result is normalized as the synchronous answer is, and junk is refused', () => {
    const findings: Partial<ReturnType<typeof someFindings>> = someFindings();
    delete findings.warnings;
    const job = toAnalysisJob({
      id: jobId,
      state: 'completed',
      progress: { stage: 'writing-fhir', text: 'Done', done: -1 },
      result: { ...result, findings },
    });
    expect(job?.result?.findings.warnings).toEqual([]);
    expect(job?.progress).toEqual({ stage: 'writing-fhir', text: 'Done' });
    expect(
      toAnalysisJob({ id: jobId, state: 'failed', progress: {}, error: { status: 422, outcome: { a: 1 } } })?.error,
    ).toEqual({ status: 422, outcome: { a: 1 } });
    expect(toAnalysisJob(null)).toBeUndefined();
    expect(toAnalysisJob('<html>')).toBeUndefined();
    expect(toAnalysisJob({ id: 'a/b', state: 'running' })).toBeUndefined();
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
