/**
 * Rendering, part 1 (the viewport seam of Cornerstone/OHIF, docs/architecture.md §Viewer): modality values → grey
 * pixels through a VOI window. Pure functions on typed arrays; no DOM beyond the `ImageData` shape.
 */

/** A VOI window in modality values (DICOM Window Center (0028,1050) and Window Width (0028,1051)). */
export interface VoiWindow {
  center: number;
  width: number;
}

/** The smallest and largest finite value of a frame. */
export interface ValueRange {
  min: number;
  max: number;
}

/** What `renderFrame` writes into: `ImageData` or anything of its shape (tests use a plain object). */
export interface RgbaTarget {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
}

/**
 * Writes `pixels` (modality values, row by row) as opaque grey into `target` through the DICOM linear VOI function
 * (PS3.3 C.11.2.1.2.1), with y in 0–255:
 *
 *   x ≤ c − 0.5 − (w − 1) / 2  → 0
 *   x > c − 0.5 + (w − 1) / 2  → 255
 *   otherwise                  → ((x − (c − 0.5)) / (w − 1) + 0.5) · 255
 *
 * A width below 1 is taken as 1 (the standard requires w ≥ 1), which makes the window a threshold at c − 0.5.
 * Values that are not numbers (NaN) are drawn black.
 */
export function renderFrame(
  pixels: Float32Array,
  width: number,
  height: number,
  window: VoiWindow,
  target: RgbaTarget,
): void {
  const count = width * height;
  if (pixels.length < count) throw new RangeError(`renderFrame: ${pixels.length} values for ${width}×${height}`);
  if (target.width !== width || target.height !== height) {
    throw new RangeError(`renderFrame: target is ${target.width}×${target.height}, the frame ${width}×${height}`);
  }
  const w = Math.max(1, window.width);
  const lower = window.center - 0.5 - (w - 1) / 2;
  const upper = window.center - 0.5 + (w - 1) / 2;
  const scale = w > 1 ? 255 / (w - 1) : 0;
  const out = target.data;
  for (let i = 0, o = 0; i < count; i += 1, o += 4) {
    const x = pixels[i] ?? Number.NaN;
    let grey: number;
    if (x > upper) grey = 255;
    else if (x > lower) grey = (x - lower) * scale;
    else grey = 0; // also NaN: every comparison with NaN is false
    out[o] = grey;
    out[o + 1] = grey;
    out[o + 2] = grey;
    out[o + 3] = 255;
  }
}

/** The finite minimum and maximum of `pixels` ({0, 0} when there is none). */
export function valueRangeOf(pixels: Float32Array): ValueRange {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const value of pixels) {
    if (!Number.isFinite(value)) continue;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return min <= max ? { min, max } : { min: 0, max: 0 };
}

/** The window that maps the frame's minimum to black and its maximum to white exactly (by the formula above). */
export function fullRangeWindow(range: ValueRange): VoiWindow {
  return { center: (range.min + range.max) / 2 + 0.5, width: range.max - range.min + 1 };
}

export type WindowPresetId = 'default' | 'full-range' | 'narrow' | 'very-narrow';

export interface WindowPreset {
  id: WindowPresetId;
  label: string;
  /** What it is for, for the control's description. */
  description: string;
  window: VoiWindow;
}

/**
 * MR windows. MR values have no absolute scale (unlike CT's Hounsfield units, so no "bone" or "lung" window): the
 * presets are relative to the image's own default window and value range. On axial T2 the narrower windows raise the
 * contrast between the dark disc margin, ligament and herniation and the bright CSF in the canal.
 */
export function windowPresetsOf(defaultWindow: VoiWindow, range: ValueRange): WindowPreset[] {
  return [
    {
      id: 'default',
      label: 'Default',
      description: 'the window stored with the image (or from its value percentiles)',
      window: defaultWindow,
    },
    {
      id: 'full-range',
      label: 'Full range',
      description: 'every value of the image from black to white',
      window: fullRangeWindow(range),
    },
    {
      id: 'narrow',
      label: 'Narrow (high contrast)',
      description: 'half the default width around the default centre: disc margin against CSF',
      window: { center: defaultWindow.center, width: Math.max(1, defaultWindow.width / 2) },
    },
    {
      id: 'very-narrow',
      label: 'Very narrow',
      description: 'a quarter of the default width: faint edges, at the cost of detail elsewhere',
      window: { center: defaultWindow.center, width: Math.max(1, defaultWindow.width / 4) },
    },
  ];
}

/**
 * Window/level by dragging (the tools seam calls it): horizontal movement changes the width, vertical the centre,
 * `valuesPerPixel` values per pointer pixel. Right widens (less contrast), down raises the centre (darker image), as
 * in most PACS viewers.
 */
export function dragWindow(start: VoiWindow, dx: number, dy: number, valuesPerPixel: number): VoiWindow {
  return { center: start.center + dy * valuesPerPixel, width: Math.max(1, start.width + dx * valuesPerPixel) };
}

/** Drag sensitivity for a frame: a 256-pixel drag moves through about the frame's whole value range. */
export function dragSensitivityOf(range: ValueRange): number {
  return Math.max(range.max - range.min, 1) / 256;
}
