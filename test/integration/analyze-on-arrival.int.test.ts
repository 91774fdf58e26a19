/**
 * Analyze on arrival by polling (issue 23), in the one-process shape: the mock EHR and the app server on loopback,
 * ANALYZE_ON_ARRIVAL=poll every second, the cursor in a file, the in-process engine running the watcher's jobs with
 * the server's own SMART Backend Services token (the mock EHR's `ldh-cds-server` registration, its key fetched from the
 * app's JWKS), real generated phantom studies arriving through `admitPatient` and the tiny model. Nobody opens the app.
 *
 * In order, each on studies of its own:
 * - a lumbar MRI that arrives is analyzed: one DiagnosticReport; the study that was there before is not an arrival;
 * - a CT and a brain MRI are skipped, each with a log line that names the reason and no study;
 * - the app server restarts — once right after queuing a study, whose in-process job it may lose, and with a study
 *   arriving while it is down: both are analyzed once, nothing before them again;
 * - the EHR answers 503: the read fails, the cursor stays, the read is tried again and the study is queued once the
 *   EHR is back;
 * - the EHR refuses the server's tokens as expired before their `exp`: the watcher and the job each get a fresh one,
 *   and the study that arrives then is analyzed once.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { DiagnosticReport, ImagingStudy } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import type { SeededPatient } from '../../mock-ehr/src/seed/seed';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startAppServer, type RunningServer } from '../../server/src/app';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadConfig } from '../../server/src/config';

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  status?: number;
  [field: string]: unknown;
}

let dataDir: string;
let ehr: MockEhr;
let app: RunningServer | undefined;
let env: Record<string, string>;
let cursorFile: string;
/** Every line the app servers logged, in order; `runStart` is where the current server's lines begin. */
const lines: LogLine[] = [];
let runStart = 0;
const admitted: SeededPatient[] = [];

const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  }),
);

const arrivalLines = (from = 0): LogLine[] => lines.slice(from).filter((line) => line.msg.startsWith('arrival'));
const count = (message: string, from = runStart): number =>
  arrivalLines(from).filter((line) => line.msg === message).length;

async function startApp(): Promise<void> {
  runStart = lines.length;
  app = await startAppServer(loadConfig(env), { logger });
}

/** A sample of the running app server's metrics (summed over the series that have `labels`); 0 when absent. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(app?.metricsUrl ?? '')).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const has = Object.entries(labels).every(([key, value]) => (match[2] ?? '').includes(`${key}="${value}"`));
    if (has) total += Number(match[3]);
  }
  return total;
}

async function stopApp(): Promise<void> {
  await app?.close();
  app = undefined;
}

async function cursor(): Promise<{ since?: string; pending: unknown[] } | undefined> {
  try {
    const file = JSON.parse(await readFile(cursorFile, 'utf8')) as {
      cursors: Record<string, { since?: string; pending: unknown[] }>;
    };
    return file.cursors[ehr.fhirBaseUrl];
  } catch {
    return undefined;
  }
}

/** Resolves once the watcher's cursor has passed this study (it was handled: queued or skipped). */
async function cursorPassed(imagingStudyId: string): Promise<void> {
  const study = await ehr.repo.readResource<ImagingStudy>('ImagingStudy', imagingStudyId);
  const at = Date.parse(study.meta?.lastUpdated ?? '');
  await expect.poll(async () => Date.parse((await cursor())?.since ?? '') >= at, { timeout: 60_000 }).toBe(true);
}

async function reportsOf(imagingStudyId: string): Promise<DiagnosticReport[]> {
  const reports = await ehr.repo.searchResources<DiagnosticReport>({ resourceType: 'DiagnosticReport', count: 1000 });
  return reports.filter((report) =>
    report.imagingStudy?.some((ref) => ref.reference === `ImagingStudy/${imagingStudyId}`),
  );
}

async function admit(): Promise<SeededPatient> {
  const patient = await ehr.admitPatient();
  admitted.push(patient);
  return patient;
}

