import { describe, expect, it } from 'vitest';
import type { ModelManifest } from './manifest';
import { percentileRange, preprocessCrop, resampleBilinear } from './preprocess';

function sortedPercentiles(pixels: ArrayLike<number>, low: number, high: number): [number, number] {
  const sorted = Array.from(pixels).sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.round((p / 100) * (sorted.length - 1))] ?? 0;
  return [at(low), at(high)];
}

describe('percentileRange', () => {
  it('when pixels are integers, then the counting histogram gives exactly the sorted nearest-rank percentiles', () => {
    let state = 7;
    const pixels = Int16Array.from({ length: 10_007 }, () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return (state % 5000) - 1000;
    });
    expect(percentileRange(pixels, 1, 99)).toEqual(sortedPercentiles(pixels, 1, 99));
    expect(percentileRange(pixels, 0, 100)).toEqual(sortedPercentiles(pixels, 0, 100));
  });

  it('when pixels are rescaled floats, then the result is still the sorted percentiles', () => {
    const pixels = Float32Array.from({ length: 999 }, (_, i) => Math.fround(Math.sin(i) * 3.5));
    expect(percentileRange(pixels, 2, 98)).toEqual(sortedPercentiles(pixels, 2, 98));
  });
});

describe('resampleBilinear', () => {
  it('when a 512-style image is halved, then each output pixel is the mean of its 2×2 block (pixel-centre alignment)', () => {
    const pixels = Float32Array.from({ length: 16 }, (_, i) => i * 10);
    const out = resampleBilinear({ width: 4, height: 4, pixels }, 2, 2);
    expect(Array.from(out)).toEqual([25, 45, 105, 125]);
  });

  it('when the size is doubled, then edges clamp and interior pixels interpolate', () => {
    const out = resampleBilinear({ width: 2, height: 1, pixels: Float32Array.from([0, 100]) }, 4, 1);
    expect(Array.from(out)).toEqual([0, 25, 75, 100]);
  });
});

describe('preprocessCrop', () => {
  const manifest = {
    input: {
      name: 'images',
      shape: [-1, 1, 8, 8],
      dtype: 'float32',
      normalization: { method: 'percentile', lowPercentile: 0, highPercentile: 100 },
    },
  } as unknown as ModelManifest;

  it('when a 32² slice is cropped at zoom 4 around a pixel, then that 8² window fills the input one pixel each', () => {
    // Value = column + 100·row, so every sample says where it came from.
    const pixels = Float32Array.from({ length: 32 * 32 }, (_, i) => (i % 32) + 100 * Math.floor(i / 32));
    const crop = preprocessCrop({ width: 32, height: 32, pixels }, [20, 12], 4, manifest);
    expect(crop).toMatchObject({ originX: 16, originY: 8, scaleX: 1, scaleY: 1 });
    // Normalized over the whole slice (0 … 3131), not over the window.
    const span = 31 + 100 * 31;
    expect(crop.data[0]).toBeCloseTo((16 + 100 * 8) / span, 6);
    expect(crop.data[7 * 8 + 7]).toBeCloseTo((23 + 100 * 15) / span, 6);
  });

  it('when the pass has its own input size, then the same window is sampled at that size', () => {
    const pixels = Float32Array.from({ length: 32 * 32 }, (_, i) => (i % 32) + 100 * Math.floor(i / 32));
    // The detector's input is 8², the zoomed pass's 4²: the 8² window around (20, 12) again, two pixels a sample.
    const crop = preprocessCrop({ width: 32, height: 32, pixels }, [20, 12], 4, manifest, { width: 4, height: 4 });
    expect(crop).toMatchObject({ originX: 16, originY: 8, scaleX: 2, scaleY: 2 });
    expect(crop.data).toHaveLength(16);
    // The first sample's centre is source (17, 9): halfway between pixel centres 16.5 and 17.5 on each axis.
    const span = 31 + 100 * 31;
    expect(crop.data[0]).toBeCloseTo((16.5 + 100 * 8.5) / span, 6);
  });

  it('when the window is finer than the pixels, then it interpolates between pixel centres and clamps at the edge', () => {
    const pixels = Float32Array.from([0, 100, 200, 300]);
    // A 4 × 1 slice at zoom 2: a 2-pixel window over [1, 3), sampled at 8 points.
    const crop = preprocessCrop({ width: 4, height: 1, pixels }, [2, 0.5], 2, {
      input: { ...manifest.input, shape: [-1, 1, 1, 8] },
    } as unknown as ModelManifest);
    // Output centres at source x = 1.125, 1.375, …: index x − 0.5 = 0.625, 0.875, 1.125, …
    expect(Array.from(crop.data, (v) => Math.round(v * 300 * 1000) / 1000)).toEqual([
      62.5, 87.5, 112.5, 137.5, 162.5, 187.5, 212.5, 237.5,
    ]);
    // Window [−1, 1): centres at −0.75 … 0.75, indices −1.25 … 0.25; beyond the image the edge pixel repeats
    // (grid_sample padding_mode="border").
    const edge = preprocessCrop({ width: 4, height: 1, pixels }, [0, 0.5], 2, {
      input: { ...manifest.input, shape: [-1, 1, 1, 4] },
    } as unknown as ModelManifest);
    expect(Array.from(edge.data, (v) => Math.round(v * 300 * 1000) / 1000)).toEqual([0, 0, 0, 25]);
  });
});
