/**
 * The MSU rules in one line each, shown beside every choice the clinician makes when editing a level, so the
 * choice can be checked against the key slice by eye. The wording follows docs/msu.md (§Size grade, §Location
 * zone, §Side); the rules themselves live in server/src/inference/msu-geometry.ts and msu-side.ts.
 */
import type { HerniationSide, MsuGrade, MsuZone } from '../../server/src/findings/findings';

/** 1, 2, 3 (the contract's MsuGrade; repeated because the client imports only types from the server). */
export const MSU_GRADES: readonly MsuGrade[] = [1, 2, 3];
export const MSU_ZONES: readonly MsuZone[] = ['A', 'B', 'C', 'AB', 'BC'];
export const HERNIATION_SIDES: readonly HerniationSide[] = ['left', 'right', 'central'];

/** Measured perpendicular to the intra-facet line, from the posterior disc margin (docs/msu.md §Size grade). */
const GRADE_RULES: Record<MsuGrade, string> = {
  1: 'up to 50 % of the way from the disc margin to the intra-facet line',
  2: 'beyond 50 % of the way to the intra-facet line, up to it',
  3: 'beyond the intra-facet line',
};

/** The intra-facet line divided into four equal quarters (docs/msu.md §Location zone). */
const ZONE_RULES: Record<MsuZone, string> = {
  A: 'the central two quarters of the intra-facet line',
  B: 'a lateral quarter, left or right',
  C: 'lateral to the medial facet edge (foraminal / far lateral)',
  AB: 'spans the central and a lateral quarter',
  BC: 'spans a lateral quarter and beyond the facet edge',
};

/** The patient's side (docs/msu.md §Side); MSU itself gives no numeric rule for "central". */
const SIDE_RULES: Record<HerniationSide, string> = {
  left: "most of the herniation lies on the patient's left of the canal midline",
  right: "most of the herniation lies on the patient's right of the canal midline",
  central: 'the smaller part across the midline is at least half the larger',
};

export const NO_HERNIATION_RULE = 'no disc material beyond the posterior disc margin at this level';

export function gradeRule(grade: MsuGrade): string {
  return GRADE_RULES[grade];
}

export function zoneRule(zone: MsuZone): string {
  return ZONE_RULES[zone];
}

export function sideRule(side: HerniationSide): string {
  return SIDE_RULES[side];
}

/** `Grade 2: beyond 50 % of the way to the intra-facet line, up to it` — the line shown beside the choice. */
export function gradeRuleLine(grade: MsuGrade): string {
  return `Grade ${grade}: ${gradeRule(grade)}`;
}

/** `Zone AB: spans the central and a lateral quarter`. */
export function zoneRuleLine(zone: MsuZone): string {
  return `Zone ${zone}: ${zoneRule(zone)}`;
}

/** `Left: most of the herniation lies on the patient's left of the canal midline`. */
export function sideRuleLine(side: HerniationSide): string {
  return `${sideLabel(side)}: ${sideRule(side)}`;
}

export function sideLabel(side: HerniationSide): string {
  return side.charAt(0).toUpperCase() + side.slice(1);
}
