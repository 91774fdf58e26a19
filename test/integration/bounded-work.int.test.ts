/**
 * Bounded work (issue 22), against the real mock EHR and app server: what one study, one caller or one burst of
 * analyses may ask of the server is held to the configured limits, and a refusal names the configuration key and
 * tells the caller when to come back.
 *
 * - A study whose instance claims NumberOfFrames = 300,000,000 is refused (422 too-costly, MAX_FRAMES_PER_INSTANCE)
 *   from its metadata, before anything is allocated by it: nothing is written, and the server goes on analyzing.
 * - Requests to `/api` beyond the per-token and per-IP rate limits: 429 with Retry-After, RateLimit headers and an
 *   OperationOutcome naming the key; the probes (/healthz) are never limited.
 * - Analyses beyond MAX_CONCURRENT_ANALYSES: 503 with Retry-After; beyond MAX_CONCURRENT_ANALYSES_PER_USER (the mock
 *   EHR's launches all sign in the same practitioner, so two patients' tokens are one user): 429 with Retry-After.
 *   The slot is given back when the analysis settles: the refused analysis then succeeds.
 * - An analysis whose slices would overflow the model's queue while other slices wait (INFERENCE_QUEUE_DEPTH): 503
 *   with Retry-After. The waiting slices are those of another caller of the same in-process detector session (the one
 *   the app server shares for its model folder and settings), kept queued by the test until the analysis answers.
 *
 * Each setting gets its own sandbox (one app server per environment).
 */
import type { DiagnosticReport } from '@medplum/fhirtypes';
import dcmjs from 'dcmjs';
import type { OperationOutcome } from 'fhir/r4';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudyGenerator } from '../../mock-ehr/src/seed/seed';
import { generatePhantomStudy } from '../../models/synthetic';
import { PHANTOM_IMAGE_SIZE } from '../../models/synthetic/anatomy';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { loadConfig } from '../../server/src/config';
import { getDetectorSession } from '../../server/src/inference/detector-session';
import type { GrayImage } from '../../server/src/inference/preprocess';
import { pipelineOptionsFromConfig } from '../../server/src/pipeline/analyze-study';
import { appTokenFor, seededPatient, startSandbox, type Sandbox, type SandboxOptions } from '../support/sandbox';

const ABSURD_FRAMES = 300_000_000;
/** The seed the mock EHR generates its first patient's study with (seed.ts: 1000 + index). */
const FIRST_PATIENT_SEED = 1000;

/**
 * The phantom generator, except that the first patient's study has one instance claiming ABSURD_FRAMES frames
 * (its Part 10 rewritten with dcmjs; the pixel data is still one frame's).
 */
const withAbsurdFrameCount: StudyGenerator = (options) => {
  const study = generatePhantomStudy(options);
  if (options.seed !== FIRST_PATIENT_SEED) return study;
  const [first, ...rest] = study.instances;
  if (!first) throw new Error('the phantom study has no instances');
  const bytes = first.part10;
  const dicom = dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  );
  dicom.dict['00280008'] = { vr: 'IS', Value: [ABSURD_FRAMES] };
  return { ...study, instances: [{ ...first, part10: new Uint8Array(dicom.write()) }, ...rest] };
};

const BASE_ENV = { MODEL_DIR: TINY_MODEL_DIR, LOG_LEVEL: 'silent' };
const QUEUE_ENV = { ...BASE_ENV, INFERENCE_BATCH: '1', INFERENCE_QUEUE_DEPTH: '1' };

let limits: Sandbox;
let rates: Sandbox;
let serverSlots: Sandbox;
let userSlots: Sandbox;
let queue: Sandbox;
const started: Sandbox[] = [];

/** One after the other: each picks its free ports when it starts. */
async function sandbox(options: SandboxOptions): Promise<Sandbox> {
  const running = await startSandbox({ ...options, logger: pino({ level: 'silent' }) });
  started.push(running);
  return running;
}

