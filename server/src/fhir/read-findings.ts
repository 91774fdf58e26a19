/**
 * The inverse of the builders: our stored DiagnosticReports of a study, and one of them with its Observations and
 * DICOM SR back as Findings, so the API answers with what the EHR holds rather than a recomputation
 * (docs/fhir-mapping.md §Reading results back).
 *
 * Reports are found by our own identifier system (`identifier=<system>|`, a token search on the system alone, R4
 * search.html#token) with the patient, newest first (`_sort=-issued`), following every page: a patient with many
 * imaging reports must not hide ours beyond the first page.
 */
import type { DiagnosticReport, DocumentReference, Observation, ObservationComponent, Reference } from 'fhir/r4';
import {
  DISC_LEVELS,
  type DiscLevel,
  type Findings,
  type HerniationSide,
  type LevelAssignment,
  type LevelFinding,
  type ModelRef,
  type MsuGrade,
  type MsuZone,
} from '../findings/findings';
import {
  AI_TEXT,
  COMPONENT_CODES,
  LEVEL_BODY_SITES,
  LUMBAR_DISC_DISPLACEMENT,
  REPORT_IDENTIFIER_SYSTEM,
} from './codes';
import { LDH_CDS_CODE_SYSTEM } from './definitions';
import type { FhirClient } from './fhir-client';

/** Statuses of a report a clinician has signed (FHIR R4 diagnostic-report-status). */
const SIGNED_STATUSES = new Set<DiagnosticReport['status']>(['final', 'amended', 'corrected', 'appended']);
/** Statuses of a report that no longer stands: withdrawn, or superseded by a newer analysis (write-findings.ts). */
const WITHDRAWN_STATUSES = new Set<DiagnosticReport['status']>(['cancelled', 'entered-in-error']);

export const isSignedReport = (report: Pick<DiagnosticReport, 'status'>): boolean => SIGNED_STATUSES.has(report.status);
export const isWithdrawnReport = (report: Pick<DiagnosticReport, 'status'>): boolean =>
  WITHDRAWN_STATUSES.has(report.status);

export interface StoredAnalysis {
  findings: Findings;
  diagnosticReport: string;
  observations: string[];
  status: DiagnosticReport['status'];
  issued?: string;
  /** The DocumentReference holding the DICOM SR, when one was written. */
  structuredReport?: string;
}

/** One of our reports on a study, as the search found it. */
export interface StoredReport {
  report: DiagnosticReport & { id: string };
  model: ModelRef;
}

export interface StudyOfReports {
  /** `ImagingStudy/<id>`. */
  reference: string;
  subject: Reference;
  studyInstanceUid: string;
}

/** `<study>/<model id>/<version>` (builders.ts `analysisKey`) → the model; undefined for another study's report. */
function modelOfReport(report: DiagnosticReport, studyInstanceUid: string): ModelRef | undefined {
  const value = report.identifier?.find((identifier) => identifier.system === REPORT_IDENTIFIER_SYSTEM)?.value ?? '';
  const prefix = `${studyInstanceUid}/`;
  if (!value.startsWith(prefix)) return undefined;
  const [id, version, ...rest] = value.slice(prefix.length).split('/');
  return id && version && rest.length === 0 ? { id, version } : undefined;
}

function isReportOf(report: DiagnosticReport, studyReference: string): boolean {
  return (report.imagingStudy ?? []).some(
    (ref) => ref.reference === studyReference || ref.reference?.endsWith(`/${studyReference}`),
  );
}

/** Our reports on the study, newest first, withdrawn ones included (the caller decides what they mean). */
export async function findStoredReports(client: FhirClient, study: StudyOfReports): Promise<StoredReport[]> {
  const params: Record<string, string> = { identifier: `${REPORT_IDENTIFIER_SYSTEM}|`, _sort: '-issued' };
  if (study.subject.reference) params.subject = study.subject.reference;
  const reports = await client.searchAll<DiagnosticReport>('DiagnosticReport', params);
  return reports
    .filter((report): report is DiagnosticReport & { id: string } => report.id !== undefined)
    .filter((report) => isReportOf(report, study.reference))
    .flatMap((report) => {
      const model = modelOfReport(report, study.studyInstanceUid);
      return model ? [{ report, model }] : [];
    })
    .sort((a, b) => (b.report.issued ?? '').localeCompare(a.report.issued ?? ''));
}

