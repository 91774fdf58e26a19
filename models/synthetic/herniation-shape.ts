/**
 * Turns an MSU class (grade, zone, side) into the geometry of the material to draw, so that measuring the drawn
 * material gives back that class (docs/msu.md §The rules we implement). Extents keep a few pixels' margin from every
 * zone and grade boundary: the phantom is meant to be unambiguous, and a detector that reads it must not sit on a knife
 * edge.
 */
import type { HerniationSide, MsuGrade, MsuZone } from '../../server/src/findings/findings';
import type { PhantomGeometry } from './anatomy';
import type { Rng } from './prng';

export interface PhantomHerniation {
  grade: MsuGrade;
  zone: MsuZone;
  side: HerniationSide;
}

/** Material behind the disc margin: columns [x0, x1) and a dome-shaped posterior extent of at most `depth`. */
export interface HerniationShape {
  x0: number;
  x1: number;
  depth: number;
}

/** Share of the margin-to-line distance reached, per grade: ≤ 0.5, (0.5, 1], > 1. */
const DEPTH_RANGE: Record<MsuGrade, [number, number]> = { 1: [0.28, 0.42], 2: [0.62, 0.88], 3: [1.15, 1.42] };

/**
 * Lateral span for a herniation on the patient's LEFT, as positions along the intra-facet line (0 = patient-right
 * facet edge, 1 = patient-left; quarters at 0.25 / 0.5 / 0.75). Right-sided spans are mirrored.
 */
const LEFT_SPAN: Record<MsuZone, [number, number]> = {
  A: [0.5, 0.68],
  B: [0.81, 0.95],
  C: [1.07, 1.38],
  AB: [0.57, 0.93],
  BC: [0.82, 1.22],
};
const CENTRAL_SPAN: Partial<Record<MsuZone, [number, number]>> = { A: [0.34, 0.66], AB: [0.16, 0.84] };
/** Endpoint jitter, small enough to keep ≥ 2 px from every zone boundary. */
const SPAN_JITTER = 0.015;

export function herniationShape(herniation: PhantomHerniation, geometry: PhantomGeometry, rng: Rng): HerniationShape {
  const [[lx, ly], [rx, ry]] = geometry.facetMedialEdges;
  const width = rx - lx;
  const marginToLine = (ly + ry) / 2 - geometry.discMarginY;

  let span: [number, number];
  if (herniation.side === 'central') {
    const central = CENTRAL_SPAN[herniation.zone];
    if (!central) throw new Error(`A central herniation must be in zone A or AB, not ${herniation.zone}`);
    span = central;
  } else {
    const left = LEFT_SPAN[herniation.zone];
    span = herniation.side === 'left' ? left : [1 - left[1], 1 - left[0]];
  }
  const start = span[0] + rng.uniform(-SPAN_JITTER, SPAN_JITTER);
  const end = span[1] + rng.uniform(-SPAN_JITTER, SPAN_JITTER);
  const [low, high] = DEPTH_RANGE[herniation.grade];
  return { x0: lx + start * width, x1: lx + end * width, depth: rng.uniform(low, high) * marginToLine };
}

/** The same herniation as seen 4 mm off its key slice: partial-volumed, so shallower and narrower. */
export function neighbourShape(shape: HerniationShape): HerniationShape {
  const centre = (shape.x0 + shape.x1) / 2;
  const half = ((shape.x1 - shape.x0) / 2) * 0.7;
  return { x0: centre - half, x1: centre + half, depth: shape.depth * 0.5 };
}
