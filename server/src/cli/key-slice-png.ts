/**
 * A key slice as an RGB PNG with the finding drawn on it: the image windowed to its 1st–99th percentile, the
 * herniation box in red, the intra-facet line in green, so an imaging team can check a finding at a glance.
 */
import { encode } from 'fast-png';
import type { DecodedFrame } from '../dicom/decode-frame';
import type { LevelFinding } from '../findings/findings';
import { percentileRange } from '../inference/preprocess';

type Rgb = [number, number, number];
const RED: Rgb = [255, 40, 40];
const GREEN: Rgb = [40, 220, 80];

function plot(rgb: Uint8Array, width: number, height: number, x: number, y: number, color: Rgb): void {
  const px = Math.round(x);
  const py = Math.round(y);
  if (px < 0 || py < 0 || px >= width || py >= height) return;
  rgb.set(color, (py * width + px) * 3);
}

function line(
  rgb: Uint8Array,
  width: number,
  height: number,
  a: [number, number],
  b: [number, number],
  color: Rgb,
): void {
  const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1])));
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    plot(rgb, width, height, a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, color);
  }
}

export function keySliceToPng(image: DecodedFrame, finding: LevelFinding): Uint8Array {
  const { width, height, pixels } = image;
  const [low, high] = percentileRange(pixels, 1, 99);
  const span = high > low ? high - low : 1;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const v = Math.round(Math.min(1, Math.max(0, ((pixels[i] ?? 0) - low) / span)) * 255);
    rgb[i * 3] = v;
    rgb[i * 3 + 1] = v;
    rgb[i * 3 + 2] = v;
  }
  if (finding.herniation) {
    const [x0, y0, x1, y1] = finding.box;
    for (const [a, b] of [
      [
        [x0, y0],
        [x1, y0],
      ],
      [
        [x1, y0],
        [x1, y1],
      ],
      [
        [x1, y1],
        [x0, y1],
      ],
      [
        [x0, y1],
        [x0, y0],
      ],
    ] as [[number, number], [number, number]][]) {
      line(rgb, width, height, a, b, RED);
    }
  }
  if (finding.intraFacetLine) line(rgb, width, height, finding.intraFacetLine[0], finding.intraFacetLine[1], GREEN);
  return encode({ width, height, data: rgb, channels: 3, depth: 8 });
}