/** The report that stands for the study: a signed one before a preliminary one, never a withdrawn one; else newest. */
export function currentReport(reports: readonly StoredReport[]): StoredReport | undefined {
  const standing = reports.filter(({ report }) => !isWithdrawnReport(report));
  return standing.find(({ report }) => isSignedReport(report)) ?? standing[0];
}

const hasCode = (component: ObservationComponent, code: string | undefined): boolean =>
  component.code.coding?.some((coding) => coding.code === code) ?? false;
const component = (observation: Observation, code: string | undefined): ObservationComponent | undefined =>
  observation.component?.find((c) => hasCode(c, code));
const ourCode = (component: ObservationComponent | undefined): string | undefined =>
  component?.valueCodeableConcept?.coding?.find((coding) => coding.system === LDH_CDS_CODE_SYSTEM)?.code;

function levelOf(observation: Observation): DiscLevel | undefined {
  const codes = new Set((observation.bodySite?.coding ?? []).map((coding) => coding.code));
  return DISC_LEVELS.find((level) => codes.has(LEVEL_BODY_SITES[level].code));
}

const SIDES: Record<string, HerniationSide> = { '7771000': 'left', '24028007': 'right', central: 'central' };
const CLASS_CODE = /^([123])-(A|B|C|AB|BC)$/;

function msuClassOf(code: string | undefined): { grade: MsuGrade; zone: MsuZone } | undefined {
  const match = CLASS_CODE.exec(code ?? '');
  return match ? { grade: Number(match[1]) as MsuGrade, zone: match[2] as MsuZone } : undefined;
}

/**
 * One stored Observation → its level finding; the geometry (box, intra-facet line) comes from the SR's measurement
 * group for the level, when the SR is at hand.
 */
