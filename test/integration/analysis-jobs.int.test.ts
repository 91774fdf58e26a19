/**
 * Analyses as jobs (issue 23), against the real mock EHR and app server with the tiny model: POST /api/analyses
 * answers 202 with the job, its Server-Sent Events follow the stages in order to the result, a cancel during
 * retrieval stops it at once and writes nothing (no DiagnosticReport, no SR in the PACS), the same study asked for
 * twice while it runs is one job and one report, a job is nobody else's business (404), `Prefer: wait` answers as the
 * API did before jobs, and a full queue is 503 with Retry-After.
 *
 * The mock EHR's slow-DICOMweb fault (`faults.dicomWebDelayMs`, as `/faults` sets it) makes each analysis last long
 * enough to watch and to cancel, deterministically. One app server runs one analysis at a time and queues one more
 * (MAX_CONCURRENT_ANALYSES = 1, MAX_QUEUED_ANALYSES = 1); the tests run in order, each with its own patient's study.
 */
import type { DiagnosticReport } from '@medplum/fhirtypes';
import type { OperationOutcome } from 'fhir/r4';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import type { AnalysisJobSnapshot } from '../../server/src/jobs/analysis-jobs';
import { ANALYSIS_STAGES, type AnalysisStage } from '../../server/src/pipeline/analysis-progress';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';
import { launchAndAuthorize } from '../support/smart-launch';

let sandbox: Sandbox;
/** The first test's job, completed; and the job two requests shared. */
let completedJobId = '';
let sharedJobId = '';

beforeAll(async () => {
  sandbox = await startSandbox({
    patientCount: 6,
    generateStudy: generatePhantomStudy,
    logger: pino({ level: 'silent' }),
    appEnv: {
      MODEL_DIR: TINY_MODEL_DIR,
      SR_STOW: 'true',
      LOG_LEVEL: 'silent',
      MAX_CONCURRENT_ANALYSES: '1',
      MAX_QUEUED_ANALYSES: '1',
      MAX_CONCURRENT_ANALYSES_PER_USER: '10',
    },
  });
}, 180_000);

afterEach(() => {
  sandbox.ehr.faults.dicomWebDelayMs = 0;
});

afterAll(async () => {
  await sandbox.close();
});

const patient = (index: number) => seededPatient(sandbox, index);
const tokenOf = (index: number) => appTokenFor(sandbox, patient(index).patientId);

const headers = (token: string, extra: Record<string, string> = {}) => ({
  Authorization: `Bearer ${token}`,
  'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
  ...extra,
});

/** Any body the API answers, as the tests read it: a job, an analysis, or an OperationOutcome. */
type Body = AnalysisJobSnapshot &
  OperationOutcome & { findings: { levels: unknown[] }; diagnosticReport: string; created: boolean };

interface Answer {
  status: number;
  headers: Headers;
  body: Body;
}

