/**
 * Findings → FHIR R4 resources, per docs/fhir-mapping.md (results pattern): a Device for the model, one
 * Observation per assessed level (a normal level is an Observation too, with an absent-finding value, so the
 * clinician sees every level assessed) and a DiagnosticReport that groups them. Everything is `preliminary`
 * and labelled AI-asserted until a clinician reviews it.
 */
import type {
  CodeableConcept,
  Device,
  DiagnosticReport,
  Extension,
  Identifier,
  Meta,
  Narrative,
  Observation,
  ObservationComponent,
  Reference,
} from 'fhir/r4';
import { levelFindingToReportLine, type Findings, type LevelFinding, type ModelRef } from '../findings/findings';
import {
  AI_ASSERTED,
  AI_TEXT,
  COMPONENT_CODES,
  DEVICE_IDENTIFIER_SYSTEM,
  DIAGNOSTIC_IMAGING_REPORT,
  IMAGING_CATEGORY,
  LEVEL_ASSIGNMENT_EXTENSION,
  LEVEL_BODY_SITES,
  LUMBAR_DISC_DISPLACEMENT,
  MSU_CLASS_SYSTEM,
  MSU_CLASSIFICATION_CODE,
  NO_HERNIATION,
  OBSERVATION_IDENTIFIER_SYSTEM,
  PERFORMER_DEVICE_EXTENSION,
  RADIOLOGY_CATEGORY,
  REPORT_IDENTIFIER_SYSTEM,
  SIDE_CODES,
  UCUM,
  zoneCoding,
} from './codes';

export interface ModelDescription extends ModelRef {
  name: string;
  intendedUse: string;
}

/** Where the findings came from and where they point: the references the resources carry. */
export interface FindingsContext {
  subject: Reference;
  imagingStudy: Reference;
  device: Reference;
  /** ISO instant of the analysis. */
  issued: string;
  /** The study's procedure code (e.g. CPT 72148), copied onto the report when known. */
  procedureCode?: CodeableConcept[];
}

const AI_META: Meta = { security: [AI_ASSERTED] };

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

