import { describe, expect, it } from 'vitest';
import {
  dragSensitivityOf,
  dragWindow,
  fullRangeWindow,
  renderFrame,
  valueRangeOf,
  windowPresetsOf,
  type RgbaTarget,
} from './render-frame';

function targetOf(width: number, height: number): RgbaTarget {
  return { width, height, data: new Uint8ClampedArray(width * height * 4) };
}

/** The grey of each pixel (R; R = G = B is checked separately). */
function greys(target: RgbaTarget): number[] {
  return Array.from({ length: target.width * target.height }, (_, i) => target.data[i * 4] ?? -1);
}

describe('renderFrame (DICOM linear VOI, PS3.3 C.11.2.1.2.1)', () => {
  it('when values lie inside the window, then they map linearly from black to white', () => {
    // c = 50.5, w = 101: lower = 0, upper = 100 → y = x · 255 / 100.
    const pixels = Float32Array.from([0, 20, 40, 80, 100]);
    const target = targetOf(5, 1);
    renderFrame(pixels, 5, 1, { center: 50.5, width: 101 }, target);
    expect(greys(target)).toEqual([0, 51, 102, 204, 255]);
  });

  it('when values lie outside the window, then they are clamped to black and white', () => {
    const pixels = Float32Array.from([-1000, 9, 10, 1000, 1e9]);
    const target = targetOf(5, 1);
    renderFrame(pixels, 5, 1, { center: 15, width: 10 }, target);
    // lower = 15 − 0.5 − 4.5 = 10, upper = 19: x ≤ 10 → 0, x > 19 → 255.
    expect(greys(target)).toEqual([0, 0, 0, 255, 255]);
  });

  it('writes opaque grey: R = G = B and alpha 255', () => {
    const target = targetOf(2, 2);
    renderFrame(Float32Array.from([0, 30, 60, 90]), 2, 2, { center: 45, width: 90 }, target);
    for (let i = 0; i < 4; i += 1) {
      const [r, g, b, a] = target.data.slice(i * 4, i * 4 + 4);
      expect(g).toBe(r);
      expect(b).toBe(r);
      expect(a).toBe(255);
    }
  });

  it('when the width is 1 or less, then the window is a threshold at c − 0.5', () => {
    const target = targetOf(3, 1);
    renderFrame(Float32Array.from([9, 9.5, 10]), 3, 1, { center: 10, width: 0 }, target);
    expect(greys(target)).toEqual([0, 0, 255]);
  });

  it('when a value is not a number, then it is drawn black', () => {
    const target = targetOf(2, 1);
    renderFrame(Float32Array.from([Number.NaN, 100]), 2, 1, { center: 50, width: 100 }, target);
    expect(greys(target)).toEqual([0, 255]);
  });

  it('when the target does not match the frame, then it refuses instead of drawing a sheared image', () => {
    expect(() => {
      renderFrame(new Float32Array(6), 3, 2, { center: 0, width: 1 }, targetOf(2, 3));
    }).toThrow(/target is 2×3, the frame 3×2/);
    expect(() => {
      renderFrame(new Float32Array(5), 3, 2, { center: 0, width: 1 }, targetOf(3, 2));
    }).toThrow(/5 values for 3×2/);
  });
});

describe('windows', () => {
  it('the full-range window maps the minimum to black and the maximum to white', () => {
    const pixels = Float32Array.from([-20, 5, 300, Number.NaN]);
    const range = valueRangeOf(pixels);
    expect(range).toEqual({ min: -20, max: 300 });
    const target = targetOf(4, 1);
    renderFrame(pixels, 4, 1, fullRangeWindow(range), target);
    expect(greys(target).slice(0, 3)).toEqual([0, 20, 255]);
  });

  it('the presets are the default, the full range and two narrower windows about the default centre', () => {
    const presets = windowPresetsOf({ center: 400, width: 800 }, { min: 0, max: 2000 });
    expect(presets.map((preset) => [preset.id, preset.window])).toEqual([
      ['default', { center: 400, width: 800 }],
      ['full-range', { center: 1000.5, width: 2001 }],
      ['narrow', { center: 400, width: 400 }],
      ['very-narrow', { center: 400, width: 200 }],
    ]);
  });

  it('dragging right widens the window, dragging down raises the centre, and the width stays ≥ 1', () => {
    expect(dragWindow({ center: 100, width: 200 }, 10, -5, 2)).toEqual({ center: 90, width: 220 });
    expect(dragWindow({ center: 100, width: 200 }, -500, 0, 2).width).toBe(1);
    expect(dragSensitivityOf({ min: 0, max: 512 })).toBe(2);
    expect(dragSensitivityOf({ min: 3, max: 3 })).toBe(1 / 256);
  });
});
