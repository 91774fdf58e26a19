import { describe, expect, it } from 'vitest';
import { percentileRange, resampleBilinear } from './preprocess';

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
