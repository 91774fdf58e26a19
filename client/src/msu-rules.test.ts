import { describe, expect, it } from 'vitest';
import { HERNIATION_SIDES, MSU_GRADES, MSU_ZONES, gradeRuleLine, sideRuleLine, zoneRuleLine } from './msu-rules';

describe('MSU rules beside the choices', () => {
  it('when a grade is offered, then its line says how far the herniation reaches towards the intra-facet line', () => {
    expect(MSU_GRADES.map(gradeRuleLine)).toEqual([
      'Grade 1: up to 50 % of the way from the disc margin to the intra-facet line',
      'Grade 2: beyond 50 % of the way to the intra-facet line, up to it',
      'Grade 3: beyond the intra-facet line',
    ]);
  });

  it('when a zone is offered, then its line says which quarters of the intra-facet line it covers', () => {
    expect(MSU_ZONES.map(zoneRuleLine)).toEqual([
      'Zone A: the central two quarters of the intra-facet line',
      'Zone B: a lateral quarter, left or right',
      'Zone C: lateral to the medial facet edge (foraminal / far lateral)',
      'Zone AB: spans the central and a lateral quarter',
      'Zone BC: spans a lateral quarter and beyond the facet edge',
    ]);
  });

  it("when a side is offered, then its line is about the patient's side of the canal midline", () => {
    expect(HERNIATION_SIDES.map(sideRuleLine)).toEqual([
      "Left: most of the herniation lies on the patient's left of the canal midline",
      "Right: most of the herniation lies on the patient's right of the canal midline",
      'Central: the smaller part across the midline is at least half the larger',
    ]);
  });

  it('when any rule is shown, then it is one line', () => {
    const lines = [
      ...MSU_GRADES.map(gradeRuleLine),
      ...MSU_ZONES.map(zoneRuleLine),
      ...HERNIATION_SIDES.map(sideRuleLine),
    ];
    for (const line of lines) expect(line).not.toMatch(/\n/);
  });
});
