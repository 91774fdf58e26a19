/**
 * The results an analysis leaves in the EHR, against the real mock EHR (medplum FHIR engine, SMART tokens, DICOMweb
 * store) and the real app server with the phantom model (docs/fhir-mapping.md): every resource validates with an
 * independent R4 validator and our definitions; re-analysis answers what the EHR holds; a new model version
 * supersedes an AI report awaiting review but never a signed one; our report is found behind many other imaging
 * reports; a failed or half-answered write leaves exactly one analysis; the SR reaches the PACS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Bundle, DiagnosticReport, FhirResource, Observation, Provenance } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startAppServer, type RunningServer } from '../../server/src/app';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadConfig } from '../../server/src/config';
import type { Findings } from '../../server/src/findings/findings';
import { REPORT_IDENTIFIER_SYSTEM } from '../../server/src/fhir/codes';
import { validateFhir } from '../support/fhir-validation';
import { modelVariant } from '../support/model-variant';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

interface AnalysisBody {
  findings: Findings;
  diagnosticReport: string;
  observations: string[];
  status: string;
  created?: boolean;
  superseded?: string;
  structuredReport?: string;
  structuredReportUid?: string;
  structuredReportInPacs?: boolean;
}

let sandbox: Sandbox;
let newerApp: RunningServer;
let variantDir: string;

beforeAll(async () => {
  sandbox = await startSandbox({
    patientCount: 6,
    generateStudy: generatePhantomStudy,
    appEnv: { MODEL_DIR: TINY_MODEL_DIR, SR_STOW: 'true', LOG_LEVEL: 'silent' },
  });
  // The same networks as a newer release: what a site sees when it upgrades the model.
  variantDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-newer-model-'));
  await modelVariant(TINY_MODEL_DIR, variantDir, (manifest) => {
    manifest.version = '0.2.0';
  });
  newerApp = await startAppServer(
    loadConfig({
      APP_PORT: String(await findFreePort()),
      FHIR_BASE_URLS: sandbox.ehr.fhirBaseUrl,
      MODEL_DIR: variantDir,
      LOG_LEVEL: 'silent',
      CDS_CLIENTS_FILE: '/nonexistent',
      CLIENT_DIST_DIR: '/nonexistent',
    }),
  );
});

afterAll(async () => {
  await newerApp.close();
  await sandbox.close();
  await rm(variantDir, { recursive: true, force: true });
});

const patient = (index: number) => seededPatient(sandbox, index);
const tokenFor = (patientId: string): Promise<string> => appTokenFor(sandbox, patientId);

async function analyze(
  appUrl: string,
  imagingStudyId: string,
  token: string,
): Promise<{ status: number; body: AnalysisBody }> {
  const response = await fetch(`${appUrl}/api/analyses`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
      'Content-Type': 'application/json',
      // Answered when the analysis is done (RFC 7240), as before analyses became jobs.
      Prefer: 'wait=600',
    },
    body: JSON.stringify({ imagingStudy: `ImagingStudy/${imagingStudyId}` }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`POST /api/analyses answered ${response.status}: ${text}`);
  return { status: response.status, body: JSON.parse(text) as AnalysisBody };
}

async function storedAnalysis(imagingStudyId: string, token: string): Promise<AnalysisBody> {
  const response = await fetch(`${sandbox.app.url}/api/analyses?imagingStudy=ImagingStudy/${imagingStudyId}`, {
    headers: { Authorization: `Bearer ${token}`, 'X-FHIR-Server': sandbox.ehr.fhirBaseUrl },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as AnalysisBody;
}

async function fhir<T extends FhirResource>(token: string, pathAndQuery: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${sandbox.ehr.fhirBaseUrl}/${pathAndQuery}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/fhir+json',
      ...(init.headers as Record<string, string>),
    },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`FHIR ${pathAndQuery} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Every one of our reports on the patient, withdrawn ones included, across all pages. */
async function ourReports(token: string, patientId: string): Promise<DiagnosticReport[]> {
  const bundle = await fhir<Bundle>(
    token,
    `DiagnosticReport?subject=Patient/${patientId}&identifier=${encodeURIComponent(`${REPORT_IDENTIFIER_SYSTEM}|`)}&_count=100`,
  );
  return (bundle.entry ?? []).map((entry) => entry.resource as DiagnosticReport);
}

