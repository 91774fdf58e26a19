/**
 * PNG output: 16-bit grey slices for training sets, and an 8-bit RGB contact sheet of windowed slices with the
 * ground truth drawn on (intra-facet line, disc margin, herniation box, MSU label) for people to check the data.
 */
import { encode } from 'fast-png';
import type { PixelBox, PixelPoint } from '../../server/src/findings/findings';

export function encodeGray16Png(pixels: Uint16Array, width: number, height: number): Uint8Array {
  return encode({ width, height, data: pixels, depth: 16, channels: 1 });
}

export class RgbCanvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3);
  }

  set(x: number, y: number, [r, g, b]: readonly [number, number, number]): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    const i = (yi * this.width + xi) * 3;
    this.data[i] = r;
    this.data[i + 1] = g;
    this.data[i + 2] = b;
  }

  /** Draws a grey image windowed to [center − width/2, center + width/2], scaled by `zoom`, at (left, top). */
  drawWindowed(
    pixels: Uint16Array,
    size: number,
    left: number,
    top: number,
    outSize: number,
    window: { center: number; width: number },
  ): void {
    const low = window.center - window.width / 2;
    for (let y = 0; y < outSize; y++) {
      const sy = Math.min(size - 1, Math.floor(((y + 0.5) * size) / outSize));
      for (let x = 0; x < outSize; x++) {
        const sx = Math.min(size - 1, Math.floor(((x + 0.5) * size) / outSize));
        const value = Math.round(
          Math.min(255, Math.max(0, (((pixels[sy * size + sx] ?? 0) - low) / window.width) * 255)),
        );
        this.set(left + x, top + y, [value, value, value]);
      }
    }
  }

  line(a: PixelPoint, b: PixelPoint, colour: readonly [number, number, number], dashed = false): void {
    const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1])));
    for (let k = 0; k <= steps; k++) {
      if (dashed && k % 6 >= 3) continue;
      this.set(a[0] + ((b[0] - a[0]) * k) / steps, a[1] + ((b[1] - a[1]) * k) / steps, colour);
    }
  }

  box([x0, y0, x1, y1]: PixelBox, colour: readonly [number, number, number]): void {
    this.line([x0, y0], [x1, y0], colour);
    this.line([x1, y0], [x1, y1], colour);
    this.line([x1, y1], [x0, y1], colour);
    this.line([x0, y1], [x0, y0], colour);
  }

  /** Draws a label in the 3 × 5 font on a black band, so it reads on bright fat as on dark muscle. */
  text(label: string, left: number, top: number, colour: readonly [number, number, number], scale = 2): void {
    for (let y = top - scale; y < top + 6 * scale; y++)
      for (let x = left - scale; x < left + label.length * 4 * scale; x++) this.set(x, y, [0, 0, 0]);
    let x = left;
    for (const char of label.toUpperCase()) {
      const glyph = FONT[char] ?? FONT[' '] ?? [];
      glyph.forEach((row, gy) => {
        for (let gx = 0; gx < 3; gx++) {
          if (!((row >> (2 - gx)) & 1)) continue;
          for (let dy = 0; dy < scale; dy++)
            for (let dx = 0; dx < scale; dx++) this.set(x + gx * scale + dx, top + gy * scale + dy, colour);
        }
      });
      x += 4 * scale;
    }
  }

  toPng(): Uint8Array {
    return encode({ width: this.width, height: this.height, data: this.data, depth: 8, channels: 3 });
  }
}

/** A 3 × 5 bitmap font: each glyph is five rows of three bits. */
const FONT: Record<string, number[]> = {
  ' ': [0, 0, 0, 0, 0],
  '-': [0, 0, 7, 0, 0],
  '.': [0, 0, 0, 0, 2],
  ':': [0, 2, 0, 2, 0],
  '(': [1, 2, 2, 2, 1],
  ')': [4, 2, 2, 2, 4],
  '/': [1, 1, 2, 4, 4],
  '0': [7, 5, 5, 5, 7],
  '1': [2, 6, 2, 2, 7],
  '2': [7, 1, 7, 4, 7],
  '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7],
  '6': [7, 4, 7, 5, 7],
  '7': [7, 1, 1, 2, 2],
  '8': [7, 5, 7, 5, 7],
  '9': [7, 5, 7, 1, 7],
  A: [2, 5, 7, 5, 5],
  B: [6, 5, 6, 5, 6],
  C: [7, 4, 4, 4, 7],
  D: [6, 5, 5, 5, 6],
  E: [7, 4, 6, 4, 7],
  F: [7, 4, 6, 4, 4],
  G: [7, 4, 5, 5, 7],
  H: [5, 5, 7, 5, 5],
  I: [7, 2, 2, 2, 7],
  K: [5, 5, 6, 5, 5],
  L: [4, 4, 4, 4, 7],
  M: [5, 7, 7, 5, 5],
  N: [6, 5, 5, 5, 5],
  O: [7, 5, 5, 5, 7],
  P: [7, 5, 7, 4, 4],
  R: [6, 5, 6, 5, 5],
  S: [7, 4, 7, 1, 7],
  T: [7, 2, 2, 2, 2],
  U: [5, 5, 5, 5, 7],
  V: [5, 5, 5, 5, 2],
  W: [5, 5, 7, 7, 5],
  X: [5, 5, 2, 5, 5],
  Y: [5, 5, 2, 2, 2],
  Z: [7, 1, 2, 4, 7],
};