function narrative(text: string): Narrative {
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeXml(text)}</div>` };
}

export function modelIdentifier(model: ModelRef): Identifier {
  return { system: DEVICE_IDENTIFIER_SYSTEM, value: `${model.id}@${model.version}` };
}

/** Identifier of one level's Observation: stable for study + model version + level, so a retry never duplicates. */
export function levelIdentifier(studyInstanceUid: string, model: ModelRef, level: string): Identifier {
  return { system: OBSERVATION_IDENTIFIER_SYSTEM, value: `${studyInstanceUid}/${model.id}/${model.version}/${level}` };
}

export function reportIdentifier(studyInstanceUid: string, model: ModelRef): Identifier {
  return { system: REPORT_IDENTIFIER_SYSTEM, value: `${studyInstanceUid}/${model.id}/${model.version}` };
}

export function modelToDevice(model: ModelDescription): Device {
  return {
    resourceType: 'Device',
    meta: AI_META,
    identifier: [modelIdentifier(model)],
    status: 'active',
    deviceName: [{ name: model.name, type: 'model-name' }],
    type: { text: 'AI model: lumbar disc herniation detector (MSU classification)' },
    version: [{ value: model.version }],
    note: [{ text: `Intended use: ${model.intendedUse}` }],
  };
}

/** `2-AB`, the code of the MSU class in the local CodeSystem. */
export function msuClassCode(finding: LevelFinding): string | undefined {
  return finding.herniation ? `${finding.grade}-${finding.zone}` : undefined;
}

function findingComponents(finding: LevelFinding, seriesInstanceUid: string): ObservationComponent[] {
  const components: ObservationComponent[] = [
    {
      code: { coding: [COMPONENT_CODES.confidence] },
      valueQuantity: { value: Math.round(finding.confidence * 1000) / 1000, unit: '1', system: UCUM, code: '1' },
    },
    { code: { coding: [COMPONENT_CODES.seriesInstanceUid] }, valueString: seriesInstanceUid },
  ];
  if (finding.keySlice) {
    components.push(
      { code: { coding: [COMPONENT_CODES.keySopInstanceUid] }, valueString: finding.keySlice.sopInstanceUid },
      { code: { coding: [COMPONENT_CODES.keyFrame] }, valueInteger: finding.keySlice.frame },
    );
  }
  if (finding.herniation) {
    components.push(
      { code: { coding: [COMPONENT_CODES.grade] }, valueInteger: finding.grade },
      {
        code: { coding: [COMPONENT_CODES.zone] },
        valueCodeableConcept: { coding: [zoneCoding(finding.zone)], text: finding.zone },
      },
      {
        code: { coding: [COMPONENT_CODES.side] },
        valueCodeableConcept: { coding: [SIDE_CODES[finding.side]], text: finding.side },
      },
      {
        code: { coding: [COMPONENT_CODES.box] },
        valueString: JSON.stringify(finding.box.map((v) => Math.round(v * 10) / 10)),
      },
    );
  }
  return components;
}

export function findingToObservation(
  finding: LevelFinding,
  findings: Pick<Findings, 'studyInstanceUid' | 'seriesInstanceUid' | 'model'>,
  context: FindingsContext,
): Observation {
  const line = levelFindingToReportLine(finding);
  const classCode = msuClassCode(finding);
  return {
    resourceType: 'Observation',
    meta: AI_META,
    text: narrative(`${AI_TEXT}: ${line}`),
    identifier: [levelIdentifier(findings.studyInstanceUid, findings.model, finding.level)],
    status: 'preliminary',
    category: [IMAGING_CATEGORY],
    code: {
      coding: [LUMBAR_DISC_DISPLACEMENT, MSU_CLASSIFICATION_CODE],
      text: 'MSU classification of lumbar disc herniation',
    },
    subject: context.subject,
    issued: context.issued,
    bodySite: { coding: [LEVEL_BODY_SITES[finding.level]], text: finding.level },
    valueCodeableConcept: classCode
      ? { coding: [{ system: MSU_CLASS_SYSTEM, code: classCode, display: `MSU ${classCode}` }], text: line }
      : { coding: [NO_HERNIATION], text: line },
    derivedFrom: [context.imagingStudy],
    device: context.device,
    component: findingComponents(finding, findings.seriesInstanceUid),
  };
}

export function findingsToConclusion(findings: Findings): string {
  // The report a clinician reads in the EHR says how the levels were found, as the panel does.
  const assignment = findings.levelAssignment ? [findings.levelAssignment.description] : [];
  return [...findings.levels.map(levelFindingToReportLine), ...assignment].join('\n');
}

function levelAssignmentExtension(findings: Findings): Extension[] {
  const assignment = findings.levelAssignment;
  if (!assignment) return [];
  return [
    {
      url: LEVEL_ASSIGNMENT_EXTENSION,
      extension: [
        { url: 'method', valueCode: assignment.method },
        { url: 'description', valueString: assignment.description },
      ],
    },
  ];
}

export function findingsToDiagnosticReport(
  findings: Findings,
  context: FindingsContext,
  results: Reference[],
): DiagnosticReport {
  const herniated = findings.levels.filter((level) => level.herniation);
  return {
    resourceType: 'DiagnosticReport',
    meta: AI_META,
    text: narrative(`${AI_TEXT}. ${findingsToConclusion(findings).replace(/\n/g, '; ')}`),
    identifier: [reportIdentifier(findings.studyInstanceUid, findings.model)],
    extension: [
      { url: PERFORMER_DEVICE_EXTENSION, valueReference: context.device },
      ...levelAssignmentExtension(findings),
    ],
    status: 'preliminary',
    category: [RADIOLOGY_CATEGORY],
    code: {
      coding: [DIAGNOSTIC_IMAGING_REPORT, ...(context.procedureCode ?? []).flatMap((concept) => concept.coding ?? [])],
    },
    subject: context.subject,
    effectiveDateTime: context.issued,
    issued: context.issued,
    imagingStudy: [context.imagingStudy],
    result: results,
    conclusion: findingsToConclusion(findings),
    ...(herniated.length > 0
      ? {
          conclusionCode: herniated.map((level) => ({
            coding: [{ system: MSU_CLASS_SYSTEM, code: msuClassCode(level) ?? '' }],
            text: levelFindingToReportLine(level),
          })),
        }
      : {}),
  };
}
