/**
 * Every code system, code and identifier system the FHIR write-back uses, in one place (docs/fhir-mapping.md tables
 * them with their sources). Our own codes come from the shipped CodeSystem (server/fhir-definitions, read by
 * definitions.ts), so a validator resolves every ldh-cds code we write.
 */
import type { CodeableConcept, Coding } from 'fhir/r4';
import type { DiscLevel, HerniationSide, MsuGrade, MsuZone } from '../findings/findings';
import type { ReviewDecision } from '../findings/findings';
import {
  CDS_CARD_KIND_VALUE_SET,
  CDS_OVERRIDE_REASON_VALUE_SET,
  DISC_LEVEL_VALUE_SET,
  HERNIATION_SIDE_VALUE_SET,
  LDH_CDS_CANONICAL_BASE,
  ldhCdsConcept,
  REJECTION_REASON_VALUE_SET,
  REVIEW_DECISION_VALUE_SET,
  valueSetCodings,
  type DefinedCoding,
} from './definitions';

export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
/** DICOM Controlled Terminology (PS3.16 Annex D) as FHIR names it. */
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';
export const V3_OBSERVATION_VALUE = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
export const PROVENANCE_PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
export const V3_PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const V3_DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
export const UCUM = 'http://unitsofmeasure.org';
export const DICOM_UID_SYSTEM = 'urn:dicom:uid';
/** HL7 AI Transparency on FHIR 1.0.0 (STU 1): the AI Device type code system and the AI Provenance profile. */
export const AI_DEVICE_TYPE_SYSTEM = 'http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS';
export const AI_PROVENANCE_PROFILE = 'http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance';
/** FHIR R4 core extensions (extensibility-registry). */
export const DIAGNOSTIC_REPORT_REPLACES = 'http://hl7.org/fhir/StructureDefinition/diagnosticReport-replaces';
export const ALTERNATE_REFERENCE = 'http://hl7.org/fhir/StructureDefinition/alternate-reference';

/** Identifier systems of ldh-cds: one value per analysis (study + model version), per level, per model build. */
const IDENTIFIER_BASE = `${LDH_CDS_CANONICAL_BASE}/identifier`;
export const OBSERVATION_IDENTIFIER_SYSTEM = `${IDENTIFIER_BASE}/level-finding`;
export const REPORT_IDENTIFIER_SYSTEM = `${IDENTIFIER_BASE}/analysis-report`;
export const STRUCTURED_REPORT_IDENTIFIER_SYSTEM = `${IDENTIFIER_BASE}/analysis-sr`;
export const DEVICE_IDENTIFIER_SYSTEM = `${IDENTIFIER_BASE}/model`;
/** The model's manifest digest (`sha256:<hex>`): one Device per exact model build. */
export const DEVICE_DIGEST_IDENTIFIER_SYSTEM = `${IDENTIFIER_BASE}/model-digest`;
/** `meta.tag` system that ties a Provenance to its analysis, so its conditional create can find it (`_tag`). */
export const ANALYSIS_TAG_SYSTEM = `${LDH_CDS_CANONICAL_BASE}/tag/analysis`;
/**
 * `meta.tag` system naming one clinician review (a hash of the review request, its base version and the signer): on
 * the report version it produced and on its signing Provenance, so a retried save is recognised and never written
 * twice (docs/fhir-mapping.md §Clinician review).
 */
export const REVIEW_TAG_SYSTEM = `${LDH_CDS_CANONICAL_BASE}/tag/review`;

const defined = ({ system, code, display }: DefinedCoding): Coding => ({ system, code, display });

/** DCM 121071 "Finding": the concept name of a TID 1500 qualitative evaluation, so the value carries the finding. */
export const FINDING_CODE: Coding = { system: DCM, code: '121071', display: 'Finding' };
/** DCM 112040: the measurement group's Tracking Unique Identifier in the DICOM SR (TID 1500). */
export const TRACKING_UID_CODE: Coding = { system: DCM, code: '112040', display: 'Tracking Unique Identifier' };
/** DCM 126000: the document title of a TID 1500 Imaging Measurement Report. */
export const IMAGING_MEASUREMENT_REPORT: Coding = {
  system: DCM,
  code: '126000',
  display: 'Imaging Measurement Report',
};

/** The level-finding ValueSet: a herniated disc (SNOMED CT) or the explicit absent finding (ours). */
export const LUMBAR_DISC_DISPLACEMENT: Coding = {
  system: SNOMED,
  code: '202708005',
  display: 'Displacement of lumbar intervertebral disc without myelopathy',
};
export const NO_HERNIATION: Coding = defined(ldhCdsConcept('no-herniation'));

/** Component codes (observables of our CodeSystem). */
export const COMPONENT_CODES = {
  msuClass: defined(ldhCdsConcept('msu-class')),
  grade: defined(ldhCdsConcept('msu-grade')),
  zone: defined(ldhCdsConcept('msu-zone')),
  side: defined(ldhCdsConcept('herniation-side')),
  confidence: defined(ldhCdsConcept('model-confidence')),
  keyStudyUid: defined(ldhCdsConcept('key-image-study-uid')),
  keySeriesUid: defined(ldhCdsConcept('key-image-series-uid')),
  keySopInstanceUid: defined(ldhCdsConcept('key-image-sop-instance-uid')),
  keyFrame: defined(ldhCdsConcept('key-image-frame')),
  srInstanceUid: defined(ldhCdsConcept('sr-instance-uid')),
  geometryDisagreement: defined(ldhCdsConcept('geometry-disagreement')),
  levelAssignment: defined(ldhCdsConcept('level-assignment-method')),
  reviewDecision: defined(ldhCdsConcept('review-decision')),
  rejectionReason: defined(ldhCdsConcept('rejection-reason')),
  aiFinding: defined(ldhCdsConcept('ai-herniation')),
  aiMsuClass: defined(ldhCdsConcept('ai-msu-class')),
  aiGrade: defined(ldhCdsConcept('ai-msu-grade')),
  aiZone: defined(ldhCdsConcept('ai-msu-zone')),
  aiSide: defined(ldhCdsConcept('ai-herniation-side')),
} satisfies Record<string, Coding>;

