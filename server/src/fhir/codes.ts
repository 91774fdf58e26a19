/**
 * Every code system and code the FHIR write-back uses, in one place (docs/fhir-mapping.md lists them and which are not
 * yet confirmed against their primary source: change them here).
 */
import type { CodeableConcept, Coding } from 'fhir/r4';
import type { DiscLevel, HerniationSide, MsuZone } from '../findings/findings';

export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';
export const V3_OBSERVATION_VALUE = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
export const UCUM = 'http://unitsofmeasure.org';
export const DICOM_UID_SYSTEM = 'urn:dicom:uid';

/** Local code systems and identifier systems of ldh-cds. */
const LOCAL = 'https://ldh-cds.example.org/fhir';
export const LOCAL_CODES = `${LOCAL}/CodeSystem/ldh-cds`;
export const MSU_CLASS_SYSTEM = `${LOCAL}/CodeSystem/msu-class`;
export const OBSERVATION_IDENTIFIER_SYSTEM = `${LOCAL}/identifier/level-finding`;
export const REPORT_IDENTIFIER_SYSTEM = `${LOCAL}/identifier/analysis-report`;
export const DEVICE_IDENTIFIER_SYSTEM = `${LOCAL}/identifier/model`;
export const PERFORMER_DEVICE_EXTENSION = `${LOCAL}/StructureDefinition/performer-device`;
/** How the disc levels were assigned: sub-extensions `method` (valueCode) and `description` (valueString). */
export const LEVEL_ASSIGNMENT_EXTENSION = `${LOCAL}/StructureDefinition/level-assignment`;

/**
 * SNOMED 202708005 "Displacement of lumbar intervertebral disc without myelopathy" (docs/fhir-mapping.md §Observation;
 * not yet confirmed against SNOMED CT).
 */
export const LUMBAR_DISC_DISPLACEMENT: Coding = {
  system: SNOMED,
  code: '202708005',
  display: 'Displacement of lumbar intervertebral disc without myelopathy',
};
export const MSU_CLASSIFICATION_CODE: Coding = {
  system: LOCAL_CODES,
  code: 'msu-classification',
  display: 'MSU classification of lumbar disc herniation',
};

/** The "absent finding" value of a level assessed without herniation. */
export const NO_HERNIATION: Coding = { system: MSU_CLASS_SYSTEM, code: 'no-herniation', display: 'No disc herniation' };

/** DICOM CID 7604 disc codes (SNOMED) per level, docs/fhir-mapping.md §Disc codes. */
export const LEVEL_BODY_SITES: Record<DiscLevel, Coding> = {
  'L1-L2': { system: SNOMED, code: '80064006', display: 'L1-L2 intervertebral disc' },
  'L2-L3': { system: SNOMED, code: '67459009', display: 'L2-L3 intervertebral disc' },
  'L3-L4': { system: SNOMED, code: '62551000', display: 'L3-L4 intervertebral disc' },
  'L4-L5': { system: SNOMED, code: '84020006', display: 'L4-L5 intervertebral disc' },
  'L5-S1': { system: SNOMED, code: '715056000', display: 'L5-S1 intervertebral disc' },
};

export const COMPONENT_CODES = {
  grade: { system: LOCAL_CODES, code: 'msu-grade', display: 'MSU size grade' },
  zone: { system: LOCAL_CODES, code: 'msu-zone', display: 'MSU location zone' },
  side: { system: LOCAL_CODES, code: 'herniation-side', display: 'Side of herniation' },
  confidence: { system: LOCAL_CODES, code: 'model-confidence', display: 'Model confidence' },
  keySopInstanceUid: { system: LOCAL_CODES, code: 'key-sop-instance-uid', display: 'Key slice SOP Instance UID' },
  keyFrame: { system: LOCAL_CODES, code: 'key-frame-number', display: 'Key slice frame number' },
  seriesInstanceUid: { system: LOCAL_CODES, code: 'series-instance-uid', display: 'Analyzed Series Instance UID' },
  box: { system: LOCAL_CODES, code: 'bounding-box', display: 'Bounding box [x0,y0,x1,y1] in key-slice pixels' },
} satisfies Record<string, Coding>;

export const SIDE_CODES: Record<HerniationSide, Coding> = {
  left: { system: SNOMED, code: '7771000', display: 'Left' },
  right: { system: SNOMED, code: '24028007', display: 'Right' },
  central: { system: LOCAL_CODES, code: 'central', display: 'Central' },
};

export const zoneCoding = (zone: MsuZone): Coding => ({
  system: LOCAL_CODES,
  code: `zone-${zone}`,
  display: `MSU zone ${zone}`,
});

export const DIAGNOSTIC_IMAGING_REPORT: Coding = {
  system: LOINC,
  code: '18748-4',
  display: 'Diagnostic imaging study',
};
export const RADIOLOGY_CATEGORY: CodeableConcept = { coding: [{ system: V2_0074, code: 'RAD', display: 'Radiology' }] };
export const IMAGING_CATEGORY: CodeableConcept = {
  coding: [{ system: OBSERVATION_CATEGORY, code: 'imaging', display: 'Imaging' }],
};
/** HL7 AI transparency: label resources produced by AI with meta.security AIAST. */
export const AI_ASSERTED: Coding = {
  system: V3_OBSERVATION_VALUE,
  code: 'AIAST',
  display: 'Artificial Intelligence asserted',
};

export const AI_TEXT = 'AI-generated, preliminary';
