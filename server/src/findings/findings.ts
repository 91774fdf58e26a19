/**
 * The findings contract (docs/architecture.md §The findings contract): what the pipeline returns, the API serves,
 * `npm run analyze -- --json` prints and the synthetic generator's ground truth follows, so that they compare
 * directly. Field names are fixed; extra fields are allowed.
 *
 * A module of its own that imports nothing: the stages (dicom, inference, fhir), cds-hooks, the client and the
 * models all depend on it, never the reverse (a lint rule keeps it so).
 */

/** How disc levels were assigned to the axial stacks: on the sagittal series, or by counting from the lowest stack. */
export interface LevelAssignment {
  method: 'sagittal-cross-reference' | 'counted-from-lowest-stack';
  /** One sentence for the clinician. */
  description: string;
}

export const DISC_LEVELS = ['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'] as const;
export type DiscLevel = (typeof DISC_LEVELS)[number];

/** MSU size grade (docs/msu.md §Size grade): 1 ≤ 50 % of the way to the intra-facet line, 2 up to it, 3 beyond. */
export type MsuGrade = 1 | 2 | 3;
/** MSU location zone (docs/msu.md §Location zone); AB and BC when a herniation spans two zones. */
export type MsuZone = 'A' | 'B' | 'C' | 'AB' | 'BC';
export type HerniationSide = 'left' | 'right' | 'central';

/** [x0, y0, x1, y1] in pixel coordinates of the key slice (column, row; origin top-left). */
export type PixelBox = [number, number, number, number];
export type PixelPoint = [number, number];

export interface SliceRef {
  sopInstanceUid: string;
  /** 1-based frame number, as in WADO-RS `/frames/{n}`. */
  frame: number;
}

export interface NormalLevelFinding {
  level: DiscLevel;
  herniation: false;
  confidence: number;
  keySlice?: SliceRef;
  intraFacetLine?: [PixelPoint, PixelPoint];
  /** What the clinician should know about this level before confirming it (also in `Findings.warnings`). */
  warnings?: string[];
  /** The clinician's decision on this level, once the analysis is signed (the AI's reading is kept in it). */
  review?: LevelReview;
}

/**
 * The other reading of a herniation's MSU class when the classifier and the box geometry disagree
 * (docs/msu.md §Classifier and geometry): `measuredBy` says which of the two gave this class — the one NOT reported.
 */
export interface ClassDisagreement {
  measuredBy: 'geometry' | 'classifier';
  grade: MsuGrade;
  zone: MsuZone;
}

export interface HerniationLevelFinding {
  level: DiscLevel;
  herniation: true;
  grade: MsuGrade;
  zone: MsuZone;
  side: HerniationSide;
  confidence: number;
  keySlice: SliceRef;
  box: PixelBox;
  intraFacetLine?: [PixelPoint, PixelPoint];
  warnings?: string[];
  disagreement?: ClassDisagreement;
  review?: LevelReview;
}

export type LevelFinding = NormalLevelFinding | HerniationLevelFinding;

export interface ModelRef {
  id: string;
  version: string;
}

export interface Findings {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  model: ModelRef;
  levels: LevelFinding[];
  /** How the disc levels were assigned (an extra field of ours; the contract allows extras). */
  levelAssignment?: LevelAssignment;
  /**
   * When the analyzed images were acquired, as a FHIR dateTime (with the DICOM time zone offset when the images name
   * one, else the date alone). An extra field of ours; the FHIR results use it as `effectiveDateTime`.
   */
  acquisitionDateTime?: string;
  /** Who signed the analysis, once a clinician has (docs/fhir-mapping.md §Clinician review). */
  signature?: Signature;
  warnings: string[];
}

/** `L4-L5: 2-AB (left)` — the MSU report string (docs/msu.md §Report string). */
export function levelFindingToReportLine(finding: LevelFinding): string {
  if (!finding.herniation) return `${finding.level}: no herniation`;
  return `${finding.level}: ${finding.grade}-${finding.zone} (${finding.side})`;
}

/*
 * The clinician's review of an AI analysis (docs/fhir-mapping.md §Clinician review): per level, confirm, edit or
 * reject the AI finding, then sign. The API serves it, the panel sends it, the FHIR write-back records it, and the
 * agreement report (`npm run eval -- --from-fhir`) reads it back.
 */

export type ReviewDecision = 'confirm' | 'edit' | 'reject';

/** What a level says, as the AI said it or as the clinician signed it. */
export interface LevelReading {
  herniation: boolean;
  grade?: MsuGrade;
  zone?: MsuZone;
  side?: HerniationSide;
}

/** One level's decision, as the panel sends it. */
export interface LevelReviewInput {
  level: DiscLevel;
  decision: ReviewDecision;
  /** For `edit`: the clinician's reading (herniation false = "no herniation"). */
  reading?: LevelReading;
  /** For `reject`: why (required), e.g. "artefact", "wrong level", "not a herniation". */
  reason?: string;
  comment?: string;
}

/** `POST /api/analyses/review`: sign the analysis the clinician saw. */
export interface ReviewRequest {
  /** `DiagnosticReport/<id>`. */
  diagnosticReport: string;
  /** The report's `meta.versionId` the clinician saw; the save fails (409) when the report changed since. */
  versionId: string;
  /** Every assessed level must be decided; "confirm all remaining" is the panel's job. */
  levels: LevelReviewInput[];
  /** Free text added to the report's conclusion. */
  comment?: string;
}

/** One level's review as stored: who decided what, and what the AI had said. */
export interface LevelReview {
  decision: ReviewDecision;
  /** The AI's original reading, kept beside the clinician's. */
  ai: LevelReading;
  reason?: string;
  comment?: string;
}

/** Who signed, and when: the report's verifier (FHIR `fhirUser` of the SMART session). */
export interface Signature {
  /** `Practitioner/<id>` (or another fhirUser reference). */
  by: string;
  /** Display name, when the EHR gives one. */
  display?: string;
  /** FHIR instant. */
  at: string;
}
