/**
 * One frame for the viewer (GET /api/frames): retrieved by WADO-RS with the caller's token from the study of the
 * ImagingStudy the token can read, decoded by the pipeline's own decoder (the same code and fallbacks an analysis
 * uses), and answered as modality values (Rescale Slope/Intercept applied) in little-endian Float32, row by row, with
 * the image's default window (DICOM Window Center/Width, else the 1st–99th percentile of the values) and pixel
 * spacing. Decoded frames and series metadata are kept in the viewer cache, so scrolling back and forth fetches each
 * frame once.
 */
import { createHash } from 'node:crypto';
import { getNumber, getString } from '../dicom/dicom-json';
import { windowFromMetadata, type DisplayWindow } from '../dicom/display-window';
import { frameGeometries } from '../dicom/geometry';
import { percentileRange } from '../inference/preprocess';
import { decodeOrTranscode } from './analyze-images';
import { PipelineError, toPipelineError } from './pipeline-error';
import type { ViewerCache, ViewerFrame } from './viewer-cache';
import { openViewerStudy, type ViewerDependencies, type ViewerRequest } from './viewer-study';

/** PS3.5 §9.1: a UID is dot-separated numeric components, at most 64 characters. */
const DICOM_UID = /^[0-9]+(\.[0-9]+)*$/;
const MAX_FRAME = 100_000;

const shown = (value: unknown): string =>
  value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 80) + (JSON.stringify(value).length > 80 ? '…' : '');

/** A query parameter that must be a DICOM UID; the error names the parameter. */
export function parseUidParameter(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 64 || !DICOM_UID.test(value)) {
    throw new PipelineError(
      'invalid-input',
      `"${name}" must be a DICOM UID (digits separated by dots, at most 64 characters), got ${shown(value)}`,
    );
  }
  return value;
}

/** The `frame` query parameter: a 1-based frame number. */
export function parseFrameParameter(value: unknown): number {
  const frame = typeof value === 'string' && /^[1-9][0-9]*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(frame) || frame > MAX_FRAME) {
    throw new PipelineError('invalid-input', `"frame" must be a positive integer (1-based), got ${shown(value)}`);
  }
  return frame;
}

export interface FrameRequest extends ViewerRequest {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** 1-based. */
  frame: number;
}

export interface OpenedFrame {
  /** Strong validator: a frame's UIDs and number never change its content (PS3.3 §C.12.1.1.1, UIDs are unique). */
  etag: string;
  read(): Promise<ViewerFrame>;
}

/** The frame's body format; changing it changes every ETag. */
const FORMAT = 'float32le-modality-v1';

/**
 * Checks the caller may read the study and that the series is one of its series; reading the frame is a second step,
 * so that a request whose ETag still matches is answered without fetching anything.
 */
export async function openFrame(
  request: FrameRequest,
  deps: ViewerDependencies,
  cache: ViewerCache,
): Promise<OpenedFrame> {
  const study = await openViewerStudy(request, deps, cache);
  const { studyInstanceUid, retriever } = study;
  const { seriesInstanceUid: series, sopInstanceUid: sop, frame } = request;
  try {
    await study.requireSeries(series);
  } catch (error) {
    throw toPipelineError(error);
  }
  const identity = [FORMAT, studyInstanceUid, series, sop, frame].join('/');
  return {
    etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 32)}"`,
    read: () =>
      cache.frame(`${study.key}\u0000${series}\u0000${sop}\u0000${frame}`, async () => {
        try {
          const instances = await study.seriesMetadata(series);
          const meta = instances.find((instance) => getString(instance, 'SOPInstanceUID') === sop);
          if (!meta)
            throw new PipelineError('not-found', `Instance ${sop} is not in series ${series} of ${study.imagingStudy}`);
          const frames = Math.max(1, getNumber(meta, 'NumberOfFrames') ?? 1);
          if (frame > frames) {
            throw new PipelineError(
              'invalid-input',
              `"frame" must be at most ${frames}: instance ${sop} has ${frames} frame(s), got ${frame}`,
            );
          }
          const [retrieved] = await retriever.retrieveFrames(studyInstanceUid, series, [
            { sopInstanceUid: sop, frame },
          ]);
          if (!retrieved)
            throw new PipelineError('not-found', `The PACS returned no frame ${frame} of instance ${sop}`);
          const image = await decodeOrTranscode(deps.decoder, retriever, studyInstanceUid, series, retrieved, meta, []);
          const window = windowFromMetadata(meta, frame - 1) ?? percentileWindow(image.pixels);
          const pixelSpacing = pixelSpacingOf(meta, frame - 1);
          return {
            body: float32LittleEndian(image.pixels),
            columns: image.width,
            rows: image.height,
            windowCenter: window.center,
            windowWidth: window.width,
            ...(pixelSpacing ? { pixelSpacing } : {}),
          };
        } catch (error) {
          throw toPipelineError(error);
        }
      }),
  };
}

/** The window spanning the 1st to the 99th percentile of the values: what the image shows when it names none. */
export function percentileWindow(pixels: Float32Array): DisplayWindow {
  const [low, high] = percentileRange(pixels, 1, 99);
  return { center: (low + high) / 2, width: high > low ? high - low : 1 };
}

function pixelSpacingOf(meta: Parameters<typeof frameGeometries>[0], frameIndex: number): [number, number] | undefined {
  try {
    return frameGeometries(meta)[frameIndex]?.pixelSpacing;
  } catch {
    // No Image Plane module: the viewer shows the image without a millimetre scale.
    return undefined;
  }
}

/** Little-endian whatever the host's byte order, as the wire format says. */
function float32LittleEndian(pixels: Float32Array): Uint8Array {
  const bytes = new Uint8Array(pixels.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < pixels.length; i++) view.setFloat32(i * 4, pixels[i] ?? 0, true);
  return bytes;
}
