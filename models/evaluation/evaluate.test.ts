import { describe, expect, it } from 'vitest';
import type { Findings, LevelFinding } from '../../server/src/findings/findings';
import { matchDetections, type PredictedBox, type TruthBox } from './detection';
import { evaluateTask, keySliceAgreement } from './evaluate';

const normal = (level: LevelFinding['level']): LevelFinding => ({ level, herniation: false, confidence: 0.9 });
const herniation = (
  level: LevelFinding['level'],
  grade: 1 | 2 | 3,
  zone: 'A' | 'B',
  box: [number, number, number, number],
  sop = `key-${level}`,
): LevelFinding => ({
  level,
  herniation: true,
  grade,
  zone,
  side: 'left',
  confidence: 0.9,
  keySlice: { sopInstanceUid: sop, frame: 1 },
  box,
});
const study = (levels: LevelFinding[]): Findings => ({
  studyInstanceUid: '1.2.3',
  seriesInstanceUid: '1.2.3.4',
  model: { id: 'm', version: '1' },
  levels,
  warnings: [],
});

describe('evaluateTask', () => {
  const truth = study([
    normal('L1-L2'),
    normal('L2-L3'),
    herniation('L3-L4', 1, 'A', [0, 0, 10, 10]),
    herniation('L4-L5', 2, 'A', [0, 0, 10, 10]),
    herniation('L5-S1', 2, 'B', [0, 0, 10, 10]),
  ]);
  const predicted = study([
    normal('L1-L2'),
    herniation('L2-L3', 1, 'A', [0, 0, 5, 5]), // false positive
    herniation('L3-L4', 1, 'A', [0, 0, 10, 8]), // IoU 0.8, right grade and zone
    herniation('L4-L5', 3, 'A', [0, 0, 10, 10]), // wrong grade, right zone, IoU 1
    herniation('L5-S1', 2, 'B', [0, 0, 10, 10], 'another-slice'), // right class, other slice
  ]);

  it('when herniations are found, then the key-slice agreement counts those reported on the truth key slice', () => {
    // Found: L3-L4 and L4-L5 on their key slices, L5-S1 on another; the false call at L2-L3 is not a found herniation.
    const agreement = keySliceAgreement([{ truth, predicted }]);
    expect(agreement).toMatchObject({ found: 3, onKeySlice: 2 });
    expect(agreement.value).toBeCloseTo(2 / 3, 10);
    expect(agreement.ci[0]).toBeLessThan(2 / 3);
    expect(agreement.ci[1]).toBeGreaterThan(2 / 3);
    expect(keySliceAgreement([{ truth, predicted: study([normal('L3-L4')]) }]).found).toBe(0);
  });

  it('when grading, then any box on a slice the truth marks counts (docs/msu.md §Evaluation), and class-aware only with the true grade', () => {
    const report = evaluateTask([{ truth, predicted }], 'grading');
    // L3-L4 (IoU 0.8) and L4-L5 (IoU 1, wrong grade) match; L5-S1's box is on a slice the truth does not mark.
    expect(report.recall.value).toBeCloseTo(2 / 3, 10);
    expect(report.meanIoU.value).toBeCloseTo(0.9, 10);
    expect(report.classAware.recall.value).toBeCloseTo(1 / 3, 10);
    expect(report.classAware.meanIoU).toBeCloseTo(0.8, 10);
    // Labels: truth none none 1 2 2 / predicted none 1 1 3 2 → 3 of 5 agree.
    expect(report.percentAgreement.value).toBeCloseTo(0.6, 10);
    expect(report.items).toBe(5);
  });

  it('when localizing, then the zone decides the class-aware match: the wrong-grade box now counts', () => {
    const report = evaluateTask([{ truth, predicted }], 'localization');
    expect(report.classAware.recall.value).toBeCloseTo(2 / 3, 10);
    expect(report.classAware.meanIoU).toBeCloseTo(0.9, 10);
  });
});

describe('matchDetections', () => {
  it('when two predictions compete for one truth box, then the higher score is matched first', () => {
    const report = matchDetections(
      [{ key: 'k', label: '2', boxes: [{ sopInstanceUid: 's', box: [0, 0, 10, 10] }] }],
      [
        { key: 'k', label: '2', sopInstanceUid: 's', box: [0, 0, 10, 6], score: 0.6 },
        { key: 'k', label: '2', sopInstanceUid: 's', box: [0, 0, 10, 9], score: 0.9 },
      ],
    );
    expect(report.matches).toEqual([{ truthKey: 'k', iou: expect.closeTo(0.9, 10) as number }]);
  });

  it('when the overlap is below 0.5, then there is no match', () => {
    const report = matchDetections(
      [{ key: 'k', label: '2', boxes: [{ sopInstanceUid: 's', box: [0, 0, 10, 10] }] }],
      [{ key: 'k', label: '2', sopInstanceUid: 's', box: [0, 0, 10, 4], score: 0.9 }],
    );
    expect(report.matches).toEqual([]);
  });

  it('when the box is right but the label wrong, then only the label-free variant matches it', () => {
    const truths: TruthBox[] = [{ key: 'k', label: '2', boxes: [{ sopInstanceUid: 's', box: [0, 0, 10, 10] }] }];
    const predictions: PredictedBox[] = [{ key: 'k', label: '3', sopInstanceUid: 's', box: [0, 0, 10, 8], score: 0.9 }];
    expect(matchDetections(truths, predictions, { labelAware: true }).matches).toEqual([]);
    expect(matchDetections(truths, predictions).matches).toEqual([
      { truthKey: 'k', iou: expect.closeTo(0.8, 10) as number },
    ]);
  });
});
