/**
 * The inverse of the builders: our stored DiagnosticReports of a study, and one of them with its Observations and
 * DICOM SR back as Findings, so the API answers with what the EHR holds rather than a recomputation
 * (docs/fhir-mapping.md §Reading results back).
 *
 * Reports are found by our own identifier system (`identifier=<system>|`, a token search on the system alone, R4
 * search.html#token) with the patient, newest first (`_sort=-issued`), following every page: a patient with many
 * imaging reports must not hide ours beyond the first page.
 */
import type { DiagnosticReport, DocumentReference, Observation, Provenance, Reference } from 'fhir/r4';
import {
  DISC_LEVELS,
  type DiscLevel,
  type Findings,
  type LevelAssignment,
  type LevelFinding,
  type ModelRef,
  type Signature,
} from '../findings/findings';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { AI_TEXT, COMPONENT_CODES, REPORT_IDENTIFIER_SYSTEM, VERIFIER_PARTICIPANT } from './codes';
import type { FhirClient } from './fhir-client';
import {
  COMMENT_PREFIX,
  componentOf,
  isClinicianNote,
  isConclusionLevelLine,
  levelOf,
  msuClassOf,
  observationReading,
  observationReview,
  ourCodeOf,
} from './observation-reading';

/** Statuses of a report a clinician has signed (FHIR R4 diagnostic-report-status). */
const SIGNED_STATUSES = new Set<DiagnosticReport['status']>(['final', 'amended', 'corrected', 'appended']);
/** Statuses of a report that no longer stands: withdrawn, or superseded by a newer analysis (write-findings.ts). */
const WITHDRAWN_STATUSES = new Set<DiagnosticReport['status']>(['cancelled', 'entered-in-error']);

export const isSignedReport = (report: Pick<DiagnosticReport, 'status'>): boolean => SIGNED_STATUSES.has(report.status);
export const isWithdrawnReport = (report: Pick<DiagnosticReport, 'status'>): boolean =>
  WITHDRAWN_STATUSES.has(report.status);

/** One version of the report (R4 `GET DiagnosticReport/<id>/_history`), newest first. */
export interface ReportVersion {
  versionId: string;
  status: DiagnosticReport['status'];
  /** meta.lastUpdated: when this version was stored. */
  at: string;
  /** Who this version is by: the signing clinician of a signed version, else the AI model (the report's performer). */
  by?: string;
}

export interface StoredAnalysis {
  findings: Findings;
  diagnosticReport: string;
  /** The report's meta.versionId: a review sends it back, and fails (409) when the report changed since. */
  versionId: string;
  observations: string[];
  status: DiagnosticReport['status'];
  issued?: string;
  /** The DocumentReference holding the DICOM SR, when one was written. */
  structuredReport?: string;
  /** Every version of the report, newest first: the AI's, each signing and amendment, a withdrawal. */
  history: ReportVersion[];
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

/**
 * The study and model of one of our reports, from its analysis identifier alone (`<study>/<model id>/<version>`; a
 * Study Instance UID holds no `/`); undefined for a report that is not ldh-cds's.
 */
export function analysisOfReport(report: DiagnosticReport): { studyInstanceUid: string; model: ModelRef } | undefined {
  const value = report.identifier?.find((identifier) => identifier.system === REPORT_IDENTIFIER_SYSTEM)?.value ?? '';
  const [studyInstanceUid, id, version, ...rest] = value.split('/');
  return studyInstanceUid && id && version && rest.length === 0
    ? { studyInstanceUid, model: { id, version } }
    : undefined;
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

/**
 * One stored Observation → its level finding: the reading it holds (the clinician's once signed), with the review
 * recorded on it when `withReview` (a signed report); the geometry (box, intra-facet line) comes from the SR's
 * measurement group for the level, when the SR is at hand.
 */
export function observationToLevelFinding(
  observation: Observation,
  geometry: Partial<Record<DiscLevel, LevelFinding>> = {},
  withReview = false,
): LevelFinding | undefined {
  const level = levelOf(observation);
  if (!level) return undefined;
  const confidence = componentOf(observation, COMPONENT_CODES.confidence)?.valueQuantity?.value ?? 0;
  const sop = componentOf(observation, COMPONENT_CODES.keySopInstanceUid)?.valueString;
  const frame = componentOf(observation, COMPONENT_CODES.keyFrame)?.valueInteger ?? 1;
  const keySlice = sop ? { sopInstanceUid: sop, frame } : undefined;
  // The AI's warnings; the clinician's notes (a comment, a rejection) are the review's.
  const warnings = (observation.note ?? [])
    .filter((note) => !isClinicianNote(note))
    .map((note) => note.text)
    .filter((text) => text.length > 0);
  const measured = geometry[level];
  const intraFacetLine = measured?.intraFacetLine;
  const review = withReview ? observationReview(observation) : undefined;
  const common = {
    level,
    confidence,
    ...(intraFacetLine ? { intraFacetLine } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(review ? { review } : {}),
  };
  const read = observationReading(observation);
  if (!read.herniation || !keySlice) return { ...common, herniation: false, ...(keySlice ? { keySlice } : {}) };
  const disagreementComponent = componentOf(observation, COMPONENT_CODES.geometryDisagreement);
  const other = msuClassOf(ourCodeOf(disagreementComponent));
  const measuredBy = disagreementComponent?.valueCodeableConcept?.text?.startsWith('classifier')
    ? 'classifier'
    : 'geometry';
  return {
    ...common,
    herniation: true,
    grade: read.grade ?? 1,
    zone: read.zone ?? 'A',
    side: read.side ?? 'central',
    keySlice,
    box: measured?.herniation ? measured.box : [0, 0, 0, 0],
    ...(other ? { disagreement: { measuredBy, ...other } } : {}),
  };
}

function levelAssignmentOf(observations: readonly Observation[]): LevelAssignment | undefined {
  for (const observation of observations) {
    const assignment = componentOf(observation, COMPONENT_CODES.levelAssignment);
    const method = ourCodeOf(assignment);
    const description = assignment?.valueCodeableConcept?.text;
    if ((method === 'sagittal-cross-reference' || method === 'counted-from-lowest-stack') && description)
      return { method, description };
  }
  return undefined;
}

/**
 * The warnings the report's conclusion lists after the level lines (builders.ts `findingsToConclusion`); a signed
 * report's level lines and comment are not warnings (review-builders.ts `signedConclusion`).
 */
function reportWarnings(report: DiagnosticReport, assignment?: LevelAssignment): string[] {
  return (report.conclusion ?? '')
    .split('\n')
    .slice(1)
    .filter(
      (line) =>
        line.length > 0 &&
        line !== assignment?.description &&
        !isConclusionLevelLine(line) &&
        !line.startsWith(COMMENT_PREFIX) &&
        !line.startsWith(AI_TEXT),
    );
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
  const reference = `DiagnosticReport/${report.id}`;
  const signed = isSignedReport(report);
  const [{ observations, document }, history, signature] = await Promise.all([
    readAnalysisResources(client, report),
    readReportHistory(client, reference),
    signed ? readSignature(client, reference) : Promise.resolve(undefined),
  ]);
  const geometry = readGeometry(document, readStructuredReport);
  const levels = observations
    .map((observation) => observationToLevelFinding(observation, geometry.levels, signed))
    .filter((level): level is LevelFinding => level !== undefined)
    .sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level));
  const levelAssignment = levelAssignmentOf(observations);
  const seriesInstanceUid =
    observations
      .map((o) => componentOf(o, COMPONENT_CODES.keySeriesUid)?.valueString)
      .find((uid) => uid !== undefined) ?? '';
  const warnings = [
    ...reportWarnings(report, levelAssignment),
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
      ...(signature ? { signature } : {}),
      warnings,
    },
    diagnosticReport: reference,
    versionId: report.meta?.versionId ?? '',
    observations: observations.map((observation) => `Observation/${observation.id}`),
    status: report.status,
    ...(report.issued ? { issued: report.issued } : {}),
    ...(document ? { structuredReport: `DocumentReference/${document.id}` } : {}),
    history,
  };
}

