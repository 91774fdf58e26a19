/**
 * What one level Observation says, read back: the disc level, the reading it holds (the AI's while unreviewed, the
 * clinician's once signed), the AI's original reading, and the review recorded on it (docs/fhir-mapping.md §Clinician
 * review). Shared by the read-back of an analysis (read-findings.ts), the review write-back (review-builders.ts) and
 * the agreement report of signed reviews (read-reviews.ts), so the three read one Observation the same way.
 */
import type { Annotation, Coding, Observation, ObservationComponent } from 'fhir/r4';
import {
  DISC_LEVELS,
  type DiscLevel,
  type HerniationSide,
  type LevelReading,
  type LevelReview,
  type MsuGrade,
  type MsuZone,
  type ReviewDecision,
} from '../findings/findings';
import { COMPONENT_CODES, LEVEL_BODY_SITES, LUMBAR_DISC_DISPLACEMENT, REVIEW_DECISION_CODES } from './codes';
import { LDH_CDS_CODE_SYSTEM } from './definitions';

/** How a level comment and a rejection read in an Observation note (author = the clinician). */
export const COMMENT_PREFIX = 'Comment: ';
export const REJECTION_PREFIX = 'AI finding rejected: ';

const hasCode = (component: ObservationComponent, code: string | undefined): boolean =>
  component.code.coding?.some((coding) => coding.code === code) ?? false;

/** The component whose code is this coding's code (our observables, DCM 112040). */
export const componentOf = (observation: Observation, coding: Coding): ObservationComponent | undefined =>
  observation.component?.find((c) => hasCode(c, coding.code));

/** The ldh-cds code a coded component holds. */
export const ourCodeOf = (component: ObservationComponent | undefined): string | undefined =>
  component?.valueCodeableConcept?.coding?.find((coding) => coding.system === LDH_CDS_CODE_SYSTEM)?.code;

export function levelOf(observation: Observation): DiscLevel | undefined {
  const codes = new Set((observation.bodySite?.coding ?? []).map((coding) => coding.code));
  return DISC_LEVELS.find((level) => codes.has(LEVEL_BODY_SITES[level].code));
}

const SIDES: Record<string, HerniationSide> = { '7771000': 'left', '24028007': 'right', central: 'central' };
const CLASS_CODE = /^([123])-(A|B|C|AB|BC)$/;

export function msuClassOf(code: string | undefined): { grade: MsuGrade; zone: MsuZone } | undefined {
  const match = CLASS_CODE.exec(code ?? '');
  return match ? { grade: Number(match[1]) as MsuGrade, zone: match[2] as MsuZone } : undefined;
}

export function sideOf(component: ObservationComponent | undefined): HerniationSide | undefined {
  return (component?.valueCodeableConcept?.coding ?? [])
    .map((coding) => SIDES[coding.code ?? ''])
    .find((side) => side !== undefined);
}

const isHerniationFinding = (concept: Observation['valueCodeableConcept']): boolean =>
  concept?.coding?.some(
    (coding) => coding.system === LUMBAR_DISC_DISPLACEMENT.system && coding.code === LUMBAR_DISC_DISPLACEMENT.code,
  ) ?? false;

function reading(
  finding: Observation['valueCodeableConcept'],
  msuClass: ObservationComponent | undefined,
  side: ObservationComponent | undefined,
): LevelReading {
  const herniationClass = msuClassOf(ourCodeOf(msuClass));
  if (!isHerniationFinding(finding) || !herniationClass) return { herniation: false };
  return { herniation: true, ...herniationClass, side: sideOf(side) ?? 'central' };
}

/** The reading the Observation holds: the AI's while unreviewed or confirmed, the clinician's once edited. */
export function observationReading(observation: Observation): LevelReading {
  return reading(
    observation.valueCodeableConcept,
    componentOf(observation, COMPONENT_CODES.msuClass),
    componentOf(observation, COMPONENT_CODES.side),
  );
}

