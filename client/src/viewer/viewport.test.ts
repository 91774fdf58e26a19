import { describe, expect, it } from 'vitest';
import {
  canvasToImage,
  FITTED,
  imageGeometryOf,
  imageToCanvas,
  MAX_ZOOM,
  panBy,
  viewTransformOf,
  zoomAt,
} from './viewport';

const square = imageGeometryOf(256, 256, [0.5, 0.5]);
const canvas = { width: 600, height: 400 };

describe('viewport transform', () => {
  it('when fitted, then the image fills the canvas in its shorter direction and is centred', () => {
    const t = viewTransformOf(square, canvas, FITTED);
    expect(t.scaleX).toBeCloseTo(400 / 256);
    expect(t.scaleY).toBeCloseTo(400 / 256);
    expect(imageToCanvas(t, [0, 0])).toEqual([100, 0]);
    expect(imageToCanvas(t, [256, 256])).toEqual([500, 400]);
  });

  it('keeps the physical aspect: a pixel twice as tall as wide (X-Pixel-Spacing 1,0.5) is drawn so', () => {
    const t = viewTransformOf(imageGeometryOf(200, 100, [1, 0.5]), { width: 400, height: 400 }, FITTED);
    expect(t.scaleY / t.scaleX).toBeCloseTo(2);
    // 100 mm × 100 mm image in a 400 × 400 canvas: fills it.
    expect(imageToCanvas(t, [200, 100])).toEqual([400, 400]);
  });

  it('canvasToImage inverts imageToCanvas, zoomed and panned', () => {
    const t = viewTransformOf(square, canvas, { zoom: 2.5, panX: -37, panY: 12 });
    const [x, y] = canvasToImage(t, imageToCanvas(t, [17.25, 201.5]));
    expect(x).toBeCloseTo(17.25);
    expect(y).toBeCloseTo(201.5);
  });

  it('when zooming about a point, then the image point under it stays put', () => {
    const before = viewTransformOf(square, canvas, FITTED);
    const anchor: [number, number] = [180, 90];
    const under = canvasToImage(before, anchor);
    const zoomed = zoomAt(square, canvas, FITTED, 2, anchor);
    expect(zoomed.zoom).toBe(2);
    const after = imageToCanvas(viewTransformOf(square, canvas, zoomed), under);
    expect(after[0]).toBeCloseTo(anchor[0]);
    expect(after[1]).toBeCloseTo(anchor[1]);
  });

  it('when zooming without a point, then the canvas centre stays put; zoom is clamped', () => {
    const zoomed = zoomAt(square, canvas, FITTED, 3);
    expect(zoomed).toEqual({ zoom: 3, panX: 0, panY: 0 });
    expect(zoomAt(square, canvas, { zoom: MAX_ZOOM, panX: 0, panY: 0 }, 2).zoom).toBe(MAX_ZOOM);
  });

  it('pans in canvas pixels, and reset is the fitted state', () => {
    const panned = panBy(FITTED, 10, -4);
    expect(panned).toEqual({ zoom: 1, panX: 10, panY: -4 });
    const t = viewTransformOf(square, canvas, panned);
    expect(imageToCanvas(t, [0, 0])).toEqual([110, -4]);
  });

  it('when the pixel spacing is unknown, then pixels are square', () => {
    expect(imageGeometryOf(3, 2)).toEqual({ columns: 3, rows: 2, rowSpacing: 1, columnSpacing: 1 });
  });
});