/** Who a report version is by: its signer (resultsInterpreter) when signed, else its performer (the AI model). */
function versionAuthor(version: DiagnosticReport): string | undefined {
  const by = isSignedReport(version) ? version.resultsInterpreter?.[0] : version.performer?.[0];
  return by?.display ?? by?.reference;
}

/**
 * Every version of the report, newest first (R4 http.html#history). Sorted by meta.lastUpdated rather than trusted in
 * the server's order (medplum's in-memory repository, the mock EHR's, reverses its stored list on each read). A server
 * that keeps no history (404, 405) gives the current version alone; a 401 still fails.
 */
export async function readReportHistory(client: FhirClient, reference: string): Promise<ReportVersion[]> {
  let versions: DiagnosticReport[];
  try {
    versions = await client.history<DiagnosticReport>(reference);
  } catch (error) {
    if (error instanceof UpstreamRequestError && error.status !== undefined && [404, 405, 501].includes(error.status))
      versions = [await client.read<DiagnosticReport>(reference)];
    else throw error;
  }
  return versions
    .filter((version) => version.meta?.versionId !== undefined)
    .map((version, order) => ({ version, order }))
    .sort(
      (a, b) =>
        (b.version.meta?.lastUpdated ?? '').localeCompare(a.version.meta?.lastUpdated ?? '') || a.order - b.order,
    )
    .map(({ version }) => {
      const by = versionAuthor(version);
      return {
        versionId: version.meta?.versionId ?? '',
        status: version.status,
        at: version.meta?.lastUpdated ?? '',
        ...(by ? { by } : {}),
      };
    });
}

/** The latest signing of the report: the Provenance naming it as target with the clinician as verifier. */
export async function readSignature(client: FhirClient, reference: string): Promise<Signature | undefined> {
  const provenances = await client.searchAll<Provenance>('Provenance', { target: reference });
  const signings = provenances
    .flatMap((provenance) =>
      provenance.agent
        .filter((agent) =>
          agent.type?.coding?.some(
            (coding) => coding.system === VERIFIER_PARTICIPANT.system && coding.code === VERIFIER_PARTICIPANT.code,
          ),
        )
        .map((agent) => ({ who: agent.who, at: provenance.recorded })),
    )
    .filter(({ who }) => who.reference !== undefined)
    .sort((a, b) => b.at.localeCompare(a.at));
  const latest = signings[0];
  if (!latest) return undefined;
  return {
    by: latest.who.reference ?? '',
    ...(latest.who.display ? { display: latest.who.display } : {}),
    at: latest.at,
  };
}
