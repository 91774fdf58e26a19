import { describe, expect, it } from 'vitest';
import { ApiError, type AnalysisJob, type FetchFn } from './api';
import { jobOutcome, jobPercent, reconnectableJob, stageAnnouncement } from './analysis-job';
import { errorToMessage, isSessionLost } from './error-message';
import { analysisJobKey, rememberAnalysisJob, type KeyValueStorage } from './session-storage';
import { someFindings } from './test-factories';

const JOB_ID = '6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90';

function aJob(overrides: Partial<AnalysisJob> = {}): AnalysisJob {
  return {
    id: JOB_ID,
    state: 'running',
    progress: { stage: 'retrieving', done: 12, total: 40, text: 'Retrieving images 12/40' },
    ...overrides,
  };
}

function memoryStorage(): KeyValueStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => {
      map.set(key, value);
    },
    removeItem: (key) => {
      map.delete(key);
    },
  };
}

describe('the progress bar', () => {
  it('moves forward through the stages, and within a counted stage with its count', () => {
    const at = (stage: string, done?: number, total?: number) =>
      jobPercent(
        aJob({
          progress: {
            stage,
            text: stage,
            ...(done !== undefined ? { done } : {}),
            ...(total !== undefined ? { total } : {}),
          },
        }),
      );
    const sequence = [
      at('queued'),
      at('finding-series'),
      at('retrieving', 0, 40),
      at('retrieving', 12, 40),
      at('retrieving', 40, 40),
      at('decoding', 20, 40),
      at('inferring', 8, 40),
      at('inferring', 40, 40),
      at('writing-sr'),
      at('writing-fhir'),
    ];
    expect(sequence).toEqual([0, 2, 5, 17, 45, 53, 66, 90, 90, 94]);
    expect(jobPercent(aJob({ state: 'completed' }))).toBe(100);
    // A count past its total, or a total of 0, stays inside the stage.
    expect(at('retrieving', 50, 40)).toBe(45);
    expect(at('retrieving', 0, 0)).toBe(5);
    // A stage this client does not know: no value (an indeterminate bar), never a wrong one.
    expect(at('re-reading-the-moon')).toBeUndefined();
  });

  it('announces each stage once, without its count', () => {
    expect(stageAnnouncement({ text: 'Retrieving images 12/40' })).toBe('Retrieving images');
    expect(stageAnnouncement({ text: 'Writing the results to the EHR' })).toBe('Writing the results to the EHR');
  });
});

describe('a finished job', () => {
  it('when it completed, then its result is the answer, as the synchronous API gave it', () => {
    const result = { findings: someFindings(), diagnosticReport: 'DiagnosticReport/dr1', observations: [] };
    expect(jobOutcome(aJob({ state: 'completed', result }))).toEqual({ kind: 'completed', result });
  });

  it('when it failed, then the OperationOutcome’s first issue is the sentence, with the reference for support', () => {
    const job = aJob({
      state: 'failed',
      error: {
        status: 422,
        outcome: {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'not-found',
              diagnostics: 'This study has no axial T2 series of the lumbar spine.',
            },
            { severity: 'information', code: 'informational', diagnostics: 'Reference: req-42' },
          ],
        },
      },
    });
    const outcome = jobOutcome(job);
    expect(outcome?.kind).toBe('failed');
    const error = outcome?.kind === 'failed' ? outcome.error : undefined;
    expect(error).toBeInstanceOf(ApiError);
    expect(error?.status).toBe(422);
    expect(errorToMessage(error, 'analyze the study')).toBe(
      'This study has no axial T2 series of the lumbar spine. Reference for support: req-42.',
    );
  });

  it('when it failed because the token was refused, then the panel offers Re-authorize', () => {
    const outcome = jobOutcome(aJob({ state: 'failed', error: { status: 401, outcome: undefined } }));
    expect(outcome?.kind === 'failed' && isSessionLost(outcome.error)).toBe(true);
  });

  it('when it was cancelled, then it says so; while it runs, there is no outcome', () => {
    expect(jobOutcome(aJob({ state: 'cancelled' }))).toEqual({ kind: 'cancelled' });
    expect(jobOutcome(aJob())).toBeUndefined();
    expect(jobOutcome(aJob({ state: 'queued' }))).toBeUndefined();
  });
});

describe('reconnecting after a reload', () => {
  const session = { accessToken: 'tok-1', fhirServer: 'http://ehr.example/fhir' };
  const baseUrl = 'http://app.example/index.html';
  const key = analysisJobKey(session.fhirServer, 'st1');
  const answering =
    (status: number, body: unknown, calls: string[] = []): FetchFn =>
    (url) => {
      calls.push(url);
      return Promise.resolve(new Response(JSON.stringify(body), { status }));
    };

  it('when the tab remembers a job that still runs, then it is followed, from its snapshot', async () => {
    const storage = memoryStorage();
    rememberAnalysisJob(storage, key, JOB_ID);
    const calls: string[] = [];
    const reconnect = await reconnectableJob({
      storage,
      session,
      studyId: 'st1',
      baseUrl,
      fetch: answering(200, aJob(), calls),
    });
    expect(reconnect).toEqual({ kind: 'follow', jobId: JOB_ID, job: aJob() });
    expect(calls).toEqual([`http://app.example/api/analyses/jobs/${JOB_ID}`]);
    expect(storage.map.get(key)).toBe(JOB_ID);
  });

  it('when the server does not know the job (404) or it has finished, then it is forgotten', async () => {
    for (const fetch of [answering(404, {}), answering(200, aJob({ state: 'completed' }))]) {
      const storage = memoryStorage();
      rememberAnalysisJob(storage, key, JOB_ID);
      expect(await reconnectableJob({ storage, session, studyId: 'st1', baseUrl, fetch })).toEqual({ kind: 'none' });
      expect(storage.map.size).toBe(0);
    }
  });

  it('when the server cannot be reached, then the job is followed anyway (the follow retries) and kept', async () => {
    const storage = memoryStorage();
    rememberAnalysisJob(storage, key, JOB_ID);
    const unreachable: FetchFn = () => Promise.reject(new TypeError('fetch failed'));
    expect(await reconnectableJob({ storage, session, studyId: 'st1', baseUrl, fetch: unreachable })).toEqual({
      kind: 'follow',
      jobId: JOB_ID,
    });
    expect(storage.map.get(key)).toBe(JOB_ID);
  });

  it('when the token is refused, then the error comes out (the panel offers Re-authorize) and the job is kept', async () => {
    const storage = memoryStorage();
    rememberAnalysisJob(storage, key, JOB_ID);
    const error = await reconnectableJob({
      storage,
      session,
      studyId: 'st1',
      baseUrl,
      fetch: answering(401, { resourceType: 'OperationOutcome', issue: [] }),
    }).catch((e: unknown) => e);
    expect(isSessionLost(error)).toBe(true);
    expect(storage.map.get(key)).toBe(JOB_ID);
  });

  it('when the tab remembers nothing for this study (or another EHR’s), then nothing is asked', async () => {
    const storage = memoryStorage();
    rememberAnalysisJob(storage, analysisJobKey('http://other-ehr.example/fhir', 'st1'), JOB_ID);
    rememberAnalysisJob(storage, analysisJobKey(session.fhirServer, 'st2'), JOB_ID);
    const calls: string[] = [];
    expect(
      await reconnectableJob({ storage, session, studyId: 'st1', baseUrl, fetch: answering(200, aJob(), calls) }),
    ).toEqual({ kind: 'none' });
    expect(calls).toEqual([]);
  });
});