async function api(method: string, path: string, token: string, extra: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(`${sandbox.app.url}${path}`, {
    method,
    headers: headers(token, body === undefined ? extra : { ...extra, 'Content-Type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Body } satisfies Answer;
}

const analyze = (index: number, token: string, extra: Record<string, string> = {}) =>
  api('POST', '/api/analyses', token, extra, { imagingStudy: `ImagingStudy/${patient(index).imagingStudyId}` });
const jobOf = (id: string, token: string) => api('GET', `/api/analyses/jobs/${id}`, token);
const cancel = (id: string, token: string) => api('DELETE', `/api/analyses/jobs/${id}`, token);

interface StreamEvent {
  id: string | undefined;
  event: string;
  snapshot: AnalysisJobSnapshot;
  /** When it arrived (performance.now()). */
  at: number;
}

/**
 * A job's event stream as the browser client will read it (fetch streaming, the token in the header), every event
 * with the time it arrived, until the server ends the stream; `onEvent` sees each as it comes.
 */
async function followEvents(id: string, token: string, onEvent: (event: StreamEvent) => void = () => undefined) {
  const response = await fetch(`${sandbox.app.url}/api/analyses/jobs/${id}/events`, { headers: headers(token) });
  const events: StreamEvent[] = [];
  let raw = '';
  let pending = '';
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  if (!reader) throw new Error('the events answer has no body');
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    raw += text;
    pending += text;
    let end: number;
    while ((end = pending.indexOf('\n\n')) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        fields.set(line.slice(0, colon), (fields.get(line.slice(0, colon)) ?? '') + line.slice(colon + 2));
      }
      const data = fields.get('data');
      if (data === undefined) continue;
      const event = {
        id: fields.get('id'),
        event: fields.get('event') ?? 'message',
        snapshot: JSON.parse(data) as AnalysisJobSnapshot,
        at: performance.now(),
      };
      events.push(event);
      onEvent(event);
    }
  }
  return { response, events, raw };
}

/** The DiagnosticReports the EHR holds for this ImagingStudy. */
async function reportsOf(index: number): Promise<DiagnosticReport[]> {
  const reports = await sandbox.ehr.repo.searchResources<DiagnosticReport>({
    resourceType: 'DiagnosticReport',
    count: 1000,
  });
  return reports.filter((report) =>
    report.imagingStudy?.some((ref) => ref.reference === `ImagingStudy/${patient(index).imagingStudyId}`),
  );
}

/** The series the PACS holds for this patient's study (an SR stored by STOW-RS adds one). */
const seriesInPacs = (index: number) => sandbox.ehr.dicomStore.getStudy(patient(index).studyInstanceUid).series.size;

const firstIssue = (body: unknown) => (body as OperationOutcome).issue[0]?.diagnostics ?? '';

describe('POST /api/analyses without waiting, and the job’s events', () => {
  it('when a study is analyzed, then 202 with Location and the job; its events go finding-series → retrieving n/N … → inferring … → writing → completed, with the result’s references, at most 10 a second', async () => {
    // Slow enough for the stream to see every stage: each DICOMweb answer 150 ms late.
    sandbox.ehr.faults.dicomWebDelayMs = 150;
    const token = await tokenOf(0);
    const seriesBefore = seriesInPacs(0);
    const posted = await analyze(0, token);
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    expect(posted.headers.get('location')).toBe(`/api/analyses/jobs/${posted.body.id}`);
    expect(posted.body).toMatchObject({
      state: expect.stringMatching(/^(queued|running)$/) as unknown,
      imagingStudy: `ImagingStudy/${patient(0).imagingStudyId}`,
      model: { id: 'msu-ldh-phantom', version: '0.1.0' },
    });
    expect(posted.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.stringify(posted.body)).not.toContain(token);

    completedJobId = posted.body.id;
    const { response, events, raw } = await followEvents(posted.body.id, token);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(raw).toMatch(/^retry: \d+\n\n/);
    expect(events[0]?.event).toBe('snapshot');
    expect(events.slice(1, -1).every((event) => event.event === 'progress')).toBe(true);
    const last = events.at(-1);
    expect(last?.event).toBe('completed');
    expect(events.filter((event) => ['completed', 'failed', 'cancelled'].includes(event.event))).toHaveLength(1);
    // Every event has an id, and they count up.
    const ids = events.map((event) => Number(event.id));
    expect(ids.every(Number.isInteger)).toBe(true);
    expect(ids.slice(1)).toEqual([...ids.slice(1)].sort((a, b) => a - b));

    const running = events.filter((event) => event.snapshot.state === 'running');
    const stages = running
      .map((event) => event.snapshot.progress.stage)
      .filter((stage, i, all) => stage !== all[i - 1]);
    expect(stages).toEqual(['finding-series', 'retrieving', 'decoding', 'inferring', 'writing-sr', 'writing-fhir']);
    const order = (stage: AnalysisStage) => ANALYSIS_STAGES.indexOf(stage);
    expect(stages.map(order)).toEqual([...stages.map(order)].sort((a, b) => a - b));
    const retrieving = running.filter((event) => event.snapshot.progress.stage === 'retrieving');
    const retrieved = retrieving.map((event) => event.snapshot.progress.done ?? -1);
    expect(retrieved).toEqual([...retrieved].sort((a, b) => a - b));
    const total = retrieving[0]?.snapshot.progress.total ?? 0;
    expect(total).toBeGreaterThan(0);
    expect(retrieved.at(-1)).toBe(total);
    expect(retrieving.at(-1)?.snapshot.progress.text).toBe(`Retrieving images ${total}/${total}`);
    expect(running.find((event) => event.snapshot.progress.stage === 'writing-fhir')?.snapshot.progress.text).toBe(
      'Writing the results to the EHR',
    );
    // At most 10 events in any second.
    for (const event of events) {
      // (a window a little under a second: arrival may bunch what was written 100 ms apart)
      expect(events.filter((other) => other.at >= event.at && other.at < event.at + 950).length).toBeLessThanOrEqual(
        10,
      );
    }

    const result = last?.snapshot.result;
    expect(result?.created).toBe(true);
    expect(result?.diagnosticReport).toMatch(/^DiagnosticReport\//);
    expect(result?.observations.length).toBeGreaterThan(0);
    const reports = await reportsOf(0);
    expect(reports.map((report) => `DiagnosticReport/${report.id ?? ''}`)).toEqual([result?.diagnosticReport]);
    expect(seriesInPacs(0)).toBe(seriesBefore + 1);
    // Read again later (a reload): the finished job, and a stream that opens on its end.
    expect((await jobOf(posted.body.id, token)).body).toMatchObject({ state: 'completed', result: { created: true } });
    const again = await followEvents(posted.body.id, token);
    expect(again.events.map((event) => event.event)).toEqual(['snapshot', 'completed']);
  }, 120_000);
});

describe('DELETE /api/analyses/jobs/{id}', () => {
  it('when a job is cancelled during retrieval, then it stops at once and writes nothing: no DiagnosticReport, no SR in the PACS', async () => {
    // Each DICOMweb answer 2 s late: the retrieval is under way long enough to cancel it in the middle.
    sandbox.ehr.faults.dicomWebDelayMs = 2000;
    const token = await tokenOf(1);
    const seriesBefore = seriesInPacs(1);
    const posted = await analyze(1, token);
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    let deleted: Promise<Answer> | undefined;
    let cancelledAt = 0;
    const { events } = await followEvents(posted.body.id, token, (event) => {
      if (!deleted && event.snapshot.progress.stage === 'retrieving') {
        cancelledAt = performance.now();
        deleted = cancel(posted.body.id, token);
      }
    });
    const answer = await deleted;
    // RFC 9110 §15.3.3: accepted, it stops; nothing will be written.
    expect(answer?.status).toBe(202);
    expect(answer?.body).toMatchObject({ state: 'running', progress: { text: 'Stopping: nothing will be written' } });
    const end = events.at(-1);
    expect(end?.event).toBe('cancelled');
    expect(end?.snapshot).toMatchObject({ state: 'cancelled', progress: { text: 'Cancelled: nothing was written' } });
    expect(end?.snapshot.result).toBeUndefined();
    // Promptly: the requests in flight were aborted, not waited for (each would have taken 2 s).
    expect((end?.at ?? Infinity) - cancelledAt).toBeLessThan(1500);
    expect(events.some((event) => event.snapshot.progress.stage === 'inferring')).toBe(false);

    // Whatever was still under way at the PACS has had time to answer: still nothing written.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await reportsOf(1)).toEqual([]);
    expect(seriesInPacs(1)).toBe(seriesBefore);
    // Cancelled it stays: a second DELETE is 200 with the cancelled job, GET the same.
    const again = await cancel(posted.body.id, token);
    expect(again.status).toBe(200);
    expect(again.body.state).toBe('cancelled');
    expect((await jobOf(posted.body.id, token)).body.state).toBe('cancelled');
  }, 120_000);

  it('when a request waited for a job that is cancelled meanwhile, then 409 with a sentence, and nothing is written', async () => {
    sandbox.ehr.faults.dicomWebDelayMs = 2000;
    const token = await tokenOf(1);
    const waiting = analyze(1, token, { Prefer: 'wait=600' });
    // The job the waiting request created, joined by a request that does not wait.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const joined = await analyze(1, token);
    expect(joined.status).toBe(202);
    expect((await cancel(joined.body.id, token)).status).toBe(202);
    const answer = await waiting;
    expect(answer.status).toBe(409);
    expect(firstIssue(answer.body)).toBe(
      `The analysis of ImagingStudy/${patient(1).imagingStudyId} was cancelled before it wrote anything; nothing was written to the EHR or the PACS. Analyze again to start it anew.`,
    );
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await reportsOf(1)).toEqual([]);
  }, 120_000);

  it('when a job has finished, then DELETE is 409 with a sentence and changes nothing', async () => {
    const token = await tokenOf(0);
    const answer = await api('DELETE', `/api/analyses/jobs/${completedJobId}`, token);
    expect(answer.status).toBe(409);
    expect(firstIssue(answer.body)).toBe('The analysis has already completed; there is nothing to cancel.');
    expect((await jobOf(completedJobId, token)).body.state).toBe('completed');
    expect(await reportsOf(0)).toHaveLength(1);
  });
});

describe('one job per study', () => {
  it('when the same study is posted twice while its job runs, then both get the same job, and exactly one report is written', async () => {
    sandbox.ehr.faults.dicomWebDelayMs = 300;
    const [first, second] = [await tokenOf(2), await tokenOf(2)];
    expect(first).not.toBe(second);
    const a = await analyze(2, first);
    const b = await analyze(2, second);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.id).toBe(a.body.id);
    sharedJobId = a.body.id;
    // A third request that waits joins too, and answers with the result when the one job is done.
    const waited = await analyze(2, first, { Prefer: 'wait=600' });
    expect(waited.status, JSON.stringify(waited.body)).toBe(201);
    const reports = await reportsOf(2);
    expect(reports).toHaveLength(1);
    expect(waited.body.diagnosticReport).toBe(`DiagnosticReport/${reports[0]?.id ?? ''}`);
    // Both requesters may read it.
    expect((await jobOf(a.body.id, second)).body.state).toBe('completed');
    // Now the EHR holds the analysis: a new request is answered with it at once, no job.
    const stored = await analyze(2, second);
    expect(stored.status).toBe(200);
    expect(stored.body.created).toBe(false);
    expect(await reportsOf(2)).toHaveLength(1);
  }, 120_000);
});

describe('who may read a job', () => {
  it('when another patient’s or another user’s session, an unknown id or a malformed one is asked for, then 404 with the same sentence', async () => {
    // The job two sessions of the patient's clinician shared; a third session of theirs reads it.
    const owner = await tokenOf(2);
    const id = sharedJobId;
    expect((await jobOf(id, owner)).status).toBe(200);

    const otherPatient = await tokenOf(3);
    // The same patient's chart, opened by another clinician.
    const otherUser = (
      await launchAndAuthorize({
        fhirBaseUrl: sandbox.ehr.fhirBaseUrl,
        launch: sandbox.ehr.grants.createLaunch({
          patientId: patient(2).patientId,
          practitionerId: 'another-clinician',
        }),
        clientId: SMART_CLIENT_ID,
        redirectUri: `${sandbox.appBaseUrl}/index.html`,
        scope: SMART_SCOPE,
      })
    ).access_token;
    const sentences = new Set<string>();
    for (const [token, jobId] of [
      [otherPatient, id],
      [otherUser, id],
      [owner, '3f9c1d7e-0b5a-4c1e-9d2f-6a7b8c9d0e1f'],
      [owner, 'not-a-job'],
    ] as const) {
      for (const [method, path] of [
        ['GET', `/api/analyses/jobs/${jobId}`],
        ['GET', `/api/analyses/jobs/${jobId}/events`],
        ['DELETE', `/api/analyses/jobs/${jobId}`],
      ] as const) {
        const answer = await api(method, path, token);
        expect(answer.status, `${method} ${path}`).toBe(404);
        sentences.add(firstIssue(answer.body));
      }
    }
    expect([...sentences]).toEqual([
      'No analysis job with this id is known to this session: it may have finished more than an hour ago, or have been started in another patient’s chart or by another user. Analyze the study again to see its result.',
    ]);
    // The patient's own session still reads it, unchanged by any of those DELETEs.
    expect((await jobOf(id, owner)).body.state).toBe('completed');
  }, 120_000);
});

describe('Prefer: wait (RFC 7240)', () => {
  it('when the client prefers to wait, then the answer is 201 with the result as before jobs, and says the preference was applied', async () => {
    const token = await tokenOf(4);
    const answer = await analyze(4, token, { Prefer: 'wait=600' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.headers.get('preference-applied')).toBe('wait=600');
    expect(answer.body.created).toBe(true);
    expect(answer.body.findings.levels.length).toBeGreaterThan(0);
    expect(await reportsOf(4)).toHaveLength(1);
  }, 120_000);

  it('when the job is not done within the wait, then 202 with the job and where to follow it', async () => {
    sandbox.ehr.faults.dicomWebDelayMs = 2000;
    const token = await tokenOf(5);
    const started = performance.now();
    const answer = await analyze(5, token, { Prefer: 'wait=1' });
    expect(performance.now() - started).toBeGreaterThan(900);
    expect(answer.status).toBe(202);
    expect(answer.headers.get('preference-applied')).toBe('wait=1');
    expect(answer.headers.get('location')).toBe(`/api/analyses/jobs/${answer.body.id}`);
    expect(answer.body.state).toBe('running');
    expect((await cancel(answer.body.id, token)).status).toBe(202);
    await followEvents(answer.body.id, token);
  }, 120_000);
});

describe('a full queue', () => {
  it('when as many analyses run and wait as the server takes, then the next is 503 with Retry-After naming the keys; a queued job cancels at once', async () => {
    sandbox.ehr.faults.dicomWebDelayMs = 2000;
    // Each patient's own session (a patient-scoped token opens its own patient's studies only); one clinician.
    const [first, second, third] = [await tokenOf(1), await tokenOf(5), await tokenOf(3)];
    const running = await analyze(1, first);
    const queued = await analyze(5, second);
    expect([running.status, queued.status]).toEqual([202, 202]);
    expect([running.body.state, queued.body.state]).toEqual(['running', 'queued']);
    expect(queued.body.progress.text).toBe('Waiting to start');
    const refused = await analyze(3, third);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(firstIssue(refused.body)).toMatch(
      /^ldh-cds is running 1 analyses, the most it runs at once \(MAX_CONCURRENT_ANALYSES\), and 1 more are waiting, the most it queues \(MAX_QUEUED_ANALYSES\)\. Try again in about \d+ seconds\.$/,
    );
    // Joining the running one is never refused.
    expect((await analyze(1, first)).body.id).toBe(running.body.id);
    // The queued job never started: cancelled at once (200); the running one stops (202).
    const cancelledQueued = await cancel(queued.body.id, second);
    expect(cancelledQueued.status).toBe(200);
    expect(cancelledQueued.body.state).toBe('cancelled');
    expect((await cancel(running.body.id, first)).status).toBe(202);
    const { events } = await followEvents(running.body.id, first);
    expect(events.at(-1)?.event).toBe('cancelled');
    expect(await reportsOf(5)).toEqual([]);
  }, 120_000);
});
