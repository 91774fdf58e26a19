/**
 * Slice → model input tensor, as the manifest says: bilinear resample to the input size, then percentile
 * normalization. Knows nothing of DICOM: it takes modality pixel values (rescale already applied).
 */
import type { ModelManifest } from './manifest';

export interface GrayImage {
  width: number;
  height: number;
  /** Row-major modality values (after Rescale Slope/Intercept). */
  pixels: Float32Array | Uint16Array | Int16Array | Uint8Array;
}

export interface PreprocessedSlice {
  /** width·height floats in [0, 1], row-major, model input size. */
  data: Float32Array;
  /** Multiply model-space x by scaleX to get source-pixel x (likewise y). */
  scaleX: number;
  scaleY: number;
}

export function percentileRange(
  pixels: GrayImage['pixels'],
  lowPercentile: number,
  highPercentile: number,
): [number, number] {
  const sorted = Float32Array.from(pixels).sort();
  const at = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))] ?? 0;
  return [at(lowPercentile), at(highPercentile)];
}

export function resampleBilinear(image: GrayImage, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  const scaleX = image.width / width;
  const scaleY = image.height / height;
  for (let y = 0; y < height; y++) {
    // Pixel-centre alignment, as in OpenCV's INTER_LINEAR.
    const sy = Math.min(image.height - 1, Math.max(0, (y + 0.5) * scaleY - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(image.height - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.max(0, (x + 0.5) * scaleX - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(image.width - 1, x0 + 1);
      const fx = sx - x0;
      const p = image.pixels;
      const top = (p[y0 * image.width + x0] ?? 0) * (1 - fx) + (p[y0 * image.width + x1] ?? 0) * fx;
      const bottom = (p[y1 * image.width + x0] ?? 0) * (1 - fx) + (p[y1 * image.width + x1] ?? 0) * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

export function preprocessSlice(image: GrayImage, manifest: ModelManifest): PreprocessedSlice {
  const [, , height, width] = manifest.input.shape;
  const { lowPercentile, highPercentile } = manifest.input.normalization;
  const [low, high] = percentileRange(image.pixels, lowPercentile, highPercentile);
  const resampled =
    image.width === width && image.height === height
      ? Float32Array.from(image.pixels)
      : resampleBilinear(image, width, height);
  const span = high > low ? high - low : 1;
  for (let i = 0; i < resampled.length; i++) {
    resampled[i] = Math.min(1, Math.max(0, ((resampled[i] ?? 0) - low) / span));
  }
  return { data: resampled, scaleX: image.width / width, scaleY: image.height / height };
}
