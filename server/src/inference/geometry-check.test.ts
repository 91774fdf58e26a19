import { describe, expect, it } from 'vitest';
import type { HerniationLevelFinding } from '../findings/findings';
import { geometricMsuClass, reconcileMsuClass } from './geometry-check';

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

describe('reconcileMsuClass with the classifier reported', () => {
  it('when the classifier and the geometry agree, then there is no warning', () => {
    expect(reconcileMsuClass([finding({})]).warnings).toEqual([]);
  });

  it('when the classifier says 1-A but the box reaches past the line, then the warning names both classes', () => {
    const [warning] = reconcileMsuClass([finding({ grade: 1, box: [120, 120, 128, 170] })]).warnings;
    expect(warning).toMatch(/^L4-L5: 1-A \(left\): the box and facet points measure 3-A/);
  });
});

describe('reconcileMsuClass', () => {
  it('when the manifest says classFrom "geometry", then the measured class is reported and the warning names the classifier', () => {
    const { levels, warnings } = reconcileMsuClass([finding({ grade: 1, box: [120, 120, 128, 170] })], 'geometry');
    expect(levels[0]).toMatchObject({ grade: 3, zone: 'A', box: [120, 120, 128, 170] });
    expect(warnings).toEqual([
      'L4-L5: 3-A (left): measured from the box and facet points by the MSU rules; the classifier scored 1-A — review the key slice before confirming',
    ]);
  });

  it('when the classifier agrees with the geometry, then nothing changes and nothing is said', () => {
    const agreeing = finding({});
    expect(reconcileMsuClass([agreeing], 'geometry')).toEqual({ levels: [agreeing], warnings: [] });
  });

  it('when the facet points were not found, then the classifier class stands and a warning says so', () => {
    const withoutLine = finding({ grade: 1 });
    delete withoutLine.intraFacetLine;
    const { levels, warnings } = reconcileMsuClass([withoutLine], 'geometry');
    expect(levels[0]).toMatchObject({ grade: 1, zone: 'A' });
    expect(warnings[0]).toMatch(/^L4-L5: 1-A \(left\): the facet edges were not found .* classifier's alone/);
  });

  it('when the manifest keeps the classifier (the default), then the classifier class is reported with the old warning', () => {
    const { levels, warnings } = reconcileMsuClass([finding({ grade: 1, box: [120, 120, 128, 170] })]);
    expect(levels[0]).toMatchObject({ grade: 1 });
    expect(warnings[0]).toMatch(/^L4-L5: 1-A \(left\): the box and facet points measure 3-A/);
  });
});
