/**
 * The window the image itself proposes for display (PS3.3 §C.11.2 VOI LUT module): Window Center (0028,1050) and
 * Window Width (0028,1051), which apply to the modality values (after Rescale Slope/Intercept, §C.11.2.1.2). Enhanced
 * multi-frame images carry them per frame in the Frame VOI LUT Sequence (0028,9132) of the per-frame or shared
 * functional groups (§C.7.6.16.2.10). When an attribute holds several windows (VM 1-n), the first is the default.
 */
import { getNumber, type DicomJson } from './dicom-json';

export interface DisplayWindow {
  center: number;
  width: number;
}

const SHARED_FUNCTIONAL_GROUPS = '52009229';
const PER_FRAME_FUNCTIONAL_GROUPS = '52009230';
const FRAME_VOI_LUT_SEQUENCE = '00289132';

function windowOf(item: DicomJson | undefined): DisplayWindow | undefined {
  if (!item) return undefined;
  const center = getNumber(item, 'WindowCenter');
  const width = getNumber(item, 'WindowWidth');
  // PS3.3 §C.11.2.1.2.1: Window Width shall be ≥ 1.
  return center !== undefined && width !== undefined && width >= 1 ? { center, width } : undefined;
}

const firstItem = (item: DicomJson | undefined, tag: string): DicomJson | undefined =>
  (item?.[tag]?.Value as DicomJson[] | undefined)?.[0];

/** The image's own default window for frame `frameIndex` (0-based), or undefined when it names none. */
export function windowFromMetadata(meta: DicomJson, frameIndex = 0): DisplayWindow | undefined {
  const perFrame = (meta[PER_FRAME_FUNCTIONAL_GROUPS]?.Value as DicomJson[] | undefined)?.[frameIndex];
  const shared = firstItem(meta, SHARED_FUNCTIONAL_GROUPS);
  return (
    windowOf(firstItem(perFrame, FRAME_VOI_LUT_SEQUENCE)) ??
    windowOf(firstItem(shared, FRAME_VOI_LUT_SEQUENCE)) ??
    windowOf(meta)
  );
}
