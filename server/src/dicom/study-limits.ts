/**
 * How much work one study may ask of us. Every count and size the pipeline allocates or downloads by is read from
 * the study itself — NumberOfFrames, Rows × Columns, the number of instances a PACS lists — so a single absurd value
 * (NumberOfFrames = 3e8 runs the heap out of memory, which no try/catch survives) must be refused before anything is
 * allocated for it. The limits are checked on the metadata before anything is retrieved, and again on the bytes as
 * they arrive (pipeline/bounded-source.ts); a refusal names the limit, the value and the configuration key, so the
 * site's engineer knows what to raise if the study is real.
 *
 * The defaults are generous for real lumbar MRI; each one's reason is in its `description` (README's configuration
 * table, config.ts).
 */
import { DicomMetadataError, getNumber, type DicomJson } from './dicom-json';

export interface StudyLimits {
  seriesPerStudy: number;
  instancesPerSeries: number;
  framesPerInstance: number;
  framesPerStudy: number;
  /** Rows × Columns. */
  pixelsPerFrame: number;
  bytesPerFrame: number;
  /** The frames retrieved from one instance, together. */
  bytesPerInstance: number;
  /** Everything retrieved for one analysis (frames, re-requests included). */
  bytesPerStudy: number;
}

export type StudyLimitName = keyof StudyLimits;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Each limit: its configuration key, its default, what it counts (for the refusal) and why the default. */
export const STUDY_LIMITS = {
  seriesPerStudy: {
    configKey: 'MAX_SERIES_PER_STUDY',
    default: 100,
    counts: 'series in the study',
    description:
      'Series one study may hold. A lumbar MRI has 5–15 (localizers, sagittal and axial T1/T2/STIR, sometimes DWI or a 3D sequence); 100 leaves room for repeats and reformats.',
  },
  instancesPerSeries: {
    configKey: 'MAX_INSTANCES_PER_SERIES',
    default: 2000,
    counts: 'instances in one series',
    description:
      'Instances one series may hold. Lumbar series have 15–60 slices, a 3D isotropic one up to a few hundred; 2,000 is several times the largest.',
  },
  framesPerInstance: {
    configKey: 'MAX_FRAMES_PER_INSTANCE',
    default: 2000,
    counts: 'frames in one instance',
    description:
      'Frames (NumberOfFrames) one instance may hold: an Enhanced MR instance carries a whole series, so the same 2,000 as a series of single-frame images.',
  },
  framesPerStudy: {
    configKey: 'MAX_FRAMES_PER_STUDY',
    default: 10_000,
    counts: 'frames in the study',
    description:
      'Frames of all the series whose metadata is read, together (each gets its geometry computed). A large lumbar protocol has under 1,000; 10,000 is ten times that.',
  },
  pixelsPerFrame: {
    configKey: 'MAX_PIXELS_PER_FRAME',
    default: 1024 * 1024,
    counts: 'pixels (Rows × Columns) in one frame',
    description:
      'Rows × Columns of a frame that is retrieved and decoded. Lumbar MR matrices are 256² to 512², interpolated at most to 1024²: 1024 × 1024.',
  },
  bytesPerFrame: {
    configKey: 'MAX_BYTES_PER_FRAME',
    default: 8 * MiB,
    counts: 'bytes in one frame',
    description:
      "Bytes of one retrieved frame. The largest frame the pixel limit allows, uncompressed at 32 bits, is 4 MiB; 8 MiB leaves room for a codestream's overhead.",
  },
  bytesPerInstance: {
    configKey: 'MAX_BYTES_PER_INSTANCE',
    default: 512 * MiB,
    counts: 'bytes retrieved from one instance',
    description:
      'Bytes retrieved from one instance (its frames, together; also the largest DICOMweb response taken). A 2,000-frame Enhanced MR instance at 256² is 250 MiB uncompressed.',
  },
  bytesPerStudy: {
    configKey: 'MAX_BYTES_PER_STUDY',
    default: 2 * GiB,
    counts: 'bytes retrieved for the study',
    description:
      'Bytes retrieved for one analysis. An axial series of 60 slices at 1024², 16 bits, is 120 MiB, a usual one under 30 MiB; 2 GiB is far above any real lumbar study.',
  },
} as const satisfies Record<
  StudyLimitName,
  { configKey: string; default: number; counts: string; description: string }