async function provenancesOf(token: string, report: string): Promise<Provenance[]> {
  const bundle = await fhir<Bundle>(token, `Provenance?target=${report}&_count=100`);
  return (bundle.entry ?? []).map((entry) => entry.resource as Provenance);
}

describe('when a study is analyzed', () => {
  let token: string;
  let first: AnalysisBody;

  beforeAll(async () => {
    token = await tokenFor(patient(0).patientId);
    const { status, body } = await analyze(sandbox.app.url, patient(0).imagingStudyId, token);
    expect(status).toBe(201);
    first = body;
  });

  it('then the report, every Observation, the SR document, the Device and the Provenance validate as R4 with our codes', async () => {
    const report = await fhir<DiagnosticReport>(token, first.diagnosticReport);
    const observations = await Promise.all(first.observations.map((ref) => fhir<Observation>(token, ref)));
    const written: FhirResource[] = [report, ...observations];
    written.push(await fhir(token, first.structuredReport ?? 'DocumentReference/missing'));
    const device = report.performer?.[0]?.extension?.[0]?.valueReference?.reference ?? 'Device/missing';
    written.push(await fhir(token, device));
    const provenances = await provenancesOf(token, first.diagnosticReport);
    expect(provenances).toHaveLength(1);
    written.push(...provenances);
    for (const resource of written) expect(validateFhir(resource), resource.resourceType).toEqual([]);
    expect(provenances[0]?.agent[0]?.who.reference).toBe(device);
    expect(provenances[0]?.entity).toEqual([
      { role: 'source', what: { reference: `ImagingStudy/${patient(0).imagingStudyId}` } },
    ]);
  });

  it('then a level without herniation is an Observation with the explicit absent finding, one per assessed level', async () => {
    const observations = await Promise.all(first.observations.map((ref) => fhir<Observation>(token, ref)));
    expect(observations).toHaveLength(first.findings.levels.length);
    const negative = first.findings.levels.find((level) => !level.herniation);
    expect(negative).toBeDefined();
    const written = observations.find((observation) => observation.bodySite?.text === negative?.level);
    expect(written?.code.coding?.[0]?.code).toBe('121071');
    expect(written?.valueCodeableConcept?.coding?.[0]?.code).toBe('no-herniation');
  });

  it('then the answer is what the EHR holds, boxes included (read back from the SR)', async () => {
    const stored = await storedAnalysis(patient(0).imagingStudyId, token);
    expect(stored.findings).toEqual(first.findings);
    expect(first.findings.levels.some((level) => level.herniation && level.box.some((value) => value > 0))).toBe(true);
  });

  it('when the same model analyzes it again, then the stored resources are the answer and nothing is written', async () => {
    const before = await ourReports(token, patient(0).patientId);
    const again = await analyze(sandbox.app.url, patient(0).imagingStudyId, token);
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    expect(again.body.diagnosticReport).toBe(first.diagnosticReport);
    expect(again.body.findings).toEqual(first.findings);
    expect(await ourReports(token, patient(0).patientId)).toHaveLength(before.length);
  });

  it('then the DICOM SR is stored in the study on the PACS (STOW-RS)', async () => {
    expect(first.structuredReportInPacs).toBe(true);
    const response = await fetch(`${sandbox.ehr.dicomWebUrl}/studies/${patient(0).studyInstanceUid}/series`, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/dicom+json' },
    });
    const series = (await response.json()) as Record<string, { Value?: unknown[] }>[];
    expect(series.map((item) => item['00080060']?.Value?.[0])).toContain('SR');
  });
});

