import { describe, expect, it } from 'vitest';
import type { PixelPoint } from '../findings/findings';
import { cross, dot, normalize, type SliceGeometry, type Vec3 } from './geometry';
import { referenceLine } from './reference-lines';

/** A sagittal image: columns run posterior (+y), rows run inferior (−z); first pixel centre at y −100, z +100. */
const SAGITTAL: SliceGeometry = {
  rowCosine: [0, 1, 0],
  columnCosine: [0, 0, -1],
  normal: cross([0, 1, 0], [0, 0, -1]),
  position: [0, -100, 100],
  pixelSpacing: [0.5, 0.5],
};
const IMAGE = { geometry: SAGITTAL, width: 400, height: 400 };

/** The patient point of continuous pixel coordinates (c, r) on the sagittal image. */
function patientPoint([c, r]: PixelPoint): Vec3 {
  const { position, rowCosine, columnCosine, pixelSpacing } = SAGITTAL;
  return [0, 1, 2].map(
    (i) =>
      (position[i] ?? 0) +
      (c - 0.5) * pixelSpacing[1] * (rowCosine[i] ?? 0) +
      (r - 0.5) * pixelSpacing[0] * (columnCosine[i] ?? 0),
  ) as Vec3;
}

describe('referenceLine', () => {
  it('when an axial plane crosses the sagittal image, then the line runs across it at the plane height', () => {
    // z = 50 is 50 mm below the first row's centre: row index 100, continuous 100.5.
    expect(referenceLine({ normal: [0, 0, 1], point: [12, -3, 50] }, IMAGE)).toEqual([
      [0, 100.5],
      [400, 100.5],
    ]);
  });

  it('when the axial plane is tilted, then both ends lie on the plane and on the image border', () => {
    const normal = normalize([0, Math.sin(0.3), Math.cos(0.3)]);
    const point: Vec3 = [5, -20, 30];
    const line = referenceLine({ normal, point }, IMAGE);
    expect(line).toBeDefined();
    for (const end of line ?? []) {
      const p = patientPoint(end);
      expect(Math.abs(dot(normal, [p[0] - point[0], p[1] - point[1], p[2] - point[2]]))).toBeLessThan(0.01);
      const onBorder = [end[0], end[1]].some((v) => Math.abs(v) < 1e-6 || Math.abs(v - 400) < 1e-6);
      expect(onBorder).toBe(true);
    }
  });

  it('when the plane misses the image or runs parallel to it, then there is no line', () => {
    expect(referenceLine({ normal: [0, 0, 1], point: [0, 0, 500] }, IMAGE)).toBeUndefined();
    expect(referenceLine({ normal: [1, 0, 0], point: [0, 0, 0] }, IMAGE)).toBeUndefined();
  });
});