export const msuClassCoding = (grade: MsuGrade, zone: MsuZone): Coding => defined(ldhCdsConcept(`${grade}-${zone}`));
export const gradeCoding = (grade: MsuGrade): Coding => defined(ldhCdsConcept(`grade-${grade}`));
export const zoneCoding = (zone: MsuZone): Coding => defined(ldhCdsConcept(`zone-${zone}`));

function codingsByCode<K extends string>(valueSetUrl: string, keys: Record<K, string>): Record<K, Coding> {
  const codings = valueSetCodings(valueSetUrl);
  return Object.fromEntries(
    Object.entries<string>(keys).map(([key, code]) => {
      const coding = codings.find((candidate) => candidate.code === code);
      if (!coding) throw new Error(`${valueSetUrl} has no code ${code}`);
      return [key, defined(coding)];
    }),
  ) as Record<K, Coding>;
}

/** DICOM CID 7604 disc codes (SNOMED CT), with the displays of our disc-level ValueSet. */
export const LEVEL_BODY_SITES: Record<DiscLevel, Coding> = codingsByCode(DISC_LEVEL_VALUE_SET, {
  'L1-L2': '80064006',
  'L2-L3': '67459009',
  'L3-L4': '62551000',
  'L4-L5': '84020006',
  'L5-S1': '715056000',
});

export const SIDE_CODES: Record<HerniationSide, Coding> = codingsByCode(HERNIATION_SIDE_VALUE_SET, {
  left: '7771000',
  right: '24028007',
  central: 'central',
});

/** The stored decision per level (ValueSet review-decision). */
export const REVIEW_DECISION_CODES: Record<ReviewDecision, Coding> = codingsByCode(REVIEW_DECISION_VALUE_SET, {
  confirm: 'confirmed',
  edit: 'edited',
  reject: 'rejected',
});

/** Coded reasons for a rejection (ValueSet rejection-reason); `other` when the clinician's words name none of them. */
export const REJECTION_REASON_CODES = codingsByCode(REJECTION_REASON_VALUE_SET, {
  artefact: 'artefact',
  wrongLevel: 'wrong-level',
  notAHerniation: 'not-a-herniation',
  missedHerniation: 'missed-herniation',
  other: 'other',
});

/** What a CDS Hooks card of ours is about (card `source.topic`, ValueSet cds-card-kind); feedback is counted by it. */
export const CDS_CARD_KIND_CODES = codingsByCode(CDS_CARD_KIND_VALUE_SET, {
  findings: 'cds-findings',
  priorMri: 'cds-prior-mri',
  patientSummary: 'cds-patient-summary',
  notAnalyzed: 'cds-not-analyzed',
});
export type CdsCardKind = keyof typeof CDS_CARD_KIND_CODES;

/** The reasons a card offers for overriding it (card `overrideReasons`, ValueSet cds-override-reason). */
export const CDS_OVERRIDE_REASON_CODES = codingsByCode(CDS_OVERRIDE_REASON_VALUE_SET, {
  alreadyReviewed: 'already-reviewed',
  notRelevant: 'not-relevant',
  disagree: 'disagree-with-finding',
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
/** HL7 AI transparency: resources the AI asserted carry meta.security AIAST until a clinician verifies them. */
export const AI_ASSERTED: Coding = {
  system: V3_OBSERVATION_VALUE,
  code: 'AIAST',
  display: 'Artificial Intelligence asserted',
};
export const AI_DEVICE_TYPE: Coding = {
  system: AI_DEVICE_TYPE_SYSTEM,
  code: 'Artificial-Intelligence',
  display: 'All kinds of Artificial Intelligence',
};
export const AUTHOR_PARTICIPANT: Coding = { system: PROVENANCE_PARTICIPANT_TYPE, code: 'author', display: 'Author' };
/**
 * The label a clinician-verified resource carries beside AIAST: v3-ObservationValue CLINAST "clinician asserted"
 * (HL7 THO, ValueSet SecurityIntegrityProvenanceAssertedByObservationValue). HL7 AI Transparency on FHIR 1.0.0 keeps
 * AIAST on every AI-influenced resource and removed the ballot's AddedProvenanceCS (CLINAST_AIRPT) before publication.
 */
export const CLINICIAN_ASSERTED: Coding = {
  system: V3_OBSERVATION_VALUE,
  code: 'CLINAST',
  display: 'clinician asserted',
};
/** The signing clinician's role in the signing Provenance (R4 provenance-participant-type). */
export const VERIFIER_PARTICIPANT: Coding = {
  system: PROVENANCE_PARTICIPANT_TYPE,
  code: 'verifier',
  display: 'Verifier',
};
/** Provenance.activity of a first signing: verification (v3-ParticipationType VRF, in R4 provenance-activity-type). */
export const VERIFY_ACTIVITY: Coding = { system: V3_PARTICIPATION_TYPE, code: 'VRF', display: 'verifier' };
/** Provenance.activity of a signed report changed again (v3-DataOperation UPDATE, in R4 provenance-activity-type). */
export const UPDATE_ACTIVITY: Coding = { system: V3_DATA_OPERATION, code: 'UPDATE', display: 'revise' };

export const AI_TEXT = 'AI-generated, preliminary';
