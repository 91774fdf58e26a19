/**
 * Findings → FHIR R4 resources (docs/fhir-mapping.md tables every element): a Device for the model, one Observation
 * per assessed level (a level without herniation is an Observation too, with the explicit absent finding as its
 * value, so the clinician sees every level assessed; a level that was not imaged gets none), a DocumentReference that
 * carries the DICOM SR with the geometry, the DiagnosticReport that groups them and the Provenance of the AI run.
 * Everything is `preliminary` and labelled AI-asserted (meta.security AIAST, HL7 AI Transparency on FHIR) until a
 * clinician reviews it.
 */
import type {
  CodeableConcept,
  Coding,
  Device,
  DiagnosticReport,
  DocumentReference,
  Extension,
  Identifier,
  Meta,
  Narrative,
  Observation,
  ObservationComponent,
  Provenance,
  Reference,
} from 'fhir/r4';
import {
  levelFindingToReportLine,
  type DiscLevel,
  type Findings,
  type HerniationLevelFinding,
  type LevelFinding,
  type ModelRef,
} from '../findings/findings';
import {
  AI_ASSERTED,
  AI_DEVICE_TYPE,
  AI_PROVENANCE_PROFILE,
  AI_TEXT,
  ALTERNATE_REFERENCE,
  ANALYSIS_TAG_SYSTEM,
  AUTHOR_PARTICIPANT,
  COMPONENT_CODES,
  DEVICE_DIGEST_IDENTIFIER_SYSTEM,
  DEVICE_IDENTIFIER_SYSTEM,
  DIAGNOSTIC_IMAGING_REPORT,
  DIAGNOSTIC_REPORT_REPLACES,
  DICOM_UID_SYSTEM,
  FINDING_CODE,
  gradeCoding,
  IMAGING_CATEGORY,
  IMAGING_MEASUREMENT_REPORT,
  LEVEL_BODY_SITES,
  LUMBAR_DISC_DISPLACEMENT,
  msuClassCoding,
  NO_HERNIATION,
  OBSERVATION_IDENTIFIER_SYSTEM,
  PROVENANCE_PARTICIPANT_TYPE,
  RADIOLOGY_CATEGORY,
  REPORT_IDENTIFIER_SYSTEM,
  SIDE_CODES,
  STRUCTURED_REPORT_IDENTIFIER_SYSTEM,
  TRACKING_UID_CODE,
  UCUM,
  zoneCoding,
} from './codes';
import { ldhCdsConcept } from './definitions';

export interface ModelDescription extends ModelRef {
  name: string;
  intendedUse: string;
  /** `sha256:<hex>` of the manifest and its networks (manifest.ts `LoadedManifest.digest`). */
  digest: string;
}

/** The DICOM SR written for the analysis (server/src/sr), as the FHIR resources point to it. */
export interface StructuredReportRef {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  /** Tracking Unique Identifier of each level's measurement group. */
  trackingUids: Partial<Record<DiscLevel, string>>;
  /** The Part 10 file, attached to the DocumentReference so the geometry is in the EHR even without the PACS copy. */
  part10: Uint8Array;
}

/** Where the findings came from: the study, its patient, when it was analyzed. */
export interface AnalysisContext {
  subject: Reference;
  imagingStudy: Reference;
  /** ISO instant of the analysis (`issued`). */
  issued: string;
  /** The study's procedure code (e.g. CPT 72148), copied onto the report when known. */
  procedureCode?: CodeableConcept[];
  structuredReport?: StructuredReportRef;
  /**
   * Who asked for the analysis (the verified user's `fhirUser`, relative to the FHIR base): the Provenance's `enterer`
   * beside the model, the author. A queue worker writes with its own Backend Services token, so this is where the
   * record says for whom (docs/deploy.md §Worker authorization).
   */
  requestedBy?: Reference;
}

/** The resources of one analysis as they reference each other (fullUrls in a transaction, or ids once stored). */
export interface AnalysisReferences {
  device: Reference;
  document?: Reference;
  observations: Reference[];
  report: Reference;
  /** The earlier AI report this one supersedes (write-findings.ts decides). */
  replaces?: Reference;
}

const AI_META: Meta = { security: [AI_ASSERTED] };
/** The clinician who asked for an analysis, in its AI Provenance (R4 provenance-participant-type `enterer`). */
const ENTERER_PARTICIPANT: Coding = { system: PROVENANCE_PARTICIPANT_TYPE, code: 'enterer', display: 'Enterer' };

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