/** The AI's original reading: the `ai-…` components an edit keeps, else the value (never edited). */
export function aiReadingOf(observation: Observation): LevelReading {
  const aiFinding = componentOf(observation, COMPONENT_CODES.aiFinding);
  if (!aiFinding) return observationReading(observation);
  return reading(
    aiFinding.valueCodeableConcept,
    componentOf(observation, COMPONENT_CODES.aiMsuClass),
    componentOf(observation, COMPONENT_CODES.aiSide),
  );
}

export function sameReading(a: LevelReading, b: LevelReading): boolean {
  if (a.herniation !== b.herniation) return false;
  return !a.herniation || (a.grade === b.grade && a.zone === b.zone && a.side === b.side);
}

/** `2-AB left` or `no herniation`: a reading in a few words (the conclusion's "(AI: …)" and the Provenance summary). */
export function readingToText(value: LevelReading): string {
  return value.herniation ? `${value.grade ?? '?'}-${value.zone ?? '?'} ${value.side ?? 'central'}` : 'no herniation';
}

/** `2-AB (left)` or `no herniation`: a reading as the MSU report string writes it (docs/msu.md §Report string). */
export function readingToReportText(value: LevelReading): string {
  return value.herniation ? `${value.grade ?? '?'}-${value.zone ?? '?'} (${value.side ?? 'central'})` : 'no herniation';
}

const DECISIONS = Object.entries(REVIEW_DECISION_CODES) as [ReviewDecision, Coding][];

/** The decision the signing recorded on this Observation (component review-decision), if it was reviewed. */
export function reviewDecisionOf(observation: Observation): ReviewDecision | undefined {
  const code = ourCodeOf(componentOf(observation, COMPONENT_CODES.reviewDecision));
  return DECISIONS.find(([, coding]) => coding.code === code)?.[0];
}

/** A note the clinician wrote when signing (AI warnings and superseding notes have no author). */
export const isClinicianNote = (note: Annotation): boolean =>
  note.authorReference !== undefined || note.authorString !== undefined;

/** The review recorded on the Observation: the decision, the AI's reading, a rejection's reason, the comment. */
export function observationReview(observation: Observation): LevelReview | undefined {
  const decision = reviewDecisionOf(observation);
  if (!decision) return undefined;
  const notes = (observation.note ?? []).filter(isClinicianNote).map((note) => note.text);
  const reasonComponent = componentOf(observation, COMPONENT_CODES.rejectionReason);
  const reason =
    reasonComponent?.valueCodeableConcept?.text ??
    notes.find((text) => text.startsWith(REJECTION_PREFIX))?.slice(REJECTION_PREFIX.length);
  const comment = notes.find((text) => text.startsWith(COMMENT_PREFIX))?.slice(COMMENT_PREFIX.length);
  return {
    decision,
    ai: aiReadingOf(observation),
    ...(decision === 'reject' && reason ? { reason } : {}),
    ...(comment ? { comment } : {}),
  };
}

const LEVEL_ALTERNATIVES = DISC_LEVELS.join('|');
/**
 * A level line of a report conclusion, as the AI wrote it (`L4-L5: 2-AB (left)`, `L5-S1: no herniation`) or as a
 * signed report writes it (`… (AI: 2-AB left, edited)`, `L5-S1: not reported (AI finding rejected: …)`). A warning
 * about a level starts with the level's report line too, but goes on with `: …`, so it never matches.
 */
const CONCLUSION_LEVEL_LINE = new RegExp(
  `^(?:${LEVEL_ALTERNATIVES}): (?:[123]-(?:A|B|C|AB|BC) \\((?:left|right|central)\\)|no herniation|not reported)` +
    '(?: \\(AI: [^()]*\\)| \\(AI finding rejected: .*\\))?$',
);

export const isConclusionLevelLine = (line: string): boolean => CONCLUSION_LEVEL_LINE.test(line);