beforeAll(async () => {
  limits = await sandbox({
    patientCount: 2,
    generateStudy: withAbsurdFrameCount,
    // Not the default (2,000): the refusal must be the configured limit's.
    appEnv: { ...BASE_ENV, MAX_FRAMES_PER_INSTANCE: '500' },
  });
  rates = await sandbox({
    patientCount: 1,
    generateStudy: generatePhantomStudy,
    appEnv: { ...BASE_ENV, RATE_LIMIT_WINDOW_S: '600', RATE_LIMIT_API_PER_TOKEN: '3', RATE_LIMIT_API_PER_IP: '6' },
  });
  serverSlots = await sandbox({
    patientCount: 2,
    generateStudy: generatePhantomStudy,
    // None waits for its turn either (MAX_QUEUED_ANALYSES, where the server queues analyses): refused at once.
    appEnv: { ...BASE_ENV, MAX_CONCURRENT_ANALYSES: '1', MAX_QUEUED_ANALYSES: '0' },
  });
  userSlots = await sandbox({
    patientCount: 2,
    generateStudy: generatePhantomStudy,
    appEnv: { ...BASE_ENV, MAX_CONCURRENT_ANALYSES_PER_USER: '1' },
  });
  queue = await sandbox({ patientCount: 1, generateStudy: generatePhantomStudy, appEnv: QUEUE_ENV });
}, 180_000);

afterAll(async () => {
  await Promise.all(started.map((running) => running.close()));
});

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  /** The first issue of an OperationOutcome answer (undefined for any other answer). */
  issue: { code?: string; diagnostics?: string } | undefined;
}

