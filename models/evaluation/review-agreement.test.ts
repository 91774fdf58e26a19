import { describe, expect, it } from 'vitest';
import type { LevelReading } from '../../server/src/findings/findings';
import type { ReviewedLevel, SignedReview } from '../../server/src/fhir/read-reviews';
import { reviewAgreement } from './review-agreement';

const NONE: LevelReading = { herniation: false };
const h = (
  grade: 1 | 2 | 3,
  zone: 'A' | 'B' | 'C' | 'AB' | 'BC',
  side: 'left' | 'right' | 'central',
): LevelReading => ({
  herniation: true,
  grade,
  zone,
  side,
});
const LEVELS = ['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'] as const;
const confirm = (ai: LevelReading): Omit<ReviewedLevel, 'level'> => ({ decision: 'confirm', ai, signed: ai });
const edit = (ai: LevelReading, signed: LevelReading): Omit<ReviewedLevel, 'level'> => ({
  decision: 'edit',
  ai,
  signed,
});
const reject = (ai: LevelReading, reasonCode: string): Omit<ReviewedLevel, 'level'> => ({
  decision: 'reject',
  ai,
  reasonCode,
});
const signedReview = (id: string, levels: Omit<ReviewedLevel, 'level'>[], version = '0.1.0'): SignedReview => ({
  report: `DiagnosticReport/${id}`,
  status: 'final',
  studyInstanceUid: `1.2.${id}`,
  model: { id: 'msu-ldh-phantom', version },
  levels: levels.map((level, index) => ({ ...level, level: LEVELS[index] ?? 'L1-L2' })),
});

// The reviews the integration test signs (test/integration/clinician-review.int.test.ts), level by level.
const reviews: SignedReview[] = [
  signedReview('p0', [
    confirm(NONE),
    edit(h(2, 'BC', 'left'), h(3, 'BC', 'left')),
    confirm(NONE),
    edit(NONE, h(1, 'A', 'central')),
    reject(h(2, 'A', 'left'), 'artefact'),
  ]),
  signedReview('p2', [confirm(NONE), confirm(NONE), confirm(NONE), confirm(NONE), confirm(h(2, 'BC', 'left'))]),
  signedReview('p3', [
    confirm(NONE),
    confirm(NONE),
    confirm(NONE),
    confirm(h(2, 'A', 'right')),
    edit(h(2, 'AB', 'right'), h(2, 'B', 'right')),
  ]),
  signedReview('p4', [confirm(NONE), confirm(NONE), confirm(NONE), confirm(NONE), edit(NONE, h(1, 'C', 'right'))]),
];

describe('reviewAgreement', () => {
  const [report] = reviewAgreement(reviews);

  it('when reviews are counted, then confirmed, edited and rejected levels and the reasons add up per model version', () => {
    expect(report).toMatchObject({
      model: { id: 'msu-ldh-phantom', version: '0.1.0' },
      reports: 4,
      levels: 20,
      confirmed: 15,
      edited: 4,
      rejected: 1,
      rejectionReasons: { artefact: 1 },
    });
  });

  it('when presence is compared, then a rejected herniation counts as absent and every level is an item', () => {
    expect(report?.presence).toMatchObject({
      items: 20,
      agreeing: 17,
      confusion: [
        [13, 2],
        [1, 4],
      ],
    });
    expect(report?.presence.percentAgreement).toBeCloseTo(0.85, 10);
    expect(report?.presence.kappa).toBeCloseTo(0.625, 10);
    expect(report?.presence.ac1).toBeCloseTo(0.7505, 4);
  });

  it('when grade and zone are compared, then only signed readings count, with "none" for no herniation', () => {
    expect(report?.grade).toMatchObject({
      items: 19,
      agreeing: 16,
      confusion: [
        [13, 2, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 3, 1],
        [0, 0, 0, 0],
      ],
    });
    expect(report?.grade.ac1).toBeCloseTo(0.8164, 4);
    expect(report?.grade.kappa).toBeCloseTo(0.6299, 4);
    expect(report?.zone).toMatchObject({ items: 19, agreeing: 16 });
    expect(report?.zone.ac1).toBeCloseTo(0.827, 3);
    expect(report?.zone.kappa).toBeCloseTo(0.6437, 4);
  });

  it('when two model versions were signed, then each has its own report, in version order', () => {
    const reports = reviewAgreement([
      ...reviews,
      signedReview('p9', [confirm(NONE)], '0.10.0'),
      signedReview('p8', [confirm(NONE)], '0.2.0'),
    ]);
    expect(reports.map((r) => [r.model.version, r.levels])).toEqual([
      ['0.1.0', 20],
      ['0.2.0', 1],
      ['0.10.0', 1],
    ]);
    expect(reports[1]?.presence.kappa).toBeNaN();
  });
});
