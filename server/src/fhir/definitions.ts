/**
 * The FHIR definitions ldh-cds ships (`server/fhir-definitions/*.json`): the canonical URLs of our CodeSystem and
 * ValueSets, and a lookup of our concepts. The codes the server writes come from the same JSON a validator loads, so
 * the two cannot drift apart. Canonical URLs are identifiers (FHIR R4 §2.1.0.2 "canonical"); they need not resolve.
 *
 * This module imports no other server module: `codes.ts` builds on it.
 */
import type { CodeSystem, CodeSystemConcept, ValueSet } from 'fhir/r4';
import codeSystemJson from '../../fhir-definitions/CodeSystem-ldh-cds.json' with { type: 'json' };
import cdsCardKindJson from '../../fhir-definitions/ValueSet-cds-card-kind.json' with { type: 'json' };
import cdsOverrideReasonJson from '../../fhir-definitions/ValueSet-cds-override-reason.json' with { type: 'json' };
import discLevelJson from '../../fhir-definitions/ValueSet-disc-level.json' with { type: 'json' };
import herniationSideJson from '../../fhir-definitions/ValueSet-herniation-side.json' with { type: 'json' };
import levelAssignmentMethodJson from '../../fhir-definitions/ValueSet-level-assignment-method.json' with { type: 'json' };
import levelFindingJson from '../../fhir-definitions/ValueSet-level-finding.json' with { type: 'json' };
import msuClassJson from '../../fhir-definitions/ValueSet-msu-class.json' with { type: 'json' };
import msuGradeJson from '../../fhir-definitions/ValueSet-msu-grade.json' with { type: 'json' };
import msuZoneJson from '../../fhir-definitions/ValueSet-msu-zone.json' with { type: 'json' };
import rejectionReasonJson from '../../fhir-definitions/ValueSet-rejection-reason.json' with { type: 'json' };
import reviewDecisionJson from '../../fhir-definitions/ValueSet-review-decision.json' with { type: 'json' };

export const LDH_CDS_CANONICAL_BASE = 'https://ldh-cds.org/fhir';
export const LDH_CDS_CODE_SYSTEM = `${LDH_CDS_CANONICAL_BASE}/CodeSystem/ldh-cds`;
/** The fifteen MSU classes `1-A` … `3-BC`. */
export const MSU_CLASS_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/msu-class`;
export const MSU_GRADE_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/msu-grade`;
export const MSU_ZONE_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/msu-zone`;
/** SNOMED CT Left / Right and ldh-cds `central`. */
export const HERNIATION_SIDE_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/herniation-side`;
/** The value of a level Observation: SNOMED CT 202708005 or ldh-cds `no-herniation`. */
export const LEVEL_FINDING_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/level-finding`;
/** Lumbar discs L1/L2 … L5/S1, the SNOMED CT codes of DICOM CID 7604 "Intervertebral Disc". */
export const DISC_LEVEL_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/disc-level`;
export const LEVEL_ASSIGNMENT_METHOD_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/level-assignment-method`;
/** The clinician's decision on one level's AI finding: confirmed, edited, rejected (docs/fhir-mapping.md §Clinician review). */
export const REVIEW_DECISION_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/review-decision`;
/** Why a clinician rejected an AI finding: artefact, wrong level, not a herniation, missed herniation, other. */
export const REJECTION_REASON_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/rejection-reason`;
/** What a CDS Hooks card of ours is about (its `source.topic`): findings, prior MRI, patient summary, not analyzed. */
export const CDS_CARD_KIND_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/cds-card-kind`;
/** Why a clinician overrode a card (its `overrideReasons`): already reviewed, not relevant, disagree with the finding. */
export const CDS_OVERRIDE_REASON_VALUE_SET = `${LDH_CDS_CANONICAL_BASE}/ValueSet/cds-override-reason`;

/** A concept as a FHIR Coding with every field present (assignable to `Coding` of `fhir/r4`). */
export interface DefinedCoding {
  system: string;
  code: string;
  display: string;
}

// The JSON files are checked against R4 by server/fhir-definitions/definitions.test.ts; here they are only typed.
const codeSystem = codeSystemJson as CodeSystem;
const valueSets = [
  msuClassJson,
  msuGradeJson,
  msuZoneJson,
  herniationSideJson,
  levelFindingJson,
  discLevelJson,
  levelAssignmentMethodJson,
  reviewDecisionJson,
  rejectionReasonJson,
  cdsCardKindJson,
  cdsOverrideReasonJson,
] as ValueSet[];

function requireUrl(actual: string | undefined, expected: string, file: string): void {
  if (actual !== expected) throw new Error(`${file}: url is "${actual ?? ''}", expected "${expected}"`);
}

requireUrl(codeSystem.url, LDH_CDS_CODE_SYSTEM, 'CodeSystem-ldh-cds.json');
for (const url of [
  MSU_CLASS_VALUE_SET,
  MSU_GRADE_VALUE_SET,
  MSU_ZONE_VALUE_SET,
  HERNIATION_SIDE_VALUE_SET,
  LEVEL_FINDING_VALUE_SET,
  DISC_LEVEL_VALUE_SET,
  LEVEL_ASSIGNMENT_METHOD_VALUE_SET,
  REVIEW_DECISION_VALUE_SET,
  REJECTION_REASON_VALUE_SET,
  CDS_CARD_KIND_VALUE_SET,
  CDS_OVERRIDE_REASON_VALUE_SET,
]) {
  const id = url.slice(url.lastIndexOf('/') + 1);
  requireUrl(valueSets.find((valueSet) => valueSet.id === id)?.url, url, `ValueSet-${id}.json`);
}

function flattenConcepts(concepts: CodeSystemConcept[] = []): CodeSystemConcept[] {
  return concepts.flatMap((concept) => [concept, ...flattenConcepts(concept.concept)]);
}

const conceptsByCode = new Map(flattenConcepts(codeSystem.concept).map((concept) => [concept.code, concept]));

/** The Coding of one concept of our CodeSystem; throws on a code the CodeSystem does not define. */
export function ldhCdsConcept(code: string): DefinedCoding {
  const concept = conceptsByCode.get(code);
  if (!concept?.display) throw new Error(`Unknown ldh-cds code "${code}": not defined in ${LDH_CDS_CODE_SYSTEM}`);
  return { system: LDH_CDS_CODE_SYSTEM, code: concept.code, display: concept.display };
}

/**
 * The Codings one of our ValueSets enumerates (`compose.include.concept`), in file order, with the displays it gives
 * (for SNOMED CT codes those of the source cited in the ValueSet). Throws on a URL that is not one of ours.
 */
export function valueSetCodings(url: string): DefinedCoding[] {
  const valueSet = valueSets.find((candidate) => candidate.url === url);
  if (!valueSet) throw new Error(`Unknown ValueSet "${url}": not one of the ldh-cds definitions`);
  return (valueSet.compose?.include ?? []).flatMap((include) =>
    (include.concept ?? []).map((concept) => ({
      system: include.system ?? '',
      code: concept.code,
      display: concept.display ?? '',
    })),
  );
}