>;

export const DEFAULT_STUDY_LIMITS: StudyLimits = Object.fromEntries(
  Object.entries(STUDY_LIMITS).map(([name, limit]) => [name, limit.default]),
) as unknown as StudyLimits;

/**
 * No instance holds more frames than this whatever the configuration says: functions that allocate per frame
 * (geometry.ts `frameGeometries`) refuse beyond it on their own, so that no caller can forget the check.
 */
export const FRAMES_PER_INSTANCE_CEILING = 100_000;

export class StudyLimitError extends Error {
  readonly limit: StudyLimitName;
  readonly value: number;
  readonly max: number;
  readonly configKey: string;

  constructor(limit: StudyLimitName, value: number, max: number, where = '') {
    const { counts, configKey } = STUDY_LIMITS[limit];
    super(
      `The study is larger than ldh-cds accepts: ${format(value)} ${counts}${where ? ` (${where})` : ''}, more than the limit of ${format(max)} (${configKey}).`,
    );
    this.name = 'StudyLimitError';
    this.limit = limit;
    this.value = value;
    this.max = max;
    this.configKey = configKey;
  }
}

const format = (n: number): string => (Number.isSafeInteger(n) ? n.toLocaleString('en-US') : String(n));

/** Throws StudyLimitError when `value` exceeds the limit. */
export function checkLimit(limits: StudyLimits, limit: StudyLimitName, value: number, where?: string): void {
  if (value > limits[limit]) throw new StudyLimitError(limit, value, limits[limit], where);
}

/**
 * NumberOfFrames (0028,0008) as a count that is safe to allocate by: absent means 1 (PS3.3 C.7.6.6); anything
 * but a positive integer is refused as malformed, more than `max` as beyond the limit.
 */
export function numberOfFrames(meta: DicomJson, max: number = FRAMES_PER_INSTANCE_CEILING): number {
  const raw = meta['00280008']?.Value?.[0];
  if (raw === undefined || raw === null || raw === '') return 1;
  const frames = getNumber(meta, 'NumberOfFrames');
  if (frames === undefined || !Number.isInteger(frames) || frames < 1) {
    throw new DicomMetadataError(
      `NumberOfFrames (0028,0008) must be a positive integer, found ${JSON.stringify(raw).slice(0, 40)}`,
    );
  }
  if (frames > max) throw new StudyLimitError('framesPerInstance', frames, max);
  return frames;
}

/** Rows × Columns × SamplesPerPixel × BitsAllocated / 8: what one frame holds uncompressed, or undefined if unknown. */
export function nativeFrameBytesOf(meta: DicomJson): number | undefined {
  const rows = getNumber(meta, 'Rows');
  const columns = getNumber(meta, 'Columns');
  const bits = getNumber(meta, 'BitsAllocated');
  if (rows === undefined || columns === undefined || bits === undefined) return undefined;
  const samples = getNumber(meta, 'SamplesPerPixel') ?? 1;
  return Math.ceil((rows * columns * samples * bits) / 8);
}

/** The limits on a frame about to be retrieved, from its instance's metadata: its pixels and its size uncompressed. */
export function checkFrameMetadata(meta: DicomJson, limits: StudyLimits): void {
  const rows = getNumber(meta, 'Rows');
  const columns = getNumber(meta, 'Columns');
  if (rows !== undefined && columns !== undefined) checkLimit(limits, 'pixelsPerFrame', rows * columns);
  const bytes = nativeFrameBytesOf(meta);
  if (bytes !== undefined)
    checkLimit(limits, 'bytesPerFrame', bytes, 'uncompressed, from Rows, Columns and BitsAllocated');
}