async function call(sandbox: Sandbox, token: string, method: 'GET' | 'POST', apiPath: string, body?: unknown) {
  const response = await fetch(`${sandbox.app.url}${apiPath}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      // An analysis is answered when it is done (RFC 7240 Prefer: wait), as before analyses became jobs (issue 23).
      ...(method === 'POST' ? { Prefer: 'wait=600' } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await response.json()) as Partial<OperationOutcome>;
  return {
    status: response.status,
    headers: response.headers,
    body: answer,
    issue: answer.resourceType === 'OperationOutcome' ? answer.issue?.[0] : undefined,
  } satisfies Answer;
}

const analyze = (sandbox: Sandbox, imagingStudyId: string, token: string) =>
  call(sandbox, token, 'POST', '/api/analyses', { imagingStudy: `ImagingStudy/${imagingStudyId}` });

const storedAnalysis = (sandbox: Sandbox, imagingStudyId: string, token: string) =>
  call(sandbox, token, 'GET', `/api/analyses?imagingStudy=ImagingStudy/${imagingStudyId}`);

/** The DiagnosticReports the EHR holds for this ImagingStudy. */
async function reportsOf(sandbox: Sandbox, imagingStudyId: string): Promise<DiagnosticReport[]> {
  const reports = await sandbox.ehr.repo.searchResources<DiagnosticReport>({
    resourceType: 'DiagnosticReport',
    count: 1000,
  });
  return reports.filter((report) =>
    report.imagingStudy?.some((ref) => ref.reference === `ImagingStudy/${imagingStudyId}`),
  );
}

/** A whole number of seconds, at least 1 (RFC 9110 §10.2.3 delay-seconds). */
function expectRetryAfter(answer: Answer): void {
  expect(answer.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
}

describe('when a study asks for more than the limits allow', () => {
  it('when one instance claims NumberOfFrames = 300,000,000, then the analysis is refused (422, MAX_FRAMES_PER_INSTANCE), nothing is written, and the server goes on analyzing', async () => {
    const absurd = seededPatient(limits, 0);
    const answer = await analyze(limits, absurd.imagingStudyId, await appTokenFor(limits, absurd.patientId));
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.issue?.code).toBe('too-costly');
    expect(answer.issue?.diagnostics).toContain(
      'The study is larger than ldh-cds accepts: 300,000,000 frames in one instance, more than the limit of 500 (MAX_FRAMES_PER_INSTANCE).',
    );
    expect(await reportsOf(limits, absurd.imagingStudyId)).toEqual([]);
    // Still refused, unchanged, on a second try: nothing was half-stored.
    const again = await analyze(limits, absurd.imagingStudyId, await appTokenFor(limits, absurd.patientId));
    expect(again.status).toBe(422);
    expect(await reportsOf(limits, absurd.imagingStudyId)).toEqual([]);

    // The process is alive and analyzes another patient's ordinary study.
    const ordinary = seededPatient(limits, 1);
    const normal = await analyze(limits, ordinary.imagingStudyId, await appTokenFor(limits, ordinary.patientId));
    expect(normal.status, JSON.stringify(normal.body)).toBe(201);
    expect(await reportsOf(limits, ordinary.imagingStudyId)).toHaveLength(1);
    expect((await fetch(`${limits.app.url}/healthz`)).status).toBe(200);
  }, 60_000);
});

describe('when a caller sends more requests than the rate limits allow', () => {
  it('when one token sends a 4th request with RATE_LIMIT_API_PER_TOKEN = 3, then 429 with Retry-After naming the key; another token is counted apart up to RATE_LIMIT_API_PER_IP; /healthz is never limited', async () => {
    const patient = seededPatient(rates, 0);
    const first = await appTokenFor(rates, patient.patientId);
    // Three requests of this token (1–3 from this address): answered, whatever their answer (nothing stored: 404).
    for (let i = 0; i < 3; i++) {
      const answer = await storedAnalysis(rates, patient.imagingStudyId, first);
      expect(answer.status, JSON.stringify(answer.body)).toBe(404);
      expect(answer.headers.get('ratelimit-policy')).toMatch(/"api-ip"; q=6; w=600; .*"api-token"; q=3; w=600/);
    }
    // The 4th (4 from this address): beyond the token's limit.
    const refused = await storedAnalysis(rates, patient.imagingStudyId, first);
    expect(refused.status).toBe(429);
    expectRetryAfter(refused);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(600);
    expect(refused.issue?.code).toBe('throttled');
    expect(refused.issue?.diagnostics).toMatch(
      /^Too many requests with this session: at most 3 in 600 seconds \(RATE_LIMIT_API_PER_TOKEN\)\. Try again in \d+ seconds\.$/,
    );
    // An analysis is refused as well (the 5th from this address), before any work: no report.
    const analysis = await analyze(rates, patient.imagingStudyId, first);
    expect(analysis.status).toBe(429);
    expect(await reportsOf(rates, patient.imagingStudyId)).toEqual([]);

    // Another session (token) has its own count: its first request (the 6th from this address) is answered.
    const second = await appTokenFor(rates, patient.patientId);
    expect((await storedAnalysis(rates, patient.imagingStudyId, second)).status).toBe(404);
    // The 7th from this address: beyond the per-IP limit, whatever the token.
    const byIp = await storedAnalysis(rates, patient.imagingStudyId, second);
    expect(byIp.status).toBe(429);
    expectRetryAfter(byIp);
    expect(byIp.issue?.code).toBe('throttled');
    expect(byIp.issue?.diagnostics).toContain('from this address: at most 6 in 600 seconds (RATE_LIMIT_API_PER_IP)');

    // The probes are answered whatever the API's limits say.
    for (let i = 0; i < 10; i++) {
      const probe = await fetch(`${rates.app.url}/healthz`);
      expect(probe.status).toBe(200);
      expect(probe.headers.get('ratelimit')).toBeNull();
    }
  }, 60_000);
});

describe('when more analyses are sent at once than the server runs at once', () => {
  it('when MAX_CONCURRENT_ANALYSES = 1 and two patients’ studies are analyzed at once, then one is 201 and the other 503 with Retry-After; afterwards the refused one is analyzed', async () => {
    const patients = [seededPatient(serverSlots, 0), seededPatient(serverSlots, 1)];
    const tokens = await Promise.all(patients.map((patient) => appTokenFor(serverSlots, patient.patientId)));
    const answers = await Promise.all(
      patients.map((patient, i) => analyze(serverSlots, patient.imagingStudyId, tokens[i] ?? '')),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 503]);
    const refusedIndex = answers.findIndex((answer) => answer.status === 503);
    const refused = answers[refusedIndex];
    if (!refused) throw new Error('no analysis was refused');
    expectRetryAfter(refused);
    expect(refused.issue?.code).toBe('transient');
    expect(refused.issue?.diagnostics).toMatch(
      /^ldh-cds is running 1 analyses, the most it runs at once \(MAX_CONCURRENT_ANALYSES\).* Try again in about \d+ seconds\.$/,
    );
    const refusedPatient = patients[refusedIndex];
    if (!refusedPatient) throw new Error('no refused patient');
    expect(await reportsOf(serverSlots, refusedPatient.imagingStudyId)).toEqual([]);
    // The slot was given back when the first analysis settled.
    const retried = await analyze(serverSlots, refusedPatient.imagingStudyId, tokens[refusedIndex] ?? '');
    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
  }, 60_000);

  it('when MAX_CONCURRENT_ANALYSES_PER_USER = 1 and one user analyzes two studies at once, then one is 201 and the other 429 with Retry-After', async () => {
    const patients = [seededPatient(userSlots, 0), seededPatient(userSlots, 1)];
    // Two launches, two tokens, one signed-in practitioner: one user (its `sub`).
    const tokens = await Promise.all(patients.map((patient) => appTokenFor(userSlots, patient.patientId)));
    expect(tokens[0]).not.toBe(tokens[1]);
    const answers = await Promise.all(
      patients.map((patient, i) => analyze(userSlots, patient.imagingStudyId, tokens[i] ?? '')),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 429]);
    const refusedIndex = answers.findIndex((answer) => answer.status === 429);
    const refused = answers[refusedIndex];
    if (!refused) throw new Error('no analysis was refused');
    expectRetryAfter(refused);
    expect(refused.issue?.code).toBe('throttled');
    expect(refused.issue?.diagnostics).toMatch(
      /^You already have 1 analyses running, the most one user may run at once \(MAX_CONCURRENT_ANALYSES_PER_USER\).* Try again when one has finished, in about \d+ seconds\.$/,
    );
    const refusedPatient = patients[refusedIndex];
    if (!refusedPatient) throw new Error('no refused patient');
    expect(await reportsOf(userSlots, refusedPatient.imagingStudyId)).toEqual([]);
    const retried = await analyze(userSlots, refusedPatient.imagingStudyId, tokens[refusedIndex] ?? '');
    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
  }, 60_000);
});

describe("when the model's queue is full", () => {
  it('when other slices wait for the model and INFERENCE_QUEUE_DEPTH = 1, then the analysis is 503 with Retry-After naming the key; once they are done it is analyzed', async () => {
    // The session the app server uses for this model folder and these settings (shared in this process).
    const session = await getDetectorSession(
      TINY_MODEL_DIR,
      undefined,
      pipelineOptionsFromConfig(loadConfig(QUEUE_ENV)).detector,
    );
    const slice: GrayImage = {
      width: PHANTOM_IMAGE_SIZE,
      height: PHANTOM_IMAGE_SIZE,
      pixels: new Float32Array(PHANTOM_IMAGE_SIZE * PHANTOM_IMAGE_SIZE).map((_, i) => i % 97),
    };
    const runs = (): number => session.stats?.().runs ?? 0;
    const runsBefore = runs();
    // Another caller's slices, resubmitted as soon as they are done (an empty queue takes any one submission), so
    // that some always wait while the analysis runs: one run at a time (INFERENCE_BATCH = 1), 7 of 8 waiting.
    const done = new AbortController();
    const other = (async () => {
      while (!done.signal.aborted) await session.detect(Array.from({ length: 8 }, () => slice));
    })();
    const patient = seededPatient(queue, 0);
    const token = await appTokenFor(queue, patient.patientId);
    let refused: Answer;
    try {
      refused = await analyze(queue, patient.imagingStudyId, token);
    } finally {
      done.abort();
      await other;
    }
    expect(runs()).toBeGreaterThan(runsBefore);
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expectRetryAfter(refused);
    expect(refused.issue?.code).toBe('transient');
    expect(refused.issue?.diagnostics).toMatch(
      /^The model is busy: \d+ slices are waiting and \d+ more would exceed the queue of 1 \(INFERENCE_QUEUE_DEPTH\)\. Try again in \d+ seconds\.$/,
    );
    expect(await reportsOf(queue, patient.imagingStudyId)).toEqual([]);
    // Nothing waits now: the queue takes the whole analysis.
    const analyzed = await analyze(queue, patient.imagingStudyId, token);
    expect(analyzed.status, JSON.stringify(analyzed.body)).toBe(201);
    expect(await reportsOf(queue, patient.imagingStudyId)).toHaveLength(1);
  }, 60_000);
});
