/**
 * MSU classification (docs/msu.md, Mysliwiec et al. 2010) from measured geometry, as a pure function, in one
 * place: the synthetic generator derives its ground truth with it, and the pipeline checks the model's classifier
 * against the geometry of its own box and facet points (geometry-check.ts).
 */
import type { HerniationSide, MsuGrade, MsuZone, PixelBox, PixelPoint } from '../findings/findings';
import { sideOfSpan } from './msu-side';

export interface MsuMeasurement {
  /** Distance from the posterior disc margin to the intra-facet line, perpendicular to the line. */
  marginToLine: number;
  /** How far the herniation reaches posterior of the disc margin, perpendicular to the line (same unit). */
  depth: number;
  /**
   * Lateral extent of the herniation as positions along the intra-facet line, from the patient's right facet
   * medial edge (0) to the patient's left one (1); < 0 or > 1 is lateral to a facet edge.
   */
  spanStart: number;
  spanEnd: number;
}

export interface MsuClass {
  grade: MsuGrade;
  zone: MsuZone;
  side: HerniationSide;
}

export function classifyMsu(m: MsuMeasurement): MsuClass {
  const ratio = m.depth / m.marginToLine;
  // "Up to 50 %" and "up to the line" are inclusive (docs/msu.md §Size grade).
  const grade: MsuGrade = ratio <= 0.5 ? 1 : ratio <= 1 ? 2 : 3;

  const start = Math.min(m.spanStart, m.spanEnd);
  const end = Math.max(m.spanStart, m.spanEnd);
  // Zones touched by the open interval (start, end): A = central two quarters, B = lateral quarters,
  // C = beyond a facet edge.
  const inA = end > 0.25 && start < 0.75;
  const inB = (start < 0.25 && end > 0) || (start < 1 && end > 0.75);
  const inC = start < 0 || end > 1;
  // MSU has no "ABC": a herniation reaching the foramen is reported by its lateral pair, BC.
  const zone: MsuZone = inC ? (inB || inA ? 'BC' : 'C') : inA && inB ? 'AB' : inA ? 'A' : 'B';

  // Positions run from the patient's right facet edge (0) to the left one (1); the midline is at 0.5.
  const side = sideOfSpan(start, end, 0.5, true);
  return { grade, zone, side };
}

/**
 * Measures an axis-aligned herniation box against a horizontal intra-facet line (the phantom's geometry:
 * ImageOrientationPatient [1,0,0,0,1,0], so image right is the patient's left and larger rows are posterior).
 */
export function measureBox(
  box: PixelBox,
  discMarginY: number,
  intraFacetLine: readonly [PixelPoint, PixelPoint],
): MsuMeasurement {
  const [[lx, ly], [rx, ry]] = intraFacetLine;
  const lineY = (ly + ry) / 2;
  const width = rx - lx;
  return {
    marginToLine: lineY - discMarginY,
    depth: box[3] - discMarginY,
    spanStart: (box[0] - lx) / width,
    spanEnd: (box[2] - lx) / width,
  };
}

/**
 * Measures herniated pixels against an intra-facet line of any orientation (rotated or tilted slices): depth is
 * taken perpendicular to the line from the posterior disc margin (a line parallel to it through `marginPoint`),
 * lateral positions along the line from its patient-right end (`intraFacetLine[0]`, 0) to the patient-left end (1).
 * Points are pixel centres in the slice's pixel coordinates.
 */
export function measurePoints(
  points: readonly PixelPoint[],
  marginPoint: PixelPoint,
  intraFacetLine: readonly [PixelPoint, PixelPoint],
): MsuMeasurement {
  const [[rx, ry], [lx, ly]] = intraFacetLine;
  const length = Math.hypot(lx - rx, ly - ry);
  const ux = (lx - rx) / length;
  const uy = (ly - ry) / length;
  // Unit normal pointing from the disc margin towards the line (posterior).
  let nx = -uy;
  let ny = ux;
  if (nx * (rx - marginPoint[0]) + ny * (ry - marginPoint[1]) < 0) [nx, ny] = [-nx, -ny];
  const marginToLine = nx * (rx - marginPoint[0]) + ny * (ry - marginPoint[1]);
  let depth = 0;
  let spanStart = Infinity;
  let spanEnd = -Infinity;
  for (const [x, y] of points) {
    depth = Math.max(depth, nx * (x - marginPoint[0]) + ny * (y - marginPoint[1]));
    const along = ((x - rx) * ux + (y - ry) * uy) / length;
    spanStart = Math.min(spanStart, along);
    spanEnd = Math.max(spanEnd, along);
  }
  return { marginToLine, depth, spanStart, spanEnd };
}
