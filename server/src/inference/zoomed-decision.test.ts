import { describe, expect, it } from 'vitest';
import type { PixelBox } from '../findings/findings';
import type { Detection } from './yolo';
import { averageBoxes, bestOverlapping, combineViews } from './zoomed-decision';

const det = (box: PixelBox, score: number, classScores = [score, 0]): Detection => ({
  box,
  score,
  classIndex: classScores.indexOf(Math.max(...classScores)),
  classScores,
  keypoints: [],
});

const BOX: PixelBox = [100, 100, 120, 110];

describe('bestOverlapping', () => {
  it('when a stronger detection lies elsewhere in the crop, then the box keeps the one that overlaps it', () => {
    const elsewhere = det([140, 100, 160, 110], 0.9);
    const overlapping = det([102, 101, 121, 111], 0.6);
    expect(bestOverlapping([elsewhere, overlapping], BOX)).toBe(overlapping);
  });

  it('when nothing overlaps the box by an IoU of 0.3, then there is no detection of it', () => {
    expect(bestOverlapping([det([112, 100, 132, 110], 0.9)], BOX)).toBeUndefined();
  });
});

describe('combineViews', () => {
  it('when views find the box, then their edges, scores and class scores are averaged; views that missed it do not count', () => {
    const combined = combineViews(
      [[det([100, 100, 120, 110], 0.8, [0.8, 0.1])], [], [det([102, 102, 122, 112], 0.6, [0.2, 0.6])]],
      BOX,
    );
    expect(combined?.box).toEqual([101, 101, 121, 111]);
    expect(combined?.score).toBeCloseTo(0.7, 10);
    expect(combined?.classScores[0]).toBeCloseTo(0.5, 10);
    expect(combined?.classScores[1]).toBeCloseTo(0.35, 10);
    expect(combined?.classIndex).toBe(0);
  });

  it('when no view finds the box, then there is no detection (the caller keeps its box)', () => {
    expect(combineViews([[], [det([0, 0, 10, 10], 0.9)]], BOX)).toBeUndefined();
  });
});

describe('averageBoxes', () => {
  it('when given no detection, then it refuses', () => {
    expect(() => averageBoxes([])).toThrow('at least one');
  });
});
