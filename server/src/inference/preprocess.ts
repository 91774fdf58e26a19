/**
 * Slice → model input tensor, as the manifest says: bilinear resample to the input size, then percentile
 * normalization. Knows nothing of DICOM: it takes modality pixel values (rescale already applied).
 */
import type { PixelPoint } from '../findings/findings';
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

/**
 * The values at two percentiles (nearest rank over the sorted pixels). Integer images of moderate range (all
 * MR scanners' stored values) use an exact counting histogram, O(n), instead of sorting.
 */
export function percentileRange(
  pixels: GrayImage['pixels'],
  lowPercentile: number,
  highPercentile: number,
): [number, number] {
  const n = pixels.length;
  if (n === 0) return [0, 0];
  const rank = (p: number): number => Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))));
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  for (let i = 0; i < n; i++) {
    const v = pixels[i] ?? 0;
    if (v < min) min = v;
    if (v > max) max = v;
    if (integral && !Number.isInteger(v)) integral = false;
  }
  if (integral && max - min < 1 << 20) {
    const counts = new Uint32Array(max - min + 1);
    for (let i = 0; i < n; i++) {
      const bin = (pixels[i] ?? 0) - min;
      counts[bin] = (counts[bin] ?? 0) + 1;
    }
    const valueAtRank = (target: number): number => {
      let seen = 0;
      for (let bin = 0; bin < counts.length; bin++) {
        seen += counts[bin] ?? 0;
        if (seen > target) return bin + min;
      }
      return max;
    };
    return [valueAtRank(rank(lowPercentile)), valueAtRank(rank(highPercentile))];
  }
  const sorted = Float32Array.from(pixels).sort();
  return [sorted[rank(lowPercentile)] ?? 0, sorted[rank(highPercentile)] ?? 0];
}

/** A window of the source image in continuous pixel coordinates (pixel k spans [k, k + 1]). */
export interface SourceRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function resampleBilinear(
  image: GrayImage,
  width: number,
  height: number,
  out: Float32Array = new Float32Array(width * height),
): Float32Array {
  return resampleRegionBilinear(image, { x: 0, y: 0, width: image.width, height: image.height }, width, height, out);
}

/**
 * Samples `region` of the image onto a width × height grid: output pixel centre (x + 0.5) lies at source
 * coordinate region.x + (x + 0.5)·region.width / width, read bilinearly between pixel centres; coordinates beyond
 * the image clamp to its edge (PyTorch grid_sample with align_corners=False, padding_mode="border").
 */
export function resampleRegionBilinear(
  image: GrayImage,
  region: SourceRegion,
  width: number,
  height: number,
  out: Float32Array = new Float32Array(width * height),
): Float32Array {
  const scaleX = region.width / width;
  const scaleY = region.height / height;
  // Column taps are the same for every row: compute them once.
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const fxs = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    // Pixel-centre alignment, as in OpenCV's INTER_LINEAR.
    const sx = Math.min(image.width - 1, Math.max(0, region.x + (x + 0.5) * scaleX - 0.5));
    x0s[x] = Math.floor(sx);
    x1s[x] = Math.min(image.width - 1, Math.floor(sx) + 1);
    fxs[x] = sx - Math.floor(sx);
  }
  const p = image.pixels;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.max(0, region.y + (y + 0.5) * scaleY - 0.5));
    const y0 = Math.floor(sy);
    const row0 = y0 * image.width;
    const row1 = Math.min(image.height - 1, y0 + 1) * image.width;
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const x0 = x0s[x] ?? 0;
      const x1 = x1s[x] ?? 0;
      const fx = fxs[x] ?? 0;
      const top = (p[row0 + x0] ?? 0) * (1 - fx) + (p[row0 + x1] ?? 0) * fx;
      const bottom = (p[row1 + x0] ?? 0) * (1 - fx) + (p[row1 + x1] ?? 0) * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

function normalizeInPlace(data: Float32Array, [low, high]: [number, number]): void {
  const span = high > low ? high - low : 1;
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.min(1, Math.max(0, ((data[i] ?? 0) - low) / span));
  }
}

/** Writes the model input for one slice into `out` (width·height floats) when given, else a new array. */
export function preprocessSlice(image: GrayImage, manifest: ModelManifest, out?: Float32Array): PreprocessedSlice {
  const [, , height, width] = manifest.input.shape;
  const range = sliceNormalizationRange(image, manifest);
  const data = out ?? new Float32Array(width * height);
  if (image.width === width && image.height === height) data.set(image.pixels);
  else resampleBilinear(image, width, height, data);
  normalizeInPlace(data, range);
  return { data, scaleX: image.width / width, scaleY: image.height / height };
}

export interface PreprocessedCrop extends PreprocessedSlice {
  /** Source-pixel x of model-space x is originX + x·scaleX (likewise y). */
  originX: number;
  originY: number;
}

/**
 * [height, width] of a zoomed pass's input (manifest `refinement` / `verification` / `classification`): its own
 * `size`, else the detector's.
 */
export function zoomedPassSize(manifest: ModelManifest, pass: { size?: [number, number] | undefined }): InputSize {
  const [, , height, width] = manifest.input.shape;
  return pass.size ? { height: pass.size[0], width: pass.size[1] } : { height, width };
}

export interface InputSize {
  height: number;
  width: number;
}

/**
 * The refinement pass's input (manifest `refinement`): a window of (width / zoom) × (height / zoom) source pixels
 * centred on (centreX, centreY), resampled to the pass's input size and normalized with the percentiles of the
 * whole slice — the window alone would stretch its few tissues over [0, 1] and look unlike anything trained on.
 * models/training/refine_crops.py cuts its training crops the same way.
 */
export function preprocessCrop(
  image: GrayImage,
  centre: PixelPoint,
  zoom: number,
  manifest: ModelManifest,
  { height, width }: InputSize = zoomedPassSize(manifest, {}),
  out?: Float32Array,
  /** The slice's normalization range, when the caller cuts several crops of it (`sliceNormalizationRange`). */
  range: [number, number] = sliceNormalizationRange(image, manifest),
): PreprocessedCrop {
  const region = {
    width: image.width / zoom,
    height: image.height / zoom,
    x: centre[0] - image.width / zoom / 2,
    y: centre[1] - image.height / zoom / 2,
  };
  const data = resampleRegionBilinear(image, region, width, height, out);
  normalizeInPlace(data, range);
  return { data, originX: region.x, originY: region.y, scaleX: region.width / width, scaleY: region.height / height };
}

/** The whole slice's normalization range (manifest `input.normalization`), which every crop of it shares. */
export function sliceNormalizationRange(image: GrayImage, manifest: ModelManifest): [number, number] {
  const { lowPercentile, highPercentile } = manifest.input.normalization;
  return percentileRange(image.pixels, lowPercentile, highPercentile);
}
