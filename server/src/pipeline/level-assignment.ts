/**
 * Disc levels for the axial stacks: cross-referenced on the study's sagittal series when it shares the axial
 * series' frame of reference (PS3.3 §C.7.4.1: only then are their patient coordinates comparable), otherwise —
 * or when the sagittal image cannot be used — counted up from the lowest stack, which needs exactly one stack
 * per level. Either way the findings say how the levels were assigned.
 */
import type { DecodedFrame } from '../dicom/decode-frame';
import { getString, type DicomJson } from '../dicom/dicom-json';
import { dot, frameGeometries, isSagittal, type SliceGeometry } from '../dicom/geometry';
import { assignLevelsFromSagittal, SagittalCrossReferenceError } from '../dicom/sagittal-levels';
import type { LevelAssignment } from '../findings/findings';
import { describeSeries, type SeriesFacts } from '../dicom/select-series';
import {
  assignLevels,
  LevelAssignmentError,
  LEVELS_BY_COUNTING_WARNING,
  type LevelStack,
  type PositionedSlice,
  type Stack,
} from '../dicom/stacks';

export interface SagittalSeries {
  facts: SeriesFacts;
  instances: DicomJson[];
}

export interface SagittalFrame {
  meta: DicomJson;
  sopInstanceUid: string;
  frame: number;
  geometry: SliceGeometry;
}

/** Fetches and decodes frames of the sagittal series (the caller's retrieval, with its fallbacks and timings). */
export type FetchSagittalFrames = (seriesInstanceUid: string, frames: SagittalFrame[]) => Promise<DecodedFrame[]>;

/** Slices averaged around the middle of the sagittal series: the midline, with √3 less noise. */
const MID_SLAB_SLICES = 3;

/**
 * The sagittal series to cross-reference on: MR, sagittal images, the axial series' FrameOfReferenceUID; T2 first,
 * then the most images. Returns a reason instead when the study has a sagittal series that cannot be used.
 */
export function chooseSagittalSeries(
  series: SagittalSeries[],
  axialFrameOfReference: string | undefined,
): SagittalSeries | { unusable: string } | undefined {
  const sagittal = series.filter((s) => s.facts.modality === 'MR' && s.facts.sagittalImages > 0);
  if (sagittal.length === 0) return undefined;
  const sameFrame = sagittal.filter(
    (s) =>
      axialFrameOfReference &&
      s.instances.some((meta) => getString(meta, 'FrameOfReferenceUID') === axialFrameOfReference),
  );
  const best = [...sameFrame].sort(
    (a, b) =>
      Number(b.facts.weighting === 'T2') - Number(a.facts.weighting === 'T2') ||
      b.facts.sagittalImages - a.facts.sagittalImages,
  )[0];
  if (best) return best;
  const first = sagittal[0] as SagittalSeries;
  return {
    unusable: axialFrameOfReference
      ? `the sagittal ${describeSeries(first.facts)} has another FrameOfReferenceUID (0020,0052) than the axial series, so their positions cannot be compared`
      : `the axial series has no FrameOfReferenceUID (0020,0052), so its positions cannot be compared with the sagittal ${describeSeries(first.facts)}`,
  };
}

/** The middle sagittal frames, ordered along the series' normal. */
export function midSagittalFrames(series: SagittalSeries, count = MID_SLAB_SLICES): SagittalFrame[] {
  const frames: SagittalFrame[] = [];
  for (const meta of series.instances) {
    const sopInstanceUid = getString(meta, 'SOPInstanceUID');
    if (!sopInstanceUid) continue;
    try {
      frameGeometries(meta).forEach((geometry, i) => {
        if (isSagittal(geometry)) frames.push({ meta, sopInstanceUid, frame: i + 1, geometry });
      });
    } catch {
      // Frames without geometry cannot be cross-referenced; the others still can.
    }
  }
  const normal = frames[0]?.geometry.normal;
  if (!normal) return [];
  frames.sort((a, b) => dot(a.geometry.position, normal) - dot(b.geometry.position, normal));
  const start = Math.max(0, Math.floor((frames.length - count) / 2));
  return frames.slice(start, start + Math.min(count, frames.length));
}

function averageFrames(images: DecodedFrame[]): DecodedFrame | undefined {
  const first = images[0];
  if (!first) return undefined;
  const same = images.filter((image) => image.width === first.width && image.height === first.height);
  const pixels = new Float32Array(first.pixels.length);
  for (const image of same)
    for (let i = 0; i < pixels.length; i++) pixels[i] = (pixels[i] ?? 0) + (image.pixels[i] ?? 0) / same.length;
  return { width: first.width, height: first.height, pixels };
}

export interface StudyLevels<T extends PositionedSlice> {
  stacks: LevelStack<T>[];
  warnings: string[];
  assignment: LevelAssignment;
}

function byCounting<T extends PositionedSlice>(stacks: Stack<T>[], why?: string): StudyLevels<T> {
  let counted: ReturnType<typeof assignLevels<T>>;
  try {
    counted = assignLevels(stacks);
  } catch (error) {
    // Counting needs one stack per level; say why the sagittal series could not resolve it instead.
    if (error instanceof LevelAssignmentError && why)
      throw new LevelAssignmentError(`${error.message}, and the sagittal series was not used: ${why}`);
    throw error;
  }
  return {
    stacks: counted.stacks,
    warnings: why ? [`${LEVELS_BY_COUNTING_WARNING} The sagittal series was not used: ${why}.`] : counted.warnings,
    assignment: {
      method: 'counted-from-lowest-stack',
      description: 'Disc levels were assigned by counting up from the lowest axial stack (L5-S1 = most inferior).',
    },
  };
}

export async function assignStudyLevels<T extends PositionedSlice>(
  stacks: Stack<T>[],
  sagittal: SagittalSeries | { unusable: string } | undefined,
  fetchFrames: FetchSagittalFrames,
): Promise<StudyLevels<T>> {
  if (!sagittal) return byCounting(stacks);
  if ('unusable' in sagittal) return byCounting(stacks, sagittal.unusable);
  const label = describeSeries(sagittal.facts);
  const frames = midSagittalFrames(sagittal);
  const middle = frames[Math.floor(frames.length / 2)];
  if (!middle) return byCounting(stacks, `the sagittal ${label} has no frames with usable geometry`);
  let image: DecodedFrame | undefined;
  try {
    image = averageFrames(await fetchFrames(sagittal.facts.seriesInstanceUid, frames));
  } catch (error) {
    return byCounting(stacks, `its images could not be read (${(error as Error).message})`);
  }
  if (!image) return byCounting(stacks, `the sagittal ${label} returned no images`);
  try {
    return assignLevelsFromSagittal(stacks, { ...image, geometry: middle.geometry, label });
  } catch (error) {
    if (error instanceof SagittalCrossReferenceError) return byCounting(stacks, error.message);
    throw error;
  }
}