/** A study the EHR gets that is not a lumbar MRI (FHIR only: it is never opened), for the seeded patient. */
async function admitOther(kind: 'ct' | 'mr-brain'): Promise<string> {
  const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
  const modality = kind === 'ct' ? 'CT' : 'MR';
  const created = await ehr.repo.createResource<ImagingStudy>({
    resourceType: 'ImagingStudy',
    status: 'available',
    identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:1.2.826.0.1.3680043.10.1${kind === 'ct' ? 1 : 2}` }],
    modality: [{ system: DCM, code: modality }],
    subject: { reference: `Patient/${ehr.seed.patients[0]?.patientId ?? ''}` },
    endpoint: [{ reference: 'Endpoint/dicomweb' }],
    procedureCode: [
      kind === 'ct'
        ? { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '71250' }], text: 'CT thorax' }
        : { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '70551' }], text: 'MRI brain' },
    ],
    series: [
      {
        uid: `1.2.826.0.1.3680043.10.2${kind === 'ct' ? 1 : 2}`,
        modality: { system: DCM, code: modality },
        bodySite:
          kind === 'ct'
            ? { system: 'http://snomed.info/sct', code: '51185008', display: 'Thorax' }
            : {
                system: 'http://snomed.info/sct',
                code: '12738006',
                display: 'Brain structure',
              },
      },
    ],
  });
  return created.id;
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-arrival-'));
  cursorFile = path.join(dataDir, 'arrival-cursor.json');
  const [ehrPort, appPort] = [await findFreePort(), await findFreePort()];
  const appBaseUrl = `http://localhost:${appPort}`;
  ehr = await startMockEhr({
    port: ehrPort,
    publicBaseUrl: `http://localhost:${ehrPort}`,
    appBaseUrl,
    dataDir,
    patientCount: 1,
    generateStudy: generatePhantomStudy,
    logger: pino({ level: 'warn' }),
  });
  await writeFile(
    path.join(dataDir, 'ehrs.json'),
    JSON.stringify({ ehrs: [{ fhirBaseUrl: ehr.fhirBaseUrl, imagingOrigins: [new URL(ehr.dicomWebUrl).origin] }] }),
  );
  env = {
    APP_PORT: String(appPort),
    APP_BASE_URL: appBaseUrl,
    EHRS_FILE: path.join(dataDir, 'ehrs.json'),
    CDS_FEEDBACK_FILE: path.join(dataDir, 'cds-feedback.jsonl'),
    CLIENT_KEY_FILE: path.join(dataDir, 'client-key.private.jwk.json'),
    MODEL_DIR: TINY_MODEL_DIR,
    DECODE_THREADS: '1',
    ANALYZE_ON_ARRIVAL: 'poll',
    ARRIVAL_POLL_INTERVAL_S: '1',
    ARRIVAL_CURSOR_FILE: cursorFile,
    // The watcher's metrics, scraped as Prometheus would (arrival/arrival-metrics.ts).
    METRICS_PORT: '0',
  };
  await startApp();
  // The first read sets the cursor at the newest study the EHR holds: the seeded one is not an arrival.
  for (const started = Date.now(); count('arrival watcher: first read of this EHR') < 1;) {
    if (Date.now() - started > 60_000) throw new Error(`the watcher made no first read:\n${JSON.stringify(lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 120_000);

afterAll(async () => {
  await stopApp();
  await ehr.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('analyze on arrival, polling the EHR', () => {
  it('when a lumbar MRI arrives and nobody opens the app, then it is analyzed: one DiagnosticReport', async () => {
    const patient = await admit();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(count('arrival queued for analysis')).toBe(1);
    // The study already there when the watcher first read the EHR is not an arrival: nobody asked for it.
    expect(await reportsOf(ehr.seed.patients[0]?.imagingStudyId ?? '')).toEqual([]);
    // Later reads do not queue it again: its cursor is passed, and its pending job is dropped once finished.
    await expect.poll(async () => (await cursor())?.pending, { timeout: 30_000 }).toEqual([]);
    expect(count('arrival queued for analysis')).toBe(1);
    expect(await reportsOf(patient.imagingStudyId)).toHaveLength(1);
    // The metrics say the same: one study queued from this EHR, reads that went to the end, the last one just now.
    const ehrLabel = { ehr: ehr.fhirBaseUrl };
    expect(await metric('ldh_cds_arrival_studies_queued_total', ehrLabel)).toBe(1);
    expect(await metric('ldh_cds_arrival_reads_total', { ...ehrLabel, result: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(await metric('ldh_cds_arrival_reads_total', { ...ehrLabel, result: 'failed' })).toBe(0);
    const lastRead = await metric('ldh_cds_arrival_last_read_timestamp_seconds', ehrLabel);
    expect(Date.now() / 1000 - lastRead).toBeLessThan(10);
  }, 180_000);

  it('when a CT and a brain MRI arrive, then neither is queued, and each is skipped with a line naming the reason only', async () => {
    const queuedBefore = count('arrival queued for analysis');
    const ct = await admitOther('ct');
    const brain = await admitOther('mr-brain');
    await cursorPassed(brain);
    await cursorPassed(ct);
    expect(count('arrival queued for analysis')).toBe(queuedBefore);
    const skipped = arrivalLines(runStart).filter((line) => line.msg.startsWith('arrival skipped'));
    expect(skipped.map((line) => line.reason)).toEqual(['not-mr', 'not-lumbar']);
    expect(skipped.map((line) => line.msg)).toEqual([
      'arrival skipped: not an MR study',
      'arrival skipped: an MR study, but not of the lumbar spine (CDS_CODES_FILE)',
    ]);
    for (const line of skipped) expect(JSON.stringify(line)).not.toMatch(new RegExp(`${ct}|${brain}|1\\.2\\.826`));
    expect(await reportsOf(ct)).toEqual([]);
    expect(await reportsOf(brain)).toEqual([]);
  }, 120_000);

  it('when the watcher restarts, then it goes on from its cursor: a study queued just before and one that arrived while it was down are each analyzed once', async () => {
    const first = admitted[0]?.imagingStudyId ?? '';
    const queuedBefore = count('arrival queued for analysis');
    const justQueued = await admit();
    await expect.poll(() => count('arrival queued for analysis'), { timeout: 60_000 }).toBe(queuedBefore + 1);
    // Stopped at once: the in-process engine cancels the job unless it is writing (then it finishes).
    await stopApp();
    const doneBeforeStop = (await reportsOf(justQueued.imagingStudyId)).length;
    const whileDown = await admit();
    await startApp();

    await expect.poll(async () => (await reportsOf(whileDown.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    await expect.poll(async () => (await reportsOf(justQueued.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    await expect.poll(async () => (await cursor())?.pending, { timeout: 30_000 }).toEqual([]);
    // After the restart: the study that arrived meanwhile is queued, the one queued before only when its job was lost,
    // and nothing earlier at all (no second job, no second report).
    expect(count('arrival queued for analysis')).toBe(doneBeforeStop === 1 ? 1 : 2);
    expect(await reportsOf(first)).toHaveLength(1);
    expect(await reportsOf(justQueued.imagingStudyId)).toHaveLength(1);
  }, 300_000);

  it('when the EHR answers 503, then the read is tried again with the cursor where it was, and the study is queued once the EHR is back', async () => {
    const queuedBefore = count('arrival queued for analysis');
    const failedBefore = count('arrival watcher: the read failed; the cursor stays, trying again');
    ehr.faults.fhirUnavailable = true;
    const during = await admit();
    const sinceDuring = (await cursor())?.since;
    try {
      await expect
        .poll(() => count('arrival watcher: the read failed; the cursor stays, trying again'), { timeout: 90_000 })
        .toBeGreaterThanOrEqual(failedBefore + 2);
      const failure = arrivalLines(runStart).findLast((line) =>
        line.msg.startsWith('arrival watcher: the read failed'),
      );
      expect(failure?.status).toBe(503);
      expect((await cursor())?.since).toBe(sinceDuring);
      expect(count('arrival queued for analysis')).toBe(queuedBefore);
      // Counted as failed reads, and the last good read stays where it was: what the stalled-watcher alert watches.
      expect(
        await metric('ldh_cds_arrival_reads_total', { ehr: ehr.fhirBaseUrl, result: 'failed' }),
      ).toBeGreaterThanOrEqual(2);
    } finally {
      ehr.faults.fhirUnavailable = false;
    }
    await expect.poll(async () => (await reportsOf(during.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(count('arrival queued for analysis')).toBe(queuedBefore + 1);
    expect(count('arrival watcher: reading again after the failures')).toBeGreaterThanOrEqual(1);
    // Its job done (the report is read back after the write) before the next test expires every token.
    await expect.poll(async () => (await cursor())?.pending, { timeout: 30_000 }).toEqual([]);
  }, 240_000);

  it("when the EHR refuses the server's tokens as expired before their time, then the watcher and the job each get a fresh one: the arrival is analyzed once", async () => {
    const refusedBefore = count('arrival watcher: the EHR refused its token (HTTP 401); asking for a new one');
    ehr.expireAccessTokens();
    // Tokens issued in the second of the expiry are refused too (iat has a resolution of seconds): arrive after it.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const patient = await admit();
    await expect.poll(async () => (await reportsOf(patient.imagingStudyId)).length, { timeout: 120_000 }).toBe(1);
    expect(count('arrival watcher: the EHR refused its token (HTTP 401); asking for a new one')).toBeGreaterThan(
      refusedBefore,
    );
    // The job, too, ran with a token the EHR refused (the one its engine had kept), then with a fresh one: completed.
    await expect.poll(async () => (await cursor())?.pending, { timeout: 30_000 }).toEqual([]);
    const finished = arrivalLines(runStart).findLast((line) => line.msg === 'arrival analysis finished');
    expect(finished?.state).toBe('completed');
  }, 180_000);

  it('when the watcher logged, then no line names a patient, a study or a DICOM UID', () => {
    const text = JSON.stringify(arrivalLines());
    for (const patient of [...admitted, ...ehr.seed.patients]) {
      for (const value of [patient.patientId, patient.mrn, patient.imagingStudyId, patient.studyInstanceUid])
        expect(text).not.toContain(value);
    }
  });
});
