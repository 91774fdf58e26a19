import { describe, expect, it } from 'vitest';
import { classifyMsu, measureBox, measurePoints } from './msu-geometry';

const base = { marginToLine: 20, spanStart: 0.35, spanEnd: 0.65 };

describe('classifyMsu', () => {
  it('when the herniation reaches 40 % of the way to the intra-facet line, then grade 1', () => {
    expect(classifyMsu({ ...base, depth: 8 }).grade).toBe(1);
  });
  it('when it reaches exactly 50 %, then still grade 1 (inclusive)', () => {
    expect(classifyMsu({ ...base, depth: 10 }).grade).toBe(1);
  });
  it('when it reaches 80 %, then grade 2', () => {
    expect(classifyMsu({ ...base, depth: 16 }).grade).toBe(2);
  });
  it('when it reaches past the line, then grade 3', () => {
    expect(classifyMsu({ ...base, depth: 24 }).grade).toBe(3);
  });
  it('when it stays within the central two quarters, then zone A, central', () => {
    expect(classifyMsu({ ...base, depth: 8 })).toMatchObject({ zone: 'A', side: 'central' });
  });
  it('when it lies in the lateral quarter on the patient-left end, then zone B, left', () => {
    expect(classifyMsu({ ...base, depth: 8, spanStart: 0.8, spanEnd: 0.95 })).toMatchObject({
      zone: 'B',
      side: 'left',
    });
  });
  it('when it lies past the facet edge, then zone C', () => {
    expect(classifyMsu({ ...base, depth: 8, spanStart: -0.4, spanEnd: -0.1 })).toMatchObject({
      zone: 'C',
      side: 'right',
    });
  });
  it('when it spans the central and a lateral quarter, then zone AB', () => {
    expect(classifyMsu({ ...base, depth: 8, spanStart: 0.1, spanEnd: 0.4 })).toMatchObject({
      zone: 'AB',
      side: 'right',
    });
  });
  it('when it spans a lateral quarter and the foramen, then zone BC', () => {
    expect(classifyMsu({ ...base, depth: 8, spanStart: 0.85, spanEnd: 1.2 })).toMatchObject({
      zone: 'BC',
      side: 'left',
    });
  });
});

describe('measureBox', () => {
  it('when given a box behind a horizontal intra-facet line, then depth and span are relative to the line', () => {
    const m = measureBox([110, 100, 120, 116], 100, [
      [100, 120],
      [140, 120],
    ]);
    expect(m).toEqual({ marginToLine: 20, depth: 16, spanStart: 0.25, spanEnd: 0.5 });
  });
});

describe('measurePoints', () => {
  // Intra-facet line 20 px wide, 10 px behind the disc margin point (100, 100); patient right end first.
  const line: [[number, number], [number, number]] = [
    [90, 110],
    [110, 110],
  ];
  it('when the line is horizontal, then depth is measured from the margin and positions run right → left facet', () => {
    const m = measurePoints(
      [
        [101, 104],
        [106, 108],
      ],
      [100, 100],
      line,
    );
    expect(m).toEqual({ marginToLine: 10, depth: 8, spanStart: 0.55, spanEnd: 0.8 });
    expect(classifyMsu(m)).toEqual({ grade: 2, zone: 'AB', side: 'left' });
  });

  it('when the slice is rotated by 30°, then the measurement and the class are unchanged', () => {
    const angle = Math.PI / 6;
    const rotate = ([x, y]: [number, number]): [number, number] => [
      100 + (x - 100) * Math.cos(angle) - (y - 100) * Math.sin(angle),
      100 + (x - 100) * Math.sin(angle) + (y - 100) * Math.cos(angle),
    ];
    const m = measurePoints([rotate([101, 104]), rotate([106, 108])], rotate([100, 100]), [
      rotate(line[0]),
      rotate(line[1]),
    ]);
    expect(m.marginToLine).toBeCloseTo(10, 9);
    expect(m.depth).toBeCloseTo(8, 9);
    expect(m.spanStart).toBeCloseTo(0.55, 9);
    expect(m.spanEnd).toBeCloseTo(0.8, 9);
  });
});
