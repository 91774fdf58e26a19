/**
 * Plans herniations that measure as a chosen MSU class (docs/msu.md §The rules we implement) in one level's anatomy.
 * Spans and depths are drawn at random inside the class, then kept only when moving every edge by `MARGIN_MM` leaves
 * the class unchanged, so the drawn pixels (measured on the key slice) give back the planned class. The ground truth is
 * still measured from the drawn pixels, never copied from the plan.
 */
import type { DiscLevel, HerniationSide, MsuGrade, MsuZone } from '../../../server/src/findings/findings';
import { classifyMsu, type MsuClass } from '../../../server/src/inference/msu-geometry';
import { pickWeighted, type Rng } from '../prng';
import type { HerniationGeometry, LevelAnatomy } from './anatomy';

export const MARGIN_MM = 0.9;

/** Share of the margin-to-line distance reached, per grade (with room for the margin at each end). */
const DEPTH_RATIO: Record<MsuGrade, [number, number]> = { 1: [0.2, 0.5], 2: [0.5, 1], 3: [1, 1.55] };

/** Candidate span ranges in line units (0 = patient-right facet edge, 1 = patient-left), for the left side. */
const LEFT_SPAN_RANGES: Record<MsuZone, { start: [number, number]; end: [number, number] }> = {
  A: { start: [0.48, 0.62], end: [0.6, 0.75] },
  B: { start: [0.76, 0.84], end: [0.88, 0.98] },
  C: { start: [1, 1.15], end: [1.15, 1.55] },
  AB: { start: [0.4, 0.72], end: [0.78, 1] },
  BC: { start: [0.76, 0.95], end: [1, 1.3] },
};
const CENTRAL_SPAN_RANGES: Partial<Record<MsuZone, { start: [number, number]; end: [number, number] }>> = {
  A: { start: [0.26, 0.42], end: [0.58, 0.74] },
  AB: { start: [0.02, 0.24], end: [0.76, 0.98] },
};

export interface PlannedHerniation {
  grade: MsuGrade;
  zone: MsuZone;
  side: HerniationSide;
}

/** Returns undefined when the class does not fit this level's anatomy (e.g. central zone C). */
export function planHerniation(
  target: PlannedHerniation,
  level: LevelAnatomy,
  keyZ: number,
  rng: Rng,
): HerniationGeometry | undefined {
  const width = 2 * level.facetX;
  const margin = MARGIN_MM / width;
  const ranges = target.side === 'central' ? CENTRAL_SPAN_RANGES[target.zone] : LEFT_SPAN_RANGES[target.zone];
  if (!ranges) return undefined;
  // Herniated material leaves the disc through its posterior margin: keep the base on the disc.
  const maxPosition = (level.discHalfWidth - 3 + level.facetX) / width;
  for (let attempt = 0; attempt < 200; attempt++) {
    let start = rng.uniform(...ranges.start);
    let end = rng.uniform(...ranges.end);
    if (end - start < 2 / width || end > maxPosition) continue;
    if (target.side === 'right') [start, end] = [1 - end, 1 - start];
    const [low, high] = DEPTH_RATIO[target.grade];
    const ratioMargin = MARGIN_MM / level.facetY;
    if (high - low < 2 * ratioMargin + 0.02) continue;
    const ratio = rng.uniform(low + ratioMargin, high - ratioMargin);
    const stable = [-margin, margin].every((ds) =>
      [-margin, margin].every((de) =>
        sameClass(classifyMsu({ marginToLine: 1, depth: ratio, spanStart: start + ds, spanEnd: end + de }), target),
      ),
    );
    if (!stable) continue;
    const halfWidth = ((end - start) * width) / 2;
    const centreX = -level.facetX + ((start + end) / 2) * width;
    const lateral = Math.sign(centreX) || 1;
    return {
      centreX,
      halfWidth,
      depth: ratio * level.facetY,
      tipShift: lateral * halfWidth * rng.uniform(0, 0.2) * (target.side === 'central' ? 0 : 1),
      centreZ: keyZ,
      halfHeight: rng.uniform(5, 9),
      signal: rng.uniform(0.32, 0.62),
    };
  }
  return undefined;
}

function sameClass(a: MsuClass, b: PlannedHerniation): boolean {
  return a.grade === b.grade && a.zone === b.zone && a.side === b.side;
}

/** Case mix: most herniations at L4-L5 and L5-S1 (docs/msu.md §Why MSU); every grade and zone represented. */
export function sampleCaseMix(rng: Rng): Partial<Record<DiscLevel, PlannedHerniation>> {
  const weights: [DiscLevel, number][] = [
    ['L4-L5', 0.38],
    ['L5-S1', 0.34],
    ['L3-L4', 0.14],
    ['L2-L3', 0.08],
    ['L1-L2', 0.06],
  ];
  const count = pickWeighted(rng, [
    [0, 0.2],
    [1, 0.45],
    [2, 0.25],
    [3, 0.1],
  ] as [number, number][]);
  const plan: Partial<Record<DiscLevel, PlannedHerniation>> = {};
  while (Object.keys(plan).length < count) {
    const level = pickWeighted(rng, weights);
    if (plan[level]) continue;
    const zone = pickWeighted<MsuZone>(rng, [
      ['A', 0.3],
      ['AB', 0.22],
      ['B', 0.2],
      ['BC', 0.13],
      ['C', 0.15],
    ]);
    const central = (zone === 'A' || zone === 'AB') && rng.next() < 0.35;
    const side: HerniationSide = central ? 'central' : rng.pick(['left', 'right'] as const);
    const grade = pickWeighted<MsuGrade>(rng, [
      [1, 0.3],
      [2, 0.42],
      [3, 0.28],
    ]);
    plan[level] = { grade, zone, side };
  }
  return plan;
}