export function narrative(lines: string[]): Narrative {
  const body = lines.map((line) => `<p>${escapeXml(line)}</p>`).join('');
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${body}</div>` };
}

/** One value per analysis: the study, the model and its version. Every resource of the analysis derives from it. */
export function analysisKey(studyInstanceUid: string, model: ModelRef): string {
  return `${studyInstanceUid}/${model.id}/${model.version}`;
}

export function modelIdentifier(model: ModelRef): Identifier {
  return { system: DEVICE_IDENTIFIER_SYSTEM, value: `${model.id}@${model.version}` };
}

export function modelDigestIdentifier(model: Pick<ModelDescription, 'digest'>): Identifier {
  return { system: DEVICE_DIGEST_IDENTIFIER_SYSTEM, value: model.digest };
}

/** Identifier of one level's Observation: stable for study + model version + level, so a retry never duplicates. */
export function levelIdentifier(studyInstanceUid: string, model: ModelRef, level: string): Identifier {
  return { system: OBSERVATION_IDENTIFIER_SYSTEM, value: `${analysisKey(studyInstanceUid, model)}/${level}` };
}

export function reportIdentifier(studyInstanceUid: string, model: ModelRef): Identifier {
  return { system: REPORT_IDENTIFIER_SYSTEM, value: analysisKey(studyInstanceUid, model) };
}

export function structuredReportIdentifier(studyInstanceUid: string, model: ModelRef): Identifier {
  return { system: STRUCTURED_REPORT_IDENTIFIER_SYSTEM, value: analysisKey(studyInstanceUid, model) };
}

/** The Device of the model, per the AI Device profile of HL7 AI Transparency on FHIR (type Artificial-Intelligence). */
export function modelToDevice(model: ModelDescription): Device {
  return {
    resourceType: 'Device',
    meta: AI_META,
    // The digest identifier comes first: the conditional create matches on it, one Device per exact model build.
    identifier: [modelDigestIdentifier(model), modelIdentifier(model)],
    status: 'active',
    manufacturer: 'ldh-cds',
    deviceName: [{ name: model.name, type: 'model-name' }],
    modelNumber: model.id,
    type: { coding: [AI_DEVICE_TYPE], text: 'AI model: lumbar disc herniation detector (MSU classification)' },
    version: [
      { type: { text: 'model version' }, value: model.version },
      { type: { text: 'model digest (sha256 of manifest and networks)' }, value: model.digest },
    ],
    note: [{ text: `Intended use: ${model.intendedUse}` }],
  };
}

/** `2-AB`, the code of the MSU class in our CodeSystem. */
export function msuClassCode(finding: LevelFinding): string | undefined {
  return finding.herniation ? `${finding.grade}-${finding.zone}` : undefined;
}

const uidComponent = (code: ObservationComponent['code'], uid: string): ObservationComponent => ({
  code,
  valueString: uid,
});

/** The key slice, structured: study, series, SOP instance and frame (what a WADO-RS URL of the image needs). */
function keyImageComponents(finding: LevelFinding, findings: Pick<Findings, 'studyInstanceUid' | 'seriesInstanceUid'>) {
  if (!finding.keySlice) return [];
  return [
    uidComponent({ coding: [COMPONENT_CODES.keyStudyUid] }, findings.studyInstanceUid),
    uidComponent({ coding: [COMPONENT_CODES.keySeriesUid] }, findings.seriesInstanceUid),
    uidComponent({ coding: [COMPONENT_CODES.keySopInstanceUid] }, finding.keySlice.sopInstanceUid),
    { code: { coding: [COMPONENT_CODES.keyFrame] }, valueInteger: finding.keySlice.frame },
  ];
}

/** Where the box and the intra-facet line are: the SR instance and this level's measurement group in it. */
function structuredReportComponents(finding: LevelFinding, sr: StructuredReportRef | undefined) {
  const trackingUid = sr?.trackingUids[finding.level];
  if (!sr || !trackingUid) return [];
  return [
    uidComponent({ coding: [COMPONENT_CODES.srInstanceUid] }, sr.sopInstanceUid),
    uidComponent({ coding: [TRACKING_UID_CODE] }, trackingUid),
  ];
}

function classComponents(finding: LevelFinding): ObservationComponent[] {
  if (!finding.herniation) return [];
  const components: ObservationComponent[] = [
    {
      code: { coding: [COMPONENT_CODES.msuClass] },
      valueCodeableConcept: { coding: [msuClassCoding(finding.grade, finding.zone)] },
    },
    { code: { coding: [COMPONENT_CODES.grade] }, valueCodeableConcept: { coding: [gradeCoding(finding.grade)] } },
    { code: { coding: [COMPONENT_CODES.zone] }, valueCodeableConcept: { coding: [zoneCoding(finding.zone)] } },
    {
      code: { coding: [COMPONENT_CODES.side] },
      valueCodeableConcept: { coding: [SIDE_CODES[finding.side]], text: finding.side },
    },
  ];
  if (finding.disagreement) {
    // The class the other reading gave: the box geometry or the classifier (docs/msu.md §Classifier and geometry).
    const other = finding.disagreement;
    components.push({
      code: { coding: [COMPONENT_CODES.geometryDisagreement] },
      valueCodeableConcept: {
        coding: [msuClassCoding(other.grade, other.zone)],
        text: `${other.measuredBy === 'geometry' ? 'box geometry measures' : 'classifier scored'} ${other.grade}-${other.zone}`,
      },
    });
  }
  return components;
}

function findingComponents(
  finding: LevelFinding,
  findings: Pick<Findings, 'studyInstanceUid' | 'seriesInstanceUid' | 'levelAssignment'>,
  sr: StructuredReportRef | undefined,
): ObservationComponent[] {
  const assignment = findings.levelAssignment;
  return [
    ...classComponents(finding),
    {
      code: { coding: [COMPONENT_CODES.confidence] },
      valueQuantity: { value: Math.round(finding.confidence * 1000) / 1000, unit: '1', system: UCUM, code: '1' },
    },
    ...keyImageComponents(finding, findings),
    ...structuredReportComponents(finding, sr),
    ...(assignment
      ? [
          {
            code: { coding: [COMPONENT_CODES.levelAssignment] },
            valueCodeableConcept: { coding: [ldhCdsConcept(assignment.method)], text: assignment.description },
          },
        ]
      : []),
  ];
}

export function findingToObservation(
  finding: LevelFinding,
  findings: Pick<
    Findings,
    'studyInstanceUid' | 'seriesInstanceUid' | 'model' | 'levelAssignment' | 'acquisitionDateTime'
  >,
  context: AnalysisContext,
  references: Pick<AnalysisReferences, 'device' | 'document'>,
): Observation {
  const line = levelFindingToReportLine(finding);
  const warnings = finding.warnings ?? [];
  return {
    resourceType: 'Observation',
    meta: AI_META,
    text: narrative([`${AI_TEXT}: ${line}`, ...warnings]),
    identifier: [levelIdentifier(findings.studyInstanceUid, findings.model, finding.level)],
    status: 'preliminary',
    category: [IMAGING_CATEGORY],
    // As a TID 1500 qualitative evaluation: the concept observed is "Finding", the value says which finding.
    code: { coding: [FINDING_CODE], text: 'Lumbar disc herniation (MSU classification)' },
    subject: context.subject,
    ...(findings.acquisitionDateTime ? { effectiveDateTime: findings.acquisitionDateTime } : {}),
    issued: context.issued,
    bodySite: { coding: [LEVEL_BODY_SITES[finding.level]], text: finding.level },
    valueCodeableConcept: { coding: [finding.herniation ? LUMBAR_DISC_DISPLACEMENT : NO_HERNIATION], text: line },
    ...(warnings.length > 0 ? { note: warnings.map((text) => ({ text })) } : {}),
    derivedFrom: [context.imagingStudy, ...(references.document ? [references.document] : [])],
    device: references.device,
    component: findingComponents(finding, findings, context.structuredReport),
  };
}

/** One line per level, then the warnings and how the levels were found: what the clinician reads in the EHR. */
export function findingsToConclusion(findings: Findings): string {
  const assignment = findings.levelAssignment ? [findings.levelAssignment.description] : [];
  return [...findings.levels.map(levelFindingToReportLine), ...findings.warnings, ...assignment].join('\n');
}

/** The Device as the report's performer: R4 performer cannot reference a Device, hence the core alternate-reference. */
function devicePerformer(device: Reference, model: ModelRef): Reference {
  return {
    extension: [{ url: ALTERNATE_REFERENCE, valueReference: device }],
    display: `${model.id} ${model.version} (AI model)`,
  };
}

export function findingsToDiagnosticReport(
  findings: Findings,
  context: AnalysisContext,
  references: Pick<AnalysisReferences, 'device' | 'observations' | 'replaces'>,
): DiagnosticReport {
  const herniated = findings.levels.filter((level): level is HerniationLevelFinding => level.herniation);
  const extension: Extension[] = references.replaces
    ? [{ url: DIAGNOSTIC_REPORT_REPLACES, valueReference: references.replaces }]
    : [];
  return {
    resourceType: 'DiagnosticReport',
    meta: AI_META,
    text: narrative([`${AI_TEXT}.`, ...findingsToConclusion(findings).split('\n')]),
    identifier: [reportIdentifier(findings.studyInstanceUid, findings.model)],
    ...(extension.length > 0 ? { extension } : {}),
    status: 'preliminary',
    category: [RADIOLOGY_CATEGORY],
    code: {
      coding: [DIAGNOSTIC_IMAGING_REPORT, ...(context.procedureCode ?? []).flatMap((concept) => concept.coding ?? [])],
    },
    subject: context.subject,
    ...(findings.acquisitionDateTime ? { effectiveDateTime: findings.acquisitionDateTime } : {}),
    issued: context.issued,
    performer: [devicePerformer(references.device, findings.model)],
    imagingStudy: [context.imagingStudy],
    result: references.observations,
    conclusion: `${AI_TEXT} (${findings.model.id} ${findings.model.version}).\n${findingsToConclusion(findings)}`,
    ...(herniated.length > 0
      ? {
          conclusionCode: herniated.map((level) => ({
            coding: [msuClassCoding(level.grade, level.zone)],
            text: levelFindingToReportLine(level),
          })),
        }
      : {}),
  };
}

/**
 * The DICOM SR of the analysis as a FHIR document: the SR itself (application/dicom) travels with the report, so the
 * box and intra-facet line are in the EHR even where the PACS does not receive the SR. Identified by its SOP Instance
 * UID (urn:dicom:uid) and by the analysis key (for the conditional create).
 */
export function structuredReportToDocumentReference(
  sr: StructuredReportRef,
  findings: Pick<Findings, 'studyInstanceUid' | 'model'>,
  context: AnalysisContext,
  references: Pick<AnalysisReferences, 'device'> & { replaces?: Reference },
): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    meta: AI_META,
    identifier: [
      structuredReportIdentifier(findings.studyInstanceUid, findings.model),
      { system: DICOM_UID_SYSTEM, value: `urn:oid:${sr.sopInstanceUid}` },
    ],
    status: 'current',
    docStatus: 'preliminary',
    type: { coding: [IMAGING_MEASUREMENT_REPORT], text: 'AI result as DICOM SR (TID 1500 Imaging Measurement Report)' },
    category: [RADIOLOGY_CATEGORY],
    subject: context.subject,
    date: context.issued,
    author: [references.device],
    description: `${AI_TEXT}: ${findings.model.id} ${findings.model.version} measurement report with the key slices, boxes and intra-facet lines`,
    ...(references.replaces ? { relatesTo: [{ code: 'replaces', target: references.replaces }] } : {}),
    content: [
      {
        attachment: {
          contentType: 'application/dicom',
          data: Buffer.from(sr.part10).toString('base64'),
          size: sr.part10.byteLength,
          title: `DICOM SR ${sr.sopInstanceUid}`,
          creation: context.issued,
        },
      },
    ],
    context: { related: [context.imagingStudy] },
  };
}

/**
 * The AI Provenance of HL7 AI Transparency on FHIR: the model (Device, role Artificial-Intelligence) authored every
 * resource of the analysis from the ImagingStudy (entity `source`); a superseded report is the entity `revision`
 * (W3C PROV wasRevisionOf). `meta.tag` names the analysis so the conditional create finds an existing Provenance
 * (Provenance has no identifier).
 */
export function analysisProvenance(
  findings: Pick<Findings, 'studyInstanceUid' | 'model'>,
  context: AnalysisContext,
  references: AnalysisReferences,
): Provenance {
  return {
    resourceType: 'Provenance',
    meta: {
      profile: [AI_PROVENANCE_PROFILE],
      security: [AI_ASSERTED],
      tag: [{ system: ANALYSIS_TAG_SYSTEM, code: analysisKey(findings.studyInstanceUid, findings.model) }],
    },
    target: [references.report, ...references.observations, ...(references.document ? [references.document] : [])],
    occurredDateTime: context.issued,
    recorded: context.issued,
    reason: [{ coding: [AI_ASSERTED] }],
    agent: [
      {
        type: { coding: [AUTHOR_PARTICIPANT] },
        role: [{ coding: [AI_DEVICE_TYPE] }],
        who: references.device,
      },
      ...(context.requestedBy ? [{ type: { coding: [ENTERER_PARTICIPANT] }, who: context.requestedBy }] : []),
    ],
    entity: [
      { role: 'source', what: context.imagingStudy },
      ...(references.replaces ? [{ role: 'revision' as const, what: references.replaces }] : []),
    ],
  };
}
