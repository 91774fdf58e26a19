import { describe, expect, it } from 'vitest';
import {
  detectionsToLevelFinding,
  keySliceCandidates,
  levelScore,
  sideOf,
  strongestDetection,
  zoneOf,
  type LevelSlice,
} from './detections-to-findings';
import type { ModelManifest } from './manifest';
import type { Detection } from './yolo';

const manifest = {
  id: 'test',
  version: '0.0.1',
  classes: [
    { index: 0, name: 'g1-A', grade: 1, zone: 'A' },
    { index: 1, name: 'g2-AB', grade: 2, zone: 'AB' },
  ],
  thresholds: { confidence: 0.5, iou: 0.5, spanning: 0.75 },
} as unknown as ModelManifest;

const slice = (sop: string, overrides: Partial<LevelSlice> = {}): LevelSlice => ({
  ref: { sopInstanceUid: sop, frame: 1 },
  width: 100,
  height: 100,
  patientLeftIsImageRight: true,
  ...overrides,
});
const det = (box: [number, number, number, number], score: number, classIndex = 1): Detection => ({
  box,
  score,
  classIndex,
  classScores: Array.from({ length: 9 }, (_, c) => (c === classIndex ? score : 0)),
  keypoints: [],
});

describe('detectionsToLevelFinding', () => {
  it('when the best detection reaches the threshold, then it is the key slice with grade and zone from the class table', () => {
    const finding = detectionsToLevelFinding(
      {
        level: 'L4-L5',
        slices: [slice('a'), slice('b')],
        detections: [[det([60, 40, 80, 60], 0.6)], [det([60, 40, 80, 60], 0.93)]],
      },
      manifest,
    );
    expect(finding).toMatchObject({
      level: 'L4-L5',
      herniation: true,
      grade: 2,
      zone: 'AB',
      side: 'left',
      keySlice: { sopInstanceUid: 'b' },
    });
    expect(finding.confidence).toBeCloseTo(0.93);
  });

  it('when the best score is below the threshold, then the level is normal with confidence 1 − best score', () => {
    const finding = detectionsToLevelFinding(
      { level: 'L5-S1', slices: [slice('a')], detections: [[det([0, 0, 1, 1], 0.2)]] },
      manifest,
    );
    expect(finding.herniation).toBe(false);
    expect(finding.confidence).toBeCloseTo(0.8);
  });

  it('when nothing is detected, then the level is normal with confidence 1', () => {
    expect(
      detectionsToLevelFinding({ level: 'L1-L2', slices: [slice('a')], detections: [[]] }, manifest),
    ).toMatchObject({ herniation: false, confidence: 1 });
  });
});

describe('levelScore with corroboration', () => {
  const corroborated = { ...manifest, corroboration: { slices: 2, iou: 0.2 } } as ModelManifest;
  const place: [number, number, number, number] = [40, 40, 50, 60];
  const faint = {
    level: 'L4-L5' as const,
    slices: [slice('a'), slice('b'), slice('c'), slice('d')],
    detections: [
      [det(place, 0.3)],
      [det([41, 41, 51, 61], 0.2), det([0, 0, 5, 5], 0.9)],
      [det([42, 40, 52, 60], 0.1)],
      [det([44, 42, 54, 62], 0.05)],
    ],
  };

  it('when neighbouring slices show the same place, then the score is the noisy-OR of the strongest and its two best supports', () => {
    // Slice b's strongest detection (0.9, elsewhere) is the level's strongest; the faint finding is scored apart.
    const sameOnly = { ...faint, detections: faint.detections.map((d) => d.filter((x) => x.score < 0.9)) };
    expect(levelScore(sameOnly, corroborated)).toBeCloseTo(1 - 0.7 * 0.8 * 0.9);
    expect(levelScore(sameOnly, manifest)).toBeCloseTo(0.3);
  });

  it('when a slice also has a stronger detection elsewhere, then only the one at the same place supports', () => {
    // The 0.9 box on slice b is the strongest; nothing else overlaps it, so it stands alone.
    expect(levelScore(faint, corroborated)).toBeCloseTo(0.9);
  });

  it('when support lifts a level over the threshold, then it is called with the key slice and box of its strongest slice', () => {
    const level = { ...faint, detections: faint.detections.map((d) => d.filter((x) => x.score < 0.9)) };
    const threshold = { ...corroborated, thresholds: { ...manifest.thresholds, confidence: 0.45 } };
    expect(detectionsToLevelFinding(level, threshold)).toMatchObject({
      herniation: true,
      keySlice: { sopInstanceUid: 'a' },
      box: place,
    });
    expect(detectionsToLevelFinding(level, threshold).confidence).toBeCloseTo(0.496);
    expect(detectionsToLevelFinding(level, { ...threshold, corroboration: undefined })).toMatchObject({
      herniation: false,
    });
  });
});

