/**
 * Reference lines (the cross-reference a viewer draws, PS3.3 §C.7.6.2 Image Plane geometry): where the plane of one
 * slice cuts another image, in that image's pixel coordinates. The points P of the slice's plane satisfy n·P = n·P₀;
 * a pixel (column c, row r) of the image lies at S + c·Δc·rowCosine + r·Δr·columnCosine (S = ImagePositionPatient,
 * the centre of the first pixel; Δr, Δc = PixelSpacing), so the cut is the 2-D line
 * (n·rowCosine)·Δc·c + (n·columnCosine)·Δr·r = n·(P₀ − S), clipped to the image.
 *
 * Coordinates are the findings contract's (column, row; origin top-left), continuous: pixel k spans [k, k + 1], so
 * the first pixel's centre is (0.5, 0.5), as boxes and the intra-facet line are given.
 */
import type { PixelPoint } from '../findings/findings';
import { dot, type SliceGeometry, type Vec3 } from './geometry';

export interface Plane {
  normal: Vec3;
  /** Any point of the plane (a slice's ImagePositionPatient), mm. */
  point: Vec3;
}

export interface ImageFrame {
  geometry: SliceGeometry;
  /** Columns and rows. */
  width: number;
  height: number;
}

/**
 * Below this |sin| of the angle between the planes the slice runs (nearly) parallel to the image: no line, as a
 * viewer draws none (the cut would lie far outside the image or be undefined).
 */
const MIN_CROSSING = 0.05;

/** The segment of the cut inside the image, or undefined when the plane misses the image or runs parallel to it. */
export function referenceLine(plane: Plane, image: ImageFrame): [PixelPoint, PixelPoint] | undefined {
  const { rowCosine, columnCosine, position, pixelSpacing } = image.geometry;
  const [rowSpacing, columnSpacing] = pixelSpacing;
  const inRow = dot(plane.normal, rowCosine);
  const inColumn = dot(plane.normal, columnCosine);
  if (Math.hypot(inRow, inColumn) < MIN_CROSSING) return undefined;
  // a·c + b·r = k in continuous coordinates (pixel centre at index + 0.5).
  const a = inRow * columnSpacing;
  const b = inColumn * rowSpacing;
  const relative: Vec3 = [plane.point[0] - position[0], plane.point[1] - position[1], plane.point[2] - position[2]];
  const k = dot(plane.normal, relative) + 0.5 * (a + b);
  const { width, height } = image;
  const points: PixelPoint[] = [];
  const add = (c: number, r: number): void => {
    const inside = c >= -1e-9 && c <= width + 1e-9 && r >= -1e-9 && r <= height + 1e-9;
    if (inside && !points.some(([pc, pr]) => Math.abs(pc - c) < 1e-6 && Math.abs(pr - r) < 1e-6)) points.push([c, r]);
  };
  // Where the line meets each of the four borders.
  if (Math.abs(b) > 1e-12) {
    add(0, k / b);
    add(width, (k - a * width) / b);
  }
  if (Math.abs(a) > 1e-12) {
    add(k / a, 0);
    add((k - b * height) / a, height);
  }
  if (points.length < 2) return undefined;
  // Two distinct border points (a line through a corner may add the corner twice, once per border; kept once).
  const [first, second] = points.length === 2 ? points : farthestPair(points);
  const clamp = ([c, r]: PixelPoint): PixelPoint => [
    Math.min(width, Math.max(0, round(c))),
    Math.min(height, Math.max(0, round(r))),
  ];
  return [clamp(first as PixelPoint), clamp(second as PixelPoint)];
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

function farthestPair(points: PixelPoint[]): [PixelPoint, PixelPoint] {
  let best: [PixelPoint, PixelPoint] = [points[0] as PixelPoint, points[1] as PixelPoint];
  let bestDistance = -1;
  for (const p of points) {
    for (const q of points) {
      const distance = Math.hypot(p[0] - q[0], p[1] - q[1]);
      if (distance > bestDistance) {
        bestDistance = distance;
        best = [p, q];
      }
    }
  }
  return best;
}