export function observationToLevelFinding(
  observation: Observation,
  geometry: Partial<Record<DiscLevel, LevelFinding>> = {},
): LevelFinding | undefined {
  const level = levelOf(observation);
  if (!level) return undefined;
  const confidence = component(observation, COMPONENT_CODES.confidence.code)?.valueQuantity?.value ?? 0;
  const sop = component(observation, COMPONENT_CODES.keySopInstanceUid.code)?.valueString;
  const frame = component(observation, COMPONENT_CODES.keyFrame.code)?.valueInteger ?? 1;
  const keySlice = sop ? { sopInstanceUid: sop, frame } : undefined;
  const warnings = (observation.note ?? []).map((note) => note.text).filter((text) => text.length > 0);
  const measured = geometry[level];
  const intraFacetLine = measured?.intraFacetLine;
  const common = {
    level,
    confidence,
    ...(intraFacetLine ? { intraFacetLine } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
  const herniated = observation.valueCodeableConcept?.coding?.some(
    (coding) => coding.system === LUMBAR_DISC_DISPLACEMENT.system && coding.code === LUMBAR_DISC_DISPLACEMENT.code,
  );
  const msuClass = msuClassOf(ourCode(component(observation, COMPONENT_CODES.msuClass.code)));
  if (!herniated || !msuClass || !keySlice) return { ...common, herniation: false, ...(keySlice ? { keySlice } : {}) };
  const sideCoding = component(observation, COMPONENT_CODES.side.code)?.valueCodeableConcept?.coding ?? [];
  const side = sideCoding.map((coding) => SIDES[coding.code ?? '']).find((value) => value !== undefined) ?? 'central';
  const disagreementComponent = component(observation, COMPONENT_CODES.geometryDisagreement.code);
  const other = msuClassOf(ourCode(disagreementComponent));
  const measuredBy = disagreementComponent?.valueCodeableConcept?.text?.startsWith('classifier')
    ? 'classifier'
    : 'geometry';
  return {
    ...common,
    herniation: true,
    ...msuClass,
    side,
    keySlice,
    box: measured?.herniation ? measured.box : [0, 0, 0, 0],
    ...(other ? { disagreement: { measuredBy, ...other } } : {}),
  };
}

function levelAssignmentOf(observations: readonly Observation[]): LevelAssignment | undefined {
  for (const observation of observations) {
    const assignment = component(observation, COMPONENT_CODES.levelAssignment.code);
    const method = ourCode(assignment);
    const description = assignment?.valueCodeableConcept?.text;
    if ((method === 'sagittal-cross-reference' || method === 'counted-from-lowest-stack') && description)
      return { method, description };
  }
  return undefined;
}

/** The warnings the report's conclusion lists after the level lines (builders.ts `findingsToConclusion`). */
function reportWarnings(report: DiagnosticReport, levels: readonly string[], assignment?: LevelAssignment): string[] {
  const skip = new Set([...levels, assignment?.description ?? '']);
  return (report.conclusion ?? '')
    .split('\n')
    .slice(1)
    .filter((line) => line.length > 0 && !skip.has(line) && !line.startsWith(AI_TEXT));
}

/**
 * Reads the levels (with their geometry) out of a DICOM SR Part 10 file: the sr stage's reader, passed in by the
 * pipeline (stages do not import each other, docs/architecture.md §Dependency direction).
 */
export type StructuredReportReader = (part10: Uint8Array) => LevelFinding[];

/** The levels with their geometry from the SR attached to the DocumentReference. */
function readGeometry(
  document: DocumentReference | undefined,
  readStructuredReport: StructuredReportReader | undefined,
): { levels: Partial<Record<DiscLevel, LevelFinding>>; problem?: string } {
  if (!document || !readStructuredReport) return { levels: {} };
  const name = `DocumentReference/${document.id ?? ''}`;
  const data = document.content.find((content) => content.attachment.contentType === 'application/dicom')?.attachment
    .data;
  if (!data) return { levels: {}, problem: `${name} holds no DICOM SR` };
  try {
    const levels = readStructuredReport(Buffer.from(data, 'base64'));
    return { levels: Object.fromEntries(levels.map((level) => [level.level, level])) };
  } catch (error) {
    return { levels: {}, problem: `the DICOM SR in ${name} could not be read (${(error as Error).message})` };
  }
}

/** A report's Observations (as read, with their versions) and the DocumentReference of its SR. */
export async function readAnalysisResources(
  client: FhirClient,
  report: DiagnosticReport,
): Promise<{ observations: (Observation & { id: string })[]; document?: DocumentReference & { id: string } }> {
  const observationRefs = (report.result ?? []).map((ref) => ref.reference ?? '').filter((ref) => ref.length > 0);
  const observations = (await Promise.all(observationRefs.map((ref) => client.read<Observation>(ref)))).filter(
    (observation): observation is Observation & { id: string } => observation.id !== undefined,
  );
  const documentRef = documentReferenceOf(observations);
  const document = documentRef ? await client.read<DocumentReference>(documentRef) : undefined;
  return { observations, ...(document?.id ? { document: { ...document, id: document.id } } : {}) };
}

function documentReferenceOf(observations: readonly Observation[]): string | undefined {
  return observations
    .flatMap((observation) => observation.derivedFrom ?? [])
    .map((ref) => ref.reference ?? '')
    .find((ref) => ref.startsWith('DocumentReference/'));
}

/** One stored report with its Observations and SR, as Findings. */
export async function readStoredAnalysis(
  client: FhirClient,
  stored: StoredReport,
  study: Pick<StudyOfReports, 'studyInstanceUid'>,
  readStructuredReport?: StructuredReportReader,
): Promise<StoredAnalysis> {
  const { report, model } = stored;
  const { observations, document } = await readAnalysisResources(client, report);
  const geometry = readGeometry(document, readStructuredReport);
  const levels = observations
    .map((observation) => observationToLevelFinding(observation, geometry.levels))
    .filter((level): level is LevelFinding => level !== undefined)
    .sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level));
  const levelAssignment = levelAssignmentOf(observations);
  const seriesInstanceUid =
    observations
      .map((o) => component(o, COMPONENT_CODES.keySeriesUid.code)?.valueString)
      .find((uid) => uid !== undefined) ?? '';
  const levelLines = levels.map((level) =>
    level.herniation ? `${level.level}: ${level.grade}-${level.zone} (${level.side})` : `${level.level}: no herniation`,
  );
  const warnings = [
    ...reportWarnings(report, levelLines, levelAssignment),
    ...(geometry.problem ? [`The boxes cannot be shown: ${geometry.problem}`] : []),
  ];
  return {
    findings: {
      studyInstanceUid: study.studyInstanceUid,
      seriesInstanceUid,
      model,
      levels,
      ...(levelAssignment ? { levelAssignment } : {}),
      ...(report.effectiveDateTime ? { acquisitionDateTime: report.effectiveDateTime } : {}),
      warnings,
    },
    diagnosticReport: `DiagnosticReport/${report.id}`,
    observations: observations.map((observation) => `Observation/${observation.id}`),
    status: report.status,
    ...(report.issued ? { issued: report.issued } : {}),
    ...(document ? { structuredReport: `DocumentReference/${document.id}` } : {}),
  };
}
