/**
 * The inverse of the builders: a stored DiagnosticReport + its Observations → Findings, so the panel can
 * show an analysis written earlier without running the model again.
 */
import type { Device, DiagnosticReport, Observation, ObservationComponent, Reference } from 'fhir/r4';
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
  type PixelBox,
} from '../findings/findings';
import {
  COMPONENT_CODES,
  DEVICE_IDENTIFIER_SYSTEM,
  LEVEL_ASSIGNMENT_EXTENSION,
  LEVEL_BODY_SITES,
  LOINC,
  MSU_CLASS_SYSTEM,
  PERFORMER_DEVICE_EXTENSION,
  REPORT_IDENTIFIER_SYSTEM,
} from './codes';
import type { FhirClient } from './fhir-client';

export interface StoredAnalysis {
  findings: Findings;
  diagnosticReport: string;
  observations: string[];
  status: DiagnosticReport['status'];
  issued?: string;
}

const component = (observation: Observation, code: string): ObservationComponent | undefined =>
  observation.component?.find((c) => c.code.coding?.some((coding) => coding.code === code));

function levelOf(observation: Observation): DiscLevel | undefined {
  const codes = new Set((observation.bodySite?.coding ?? []).map((coding) => coding.code));
  return DISC_LEVELS.find((level) => codes.has(LEVEL_BODY_SITES[level].code));
}

export function observationToLevelFinding(observation: Observation): LevelFinding | undefined {
  const level = levelOf(observation);
  if (!level) return undefined;
  const confidence = component(observation, COMPONENT_CODES.confidence.code)?.valueQuantity?.value ?? 0;
  const sop = component(observation, COMPONENT_CODES.keySopInstanceUid.code)?.valueString;
  const frame = component(observation, COMPONENT_CODES.keyFrame.code)?.valueInteger ?? 1;
  const keySlice = sop ? { sopInstanceUid: sop, frame } : undefined;
  const classCode =
    observation.valueCodeableConcept?.coding?.find((coding) => coding.system === MSU_CLASS_SYSTEM)?.code ?? '';
  const match = /^([123])-(A|B|C|AB|BC)$/.exec(classCode);
  if (!match || !keySlice) return { level, herniation: false, confidence, ...(keySlice ? { keySlice } : {}) };
  const side = component(observation, COMPONENT_CODES.side.code)?.valueCodeableConcept?.text;
  const boxText = component(observation, COMPONENT_CODES.box.code)?.valueString;
  const box = boxText ? (JSON.parse(boxText) as PixelBox) : ([0, 0, 0, 0] as PixelBox);
  return {
    level,
    herniation: true,
    grade: Number(match[1]) as MsuGrade,
    zone: match[2] as MsuZone,
    side: side === 'left' || side === 'right' || side === 'central' ? (side satisfies HerniationSide) : 'central',
    confidence,
    keySlice,
    box,
  };
}

function deviceToModel(device: Device | undefined): ModelRef {
  const value = device?.identifier?.find((identifier) => identifier.system === DEVICE_IDENTIFIER_SYSTEM)?.value ?? '';
  const at = value.lastIndexOf('@');
  return at > 0
    ? { id: value.slice(0, at), version: value.slice(at + 1) }
    : { id: 'unknown', version: device?.version?.[0]?.value ?? 'unknown' };
}

const byIssuedDescending = (a: DiagnosticReport, b: DiagnosticReport): number =>
  (b.issued ?? '').localeCompare(a.issued ?? '');

/**
 * The latest ldh-cds report on the ImagingStudy. Searches by subject + LOINC code (both widely supported
 * search parameters; R4 has no DiagnosticReport search on imagingStudy) and filters locally.
 */
export async function readStoredFindings(
  client: FhirClient,
  study: { reference: string; subject: Reference; studyInstanceUid: string },
): Promise<StoredAnalysis | undefined> {
  const params: Record<string, string> = { code: `${LOINC}|18748-4` };
  if (study.subject.reference) params.subject = study.subject.reference;
  const reports = await client.search<DiagnosticReport>('DiagnosticReport', params);
  const ours = reports
    .filter((report) => report.identifier?.some((identifier) => identifier.system === REPORT_IDENTIFIER_SYSTEM))
    .filter((report) =>
      report.imagingStudy?.some(
        (ref) => ref.reference === study.reference || ref.reference?.endsWith(`/${study.reference}`),
      ),
    )
    .sort(byIssuedDescending);
  const report = ours[0];
  if (!report?.id) return undefined;
  const observationRefs = (report.result ?? []).map((ref) => ref.reference ?? '').filter((ref) => ref.length > 0);
  const observations = await Promise.all(observationRefs.map((ref) => client.read<Observation>(ref)));
  const deviceRef =
    report.extension?.find((extension) => extension.url === PERFORMER_DEVICE_EXTENSION)?.valueReference?.reference ??
    observations[0]?.device?.reference;
  const device = deviceRef ? await client.read<Device>(deviceRef).catch(() => undefined) : undefined;
  const levels = observations
    .map(observationToLevelFinding)
    .filter((level): level is LevelFinding => level !== undefined);
  const seriesInstanceUid =
    observations
      .map((o) => component(o, COMPONENT_CODES.seriesInstanceUid.code)?.valueString)
      .find((uid) => uid !== undefined) ?? '';
  return {
    findings: {
      studyInstanceUid: study.studyInstanceUid,
      seriesInstanceUid,
      model: deviceToModel(device),
      levels: levels.sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level)),
      ...levelAssignmentOf(report),
      warnings: [`Stored analysis (${report.status}) issued ${report.issued ?? 'at an unknown time'}`],
    },
    diagnosticReport: `DiagnosticReport/${report.id}`,
    observations: observationRefs,
    status: report.status,
    ...(report.issued ? { issued: report.issued } : {}),
  };
}

/** The level-assignment extension our DiagnosticReport carries (builders.ts), when present and well-formed. */
export function levelAssignmentOf(report: DiagnosticReport): { levelAssignment?: LevelAssignment } {
  const parts = report.extension?.find((extension) => extension.url === LEVEL_ASSIGNMENT_EXTENSION)?.extension;
  const method = parts?.find((part) => part.url === 'method')?.valueCode;
  const description = parts?.find((part) => part.url === 'description')?.valueString;
  if ((method !== 'sagittal-cross-reference' && method !== 'counted-from-lowest-stack') || !description) return {};
  return { levelAssignment: { method, description } };
}
