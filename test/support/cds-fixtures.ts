/**
 * FHIR records for the CDS Hooks tests, written by the same builders the app writes with (fhir/builders.ts,
 * review-builders.ts), so the cards are tested against what an analysis and a signing really store: a patient's
 * lumbar MRI ImagingStudy, an analysis (report + level Observations), its signing, its superseding.
 */
import type { Bundle, DiagnosticReport, FhirResource, ImagingStudy, Observation, ServiceRequest } from 'fhir/r4';
import { findingToObservation, findingsToDiagnosticReport, type AnalysisContext } from '../../server/src/fhir/builders';
import { signAnalysis } from '../../server/src/fhir/review-builders';
import type { Findings, LevelFinding, LevelReviewInput, ModelRef } from '../../server/src/findings/findings';

export const SNOMED = 'http://snomed.info/sct';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const DEFAULT_MODEL: ModelRef = { id: 'msu-ldh', version: '1.8.0' };

export function lumbarMriStudy(
  id: string,
  patientId: string,
  started: string,
  uid = `1.2.826.0.1.${id.length}`,
): ImagingStudy & { id: string } {
  return {
    resourceType: 'ImagingStudy',
    id,
    status: 'available',
    identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }],
    subject: { reference: `Patient/${patientId}` },
    started,
    modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' }],
    procedureCode: [{ coding: [{ system: CPT, code: '72148', display: 'MRI lumbar spine without contrast' }] }],
  };
}

/** Levels of an analysis: L4-L5 2-AB left, L5-S1 1-A central, the rest normal (unless given). */
export function levels(
  herniated: Partial<
    Record<
      string,
      Omit<LevelFinding & { herniation: true }, 'level' | 'herniation' | 'keySlice' | 'box' | 'confidence'>
    >
  > = {
    'L4-L5': { grade: 2, zone: 'AB', side: 'left' },
    'L5-S1': { grade: 1, zone: 'A', side: 'central' },
  },
): LevelFinding[] {
  return (['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'] as const).map((level, index): LevelFinding => {
    const reading = herniated[level];
    const keySlice = { sopInstanceUid: `1.2.3.9.${index}`, frame: 1 };
    return reading
      ? { level, herniation: true, ...reading, confidence: 0.9, keySlice, box: [1, 2, 3, 4] }
      : { level, herniation: false, confidence: 0.95, keySlice };
  });
}

export interface StoredAnalysis {
  report: DiagnosticReport & { id: string };
  observations: (Observation & { id: string })[];
  findings: Findings;
}

/** What one analysis of `study` writes: the report (preliminary) and one Observation per level, with ids. */
export function analysis(options: {
  study: ImagingStudy & { id: string };
  reportId: string;
  issued: string;
  model?: ModelRef;
  levels?: LevelFinding[];
  replaces?: string;
}): StoredAnalysis {
  const studyInstanceUid = options.study.identifier?.[0]?.value?.replace('urn:oid:', '') ?? '1.2.3';
  const findings: Findings = {
    studyInstanceUid,
    seriesInstanceUid: `${studyInstanceUid}.1`,
    model: options.model ?? DEFAULT_MODEL,
    levels: options.levels ?? levels(),
    ...(options.study.started ? { acquisitionDateTime: options.study.started } : {}),
    warnings: [],
  };
  const context: AnalysisContext = {
    subject: options.study.subject,
    imagingStudy: { reference: `ImagingStudy/${options.study.id}` },
    issued: options.issued,
  };
  const device = { reference: 'Device/model' };
  const observations = findings.levels.map((level, index) => ({
    ...findingToObservation(level, findings, context, { device }),
    id: `${options.reportId}-o${index}`,
  }));
  const report = {
    ...findingsToDiagnosticReport(findings, context, {
      device,
      observations: observations.map((o) => ({ reference: `Observation/${o.id}` })),
      ...(options.replaces ? { replaces: { reference: options.replaces } } : {}),
    }),
    id: options.reportId,
    meta: { versionId: '1', lastUpdated: options.issued },
  };
  return { report, observations, findings };
}

/** The analysis signed by Dr. Synthetic Clinician at `signedAt`, with these decisions (default: confirm every level). */
export function signed(stored: StoredAnalysis, signedAt: string, decisions?: LevelReviewInput[]): StoredAnalysis {
  const result = signAnalysis(
    {
      report: stored.report,
      baseVersionId: '1',
      observations: stored.observations,
      model: stored.findings.model,
      decisions: decisions ?? stored.findings.levels.map((level) => ({ level: level.level, decision: 'confirm' })),
    },
    {
      signer: { reference: 'Practitioner/dr1', display: 'Dr. Synthetic Clinician' },
      signedAt,
      reviewKey: 'k',
    },
  );
  const byId = new Map(result.levels.map((level) => [level.observation.id, level.observation]));
  return {
    ...stored,
    report: { ...result.report, meta: { ...result.report.meta, versionId: '2', lastUpdated: signedAt } },
    observations: stored.observations.map((observation) => byId.get(observation.id) ?? observation),
  };
}

/** The earlier analysis as write-findings.ts leaves it once a newer model's analysis supersedes it. */
export function superseded(stored: StoredAnalysis): StoredAnalysis {
  return {
    ...stored,
    report: { ...stored.report, status: 'cancelled' },
    observations: stored.observations.map((observation) => ({ ...observation, status: 'cancelled' })),
  };
}

export function searchset(resources: readonly FhirResource[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((resource) => ({ resource })),
  };
}

/** A draft ServiceRequest for the patient with one coding. */
export function draftOrder(id: string, patientId: string, system: string, code: string, text = code): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    id,
    status: 'draft',
    intent: 'order',
    subject: { reference: `Patient/${patientId}` },
    code: { coding: [{ system, code }], text },
  };
}

/** The prefetch of our services for this record (as an EHR fills the templates). */
export function prefetchOf(
  patientId: string,
  studies: ImagingStudy[],
  analyses: StoredAnalysis[],
): Record<string, unknown> {
  return {
    patient: { resourceType: 'Patient', id: patientId },
    studies: searchset(studies),
    reports: searchset(analyses.map((a) => a.report)),
    observations: searchset(analyses.flatMap((a) => a.observations)),
  };
}