describe('when a newer model version analyzes a study', () => {
  it('then an AI report awaiting review is superseded: cancelled, named by the new report, which now stands', async () => {
    const token = await tokenFor(patient(1).patientId);
    const older = await analyze(sandbox.app.url, patient(1).imagingStudyId, token);
    const newer = await analyze(newerApp.url, patient(1).imagingStudyId, token);
    expect(newer.status).toBe(201);
    expect(newer.body.superseded).toBe(older.body.diagnosticReport);
    const old = await fhir<DiagnosticReport>(token, older.body.diagnosticReport);
    expect(old.status).toBe('cancelled');
    expect(old.conclusion).toMatch(/^Superseded on .* by the msu-ldh-phantom 0\.2\.0 analysis/);
    const oldObservation = await fhir<Observation>(token, older.body.observations[0] ?? '');
    expect(oldObservation.status).toBe('cancelled');
    const report = await fhir<DiagnosticReport>(token, newer.body.diagnosticReport);
    expect(report.extension).toContainEqual({
      url: 'http://hl7.org/fhir/StructureDefinition/diagnosticReport-replaces',
      valueReference: { reference: older.body.diagnosticReport },
    });
    expect((await storedAnalysis(patient(1).imagingStudyId, token)).diagnosticReport).toBe(newer.body.diagnosticReport);
    for (const resource of [old, oldObservation, report]) expect(validateFhir(resource)).toEqual([]);
  });

  it('then a report a clinician has signed is never superseded and still stands', async () => {
    const token = await tokenFor(patient(2).patientId);
    const older = await analyze(sandbox.app.url, patient(2).imagingStudyId, token);
    const report = await fhir<DiagnosticReport>(token, older.body.diagnosticReport);
    await fhir(token, older.body.diagnosticReport, {
      method: 'PUT',
      body: JSON.stringify({ ...report, status: 'final' }),
    });
    const newer = await analyze(newerApp.url, patient(2).imagingStudyId, token);
    expect(newer.status).toBe(201);
    expect(newer.body.superseded).toBeUndefined();
    expect((await fhir<DiagnosticReport>(token, older.body.diagnosticReport)).status).toBe('final');
    const written = await fhir<DiagnosticReport>(token, newer.body.diagnosticReport);
    expect(written.extension ?? []).toEqual([]);
    expect((await storedAnalysis(patient(2).imagingStudyId, token)).diagnosticReport).toBe(older.body.diagnosticReport);
  });
});

describe('when the patient has many other imaging reports', () => {
  it('then ours is still found, though a search by code would leave it beyond the first page', async () => {
    const token = await tokenFor(patient(3).patientId);
    // Written first (the server's default order) and issued later (newest first): either way ours would be 31st.
    for (let index = 0; index < 30; index++) {
      await fhir(token, 'DiagnosticReport', {
        method: 'POST',
        body: JSON.stringify({
          resourceType: 'DiagnosticReport',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '18748-4' }] },
          subject: { reference: `Patient/${patient(3).patientId}` },
          imagingStudy: [{ reference: `ImagingStudy/${patient(3).imagingStudyId}` }],
          issued: new Date(Date.now() + (index + 1) * 3_600_000).toISOString(),
          conclusion: `Outside report ${index}`,
        }),
      });
    }
    const ours = await analyze(sandbox.app.url, patient(3).imagingStudyId, token);
    const byCode = await fhir<Bundle>(
      token,
      `DiagnosticReport?subject=Patient/${patient(3).patientId}&code=http://loinc.org|18748-4&_sort=-issued`,
    );
    expect(byCode.entry?.map((entry) => `DiagnosticReport/${entry.resource?.id ?? ''}`)).not.toContain(
      ours.body.diagnosticReport,
    );
    expect((await storedAnalysis(patient(3).imagingStudyId, token)).diagnosticReport).toBe(ours.body.diagnosticReport);
    const again = await analyze(sandbox.app.url, patient(3).imagingStudyId, token);
    expect(again.body.created).toBe(false);
  });
});

describe('when the FHIR write fails on the way', () => {
  it('when the server answers 503 and then 200, then exactly one analysis is written', async () => {
    const token = await tokenFor(patient(4).patientId);
    sandbox.ehr.faults.failTransactions = 1;
    const { status, body } = await analyze(sandbox.app.url, patient(4).imagingStudyId, token);
    expect(sandbox.ehr.faults.failTransactions).toBe(0);
    expect(status).toBe(201);
    expect(await ourReports(token, patient(4).patientId)).toHaveLength(1);
    expect(await provenancesOf(token, body.diagnosticReport)).toHaveLength(1);
  });

  it('when the transaction lands but its answer is lost, then the retry duplicates nothing', async () => {
    const token = await tokenFor(patient(5).patientId);
    sandbox.ehr.faults.loseTransactionAnswers = 1;
    const { body } = await analyze(sandbox.app.url, patient(5).imagingStudyId, token);
    expect(sandbox.ehr.faults.loseTransactionAnswers).toBe(0);
    expect(await ourReports(token, patient(5).patientId)).toHaveLength(1);
    expect(await provenancesOf(token, body.diagnosticReport)).toHaveLength(1);
    const observations = await fhir<Bundle>(token, `Observation?subject=Patient/${patient(5).patientId}&_count=100`);
    expect(observations.entry).toHaveLength(body.findings.levels.length);
  });
});
