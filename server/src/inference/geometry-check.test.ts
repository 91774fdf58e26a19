import { describe, expect, it } from 'vitest';
import type { HerniationLevelFinding } from './findings';
import { geometricMsuClass, geometryDisagreements } from './geometry-check';

// Facet edges at x 100 and 140 on row 160; the disc margin (box top) at row 120: 40 px to the line.
const finding = (overrides: Partial<HerniationLevelFinding>): HerniationLevelFinding => ({
  level: 'L4-L5',
  herniation: true,
  grade: 2,
  zone: 'A',
  side: 'left',
  confidence: 0.9,
  keySlice: { sopInstanceUid: '1.2.3', frame: 1 },
  box: [120, 120, 128, 150],
  intraFacetLine: [
    [100, 160],
    [140, 160],
  ],
  ...overrides,
});

describe('geometricMsuClass', () => {
  it('when the box reaches 75 % of the way to the line within the central quarters, then it is 2-A', () => {
    expect(geometricMsuClass(finding({}))).toMatchObject({ grade: 2, zone: 'A' });
  });

  it('when the box passes the line, then it is grade 3; when it reaches the lateral quarter, zone AB', () => {
    expect(geometricMsuClass(finding({ box: [120, 120, 134, 170] }))).toMatchObject({ grade: 3, zone: 'AB' });
  });

  it('when there is no intra-facet line, then there is nothing to measure', () => {
    const withoutLine = finding({});
    delete withoutLine.intraFacetLine;
    expect(geometricMsuClass(withoutLine)).toBeUndefined();
  });
});

describe('geometryDisagreements', () => {
  it('when the classifier and the geometry agree, then there is no warning', () => {
    expect(geometryDisagreements([finding({})])).toEqual([]);
  });

  it('when the classifier says 1-A but the box reaches past the line, then the warning names both classes', () => {
    const [warning] = geometryDisagreements([finding({ grade: 1, box: [120, 120, 128, 170] })]);
    expect(warning).toMatch(/^L4-L5: 1-A \(left\): the box and facet points measure 3-A/);
  });
});