describe('keySliceCandidates', () => {
  const rule = { slices: 1, iou: 0.2, minScoreShare: 0.8 };
  const place: [number, number, number, number] = [40, 40, 50, 60];
  const level = (detections: Detection[][]) => ({
    level: 'L4-L5' as const,
    slices: detections.map((_, i) => slice(String(i))),
    detections,
  });
  const candidatesOf = (input: ReturnType<typeof level>, ruleHere = rule) => {
    const best = strongestDetection(input);
    if (!best) throw new Error('the test level has no detection');
    return keySliceCandidates(input, best, ruleHere);
  };

  it('when both neighbours show the same place strongly enough, then the strongest comes first and each neighbour follows', () => {
    const input = level([
      [det([41, 41, 51, 61], 0.5)],
      [det(place, 0.6)],
      [det([40, 42, 50, 64], 0.49)],
      [det(place, 0.59)],
    ]);
    const candidates = candidatesOf(input);
    expect(candidates.map((c) => [c.sliceIndex, c.detection.score])).toEqual([
      [1, 0.6],
      [0, 0.5],
      [2, 0.49],
    ]);
  });

  it('when a neighbour scores under minScoreShare of the strongest or sits elsewhere, then it is not a candidate', () => {
    const input = level([[det(place, 0.47)], [det(place, 0.6)], [det([0, 0, 10, 10], 0.59), det(place, 0.3)]]);
    expect(candidatesOf(input).map((c) => c.sliceIndex)).toEqual([1]);
  });

  it('when rule.slices is 2, then slices two away are candidates too, nearest first', () => {
    const input = level([[det(place, 0.55)], [det(place, 0.4)], [det(place, 0.6)], [], [det(place, 0.58)]]);
    const candidates = candidatesOf(input, { ...rule, slices: 2 });
    expect(candidates.map((c) => c.sliceIndex)).toEqual([2, 0, 4]);
  });
});

describe('detectionsToLevelFinding with a reported detection (manifest keySlice)', () => {
  it('when another slice is reported, then key slice, box and class are its own and the confidence stays the strongest', () => {
    const reported = det([38, 40, 52, 66], 0.52, 0);
    const finding = detectionsToLevelFinding(
      {
        level: 'L4-L5',
        slices: [slice('a'), slice('b')],
        detections: [[det([40, 40, 50, 60], 0.52, 0)], [det([40, 40, 50, 60], 0.7)]],
        reported: { sliceIndex: 0, detection: reported },
      },
      manifest,
    );
    expect(finding).toMatchObject({
      herniation: true,
      grade: 1,
      zone: 'A',
      keySlice: { sopInstanceUid: 'a' },
      box: [38, 40, 52, 66],
    });
    expect(finding.confidence).toBeCloseTo(0.7);
  });
});

describe('sideOf', () => {
  it('when IOP is [1,0,0,0,1,0] (patient left = image right), then a box right of the midline is left', () => {
    expect(sideOf([60, 0, 80, 10], slice('a'))).toBe('left');
    expect(sideOf([20, 0, 40, 10], slice('a'))).toBe('right');
  });

  it('when the image is flipped left-right, then sides swap', () => {
    expect(sideOf([60, 0, 80, 10], slice('a', { patientLeftIsImageRight: false }))).toBe('right');
  });

  it('when the box is centred on the intra-facet line midpoint, then it is central even off the image centre', () => {
    expect(
      sideOf([25, 0, 35, 10], slice('a'), [
        [10, 50],
        [50, 50],
      ]),
    ).toBe('central');
  });
});

describe('zoneOf', () => {
  const gradeByZone = {
    id: 'plain-9-class',
    version: '0.0.1',
    classes: [1, 2, 3].flatMap((grade, g) =>
      (['A', 'B', 'C'] as const).map((zone, z) => ({ index: g * 3 + z, name: `${grade}-${zone}`, grade, zone })),
    ),
    thresholds: { confidence: 0.5, iou: 0.45, spanning: 0.75 },
  } as unknown as ModelManifest;
  const scores = (values: Record<number, number>): number[] =>
    Array.from({ length: 9 }, (_, index) => values[index] ?? 0);

  it('when only one zone class passes the threshold, then that zone is reported', () => {
    const detection = { ...det([0, 0, 1, 1], 0.9, 3), classScores: scores({ 3: 0.9, 4: 0.3 }) };
    expect(zoneOf(detection, gradeByZone)).toBe('A');
  });

  it('when zones A and B of the same grade both pass, then the herniation spans AB', () => {
    const detection = { ...det([0, 0, 1, 1], 0.9, 4), classScores: scores({ 3: 0.7, 4: 0.9 }) };
    expect(zoneOf(detection, gradeByZone)).toBe('AB');
  });

  it('when zones B and C of the same grade both pass, then the herniation spans BC', () => {
    const detection = { ...det([0, 0, 1, 1], 0.9, 7), classScores: scores({ 7: 0.9, 8: 0.8 }) };
    expect(zoneOf(detection, gradeByZone)).toBe('BC');
  });

  it('when the adjacent zone passes the threshold but scores well below the primary zone, then one zone is reported', () => {
    // 0.55 ≥ the 0.5 threshold, but < 0.75 × 0.9: the neighbour is lifted by a herniation near the border.
    const detection = { ...det([0, 0, 1, 1], 0.9, 4), classScores: scores({ 3: 0.55, 4: 0.9 }) };
    expect(zoneOf(detection, gradeByZone)).toBe('B');
  });

  it('when the manifest lowers thresholds.spanning, then a neighbour at that share of the primary score spans', () => {
    const detection = { ...det([0, 0, 1, 1], 0.9, 4), classScores: scores({ 3: 0.55, 4: 0.9 }) };
    const lower = { ...gradeByZone, thresholds: { ...gradeByZone.thresholds, spanning: 0.6 } };
    // 0.55 ≥ 0.6 × 0.9 = 0.54.
    expect(zoneOf(detection, lower)).toBe('AB');
  });

  it('when A and C pass (not adjacent) or the second zone has another grade, then no spanning zone is invented', () => {
    expect(zoneOf({ ...det([0, 0, 1, 1], 0.9, 0), classScores: scores({ 0: 0.9, 2: 0.8 }) }, gradeByZone)).toBe('A');
    expect(zoneOf({ ...det([0, 0, 1, 1], 0.9, 0), classScores: scores({ 0: 0.9, 4: 0.8 }) }, gradeByZone)).toBe('A');
  });
});
