/**
 * How the model fares with the clinicians who sign its analyses (`npm run eval -- --from-fhir`): per model version,
 * the levels reviewed, how many were confirmed, edited and rejected, and the agreement between the AI's reading and
 * the signed one — percent agreement, Gwet's AC1 and Cohen's kappa (agreement.ts), with the confusion matrix (rows
 * AI, columns signed) — on herniation presence, MSU grade and MSU zone.
 *
 * Which levels count:
 * - presence: every reviewed level; a rejected finding counts as its opposite (a rejected herniation is "absent", a
 *   rejected "no herniation" is "present": the clinician said the AI's assertion was wrong, and presence has two sides);
 * - grade and zone: the confirmed and edited levels (a rejection signs no reading), with "none" for no herniation as in
 *   the seed paper's tasks (evaluate.ts TASK_CATEGORIES), so a herniation added or removed is a disagreement too.
 */
import type { LevelReading, ModelRef } from '../../server/src/findings/findings';
import type { ReviewedLevel, SignedReview } from '../../server/src/fhir/read-reviews';
import { agreementTable, cohenKappa, gwetAc1, percentAgreement } from './agreement';
import { TASK_CATEGORIES } from './evaluate';

export const PRESENCE_CATEGORIES = ['absent', 'present'] as const;

export interface AgreementSummary {
  items: number;
  agreeing: number;
  percentAgreement: number;
  ac1: number;
  kappa: number;
  categories: readonly string[];
  /** confusion[i][j]: levels the AI read as categories[i] and the clinician signed as categories[j]. */
  confusion: number[][];
}

export interface ReviewAgreementReport {
  model: ModelRef;
  reports: number;
  levels: number;
  confirmed: number;
  edited: number;
  rejected: number;
  /** Coded rejection reasons (ValueSet rejection-reason) and how often each was given. */
  rejectionReasons: Record<string, number>;
  presence: AgreementSummary;
  grade: AgreementSummary;
  zone: AgreementSummary;
}

const presenceOf = (value: LevelReading): string => (value.herniation ? 'present' : 'absent');
const gradeOf = (value: LevelReading): string => (value.herniation ? String(value.grade ?? 'none') : 'none');
const zoneOf = (value: LevelReading): string => (value.herniation ? (value.zone ?? 'none') : 'none');

function summarize(ai: string[], signed: string[], categories: readonly string[]): AgreementSummary {
  if (ai.length === 0) {
    return {
      items: 0,
      agreeing: 0,
      percentAgreement: Number.NaN,
      ac1: Number.NaN,
      kappa: Number.NaN,
      categories,
      confusion: categories.map(() => categories.map(() => 0)),
    };
  }
  const table = agreementTable(ai, signed, categories);
  return {
    items: ai.length,
    agreeing: ai.filter((label, index) => label === signed[index]).length,
    percentAgreement: percentAgreement(table),
    ac1: gwetAc1(table),
    kappa: cohenKappa(table),
    categories,
    confusion: table.counts,
  };
}

function reportFor(model: ModelRef, reviews: readonly SignedReview[]): ReviewAgreementReport {
  const levels: ReviewedLevel[] = reviews.flatMap((review) => review.levels);
  const signedLevels = levels.filter(
    (level): level is ReviewedLevel & { signed: LevelReading } => level.signed !== undefined,
  );
  const rejectionReasons: Record<string, number> = {};
  for (const level of levels.filter((l) => l.decision === 'reject')) {
    const code = level.reasonCode ?? 'other';
    rejectionReasons[code] = (rejectionReasons[code] ?? 0) + 1;
  }
  const negate = (label: string): string => (label === 'present' ? 'absent' : 'present');
  return {
    model,
    reports: reviews.length,
    levels: levels.length,
    confirmed: levels.filter((level) => level.decision === 'confirm').length,
    edited: levels.filter((level) => level.decision === 'edit').length,
    rejected: levels.filter((level) => level.decision === 'reject').length,
    rejectionReasons,
    presence: summarize(
      levels.map((level) => presenceOf(level.ai)),
      levels.map((level) => (level.signed ? presenceOf(level.signed) : negate(presenceOf(level.ai)))),
      PRESENCE_CATEGORIES,
    ),
    grade: summarize(
      signedLevels.map((level) => gradeOf(level.ai)),
      signedLevels.map((level) => gradeOf(level.signed)),
      TASK_CATEGORIES.grading,
    ),
    zone: summarize(
      signedLevels.map((level) => zoneOf(level.ai)),
      signedLevels.map((level) => zoneOf(level.signed)),
      TASK_CATEGORIES.localization,
    ),
  };
}

/** One report per model version (by id, then version), over every signed review with at least one reviewed level. */
export function reviewAgreement(reviews: readonly SignedReview[]): ReviewAgreementReport[] {
  const byModel = new Map<string, { model: ModelRef; reviews: SignedReview[] }>();
  for (const review of reviews.filter((r) => r.levels.length > 0)) {
    const key = `${review.model.id}\u0000${review.model.version}`;
    const entry = byModel.get(key) ?? { model: review.model, reviews: [] };
    entry.reviews.push(review);
    byModel.set(key, entry);
  }
  return [...byModel.values()]
    .sort(
      (a, b) =>
        a.model.id.localeCompare(b.model.id) ||
        a.model.version.localeCompare(b.model.version, undefined, { numeric: true }),
    )
    .map(({ model, reviews: ofModel }) => reportFor(model, ofModel));
}
