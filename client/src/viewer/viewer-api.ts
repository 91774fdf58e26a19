/**
 * The viewer's side of the app server API (docs/architecture.md §Viewer): the study's level stacks, a decoded frame,
 * the model's identity. Same headers as the analyses API (`buildApiHeaders`); `fetch` is injectable for tests.
 */
import { FRAME_HEADERS, type StudyStacks } from '../../../server/src/findings/viewer';
import { ApiError, buildApiHeaders, studyReference, type ApiSession, type FetchFn } from '../api';
import { errorBodyToMessage, requestReferenceOf } from '../operation-outcome';
import type { VoiWindow } from './render-frame';

export const STACKS_PATH = '/api/stacks';
export const FRAMES_PATH = '/api/frames';
export const MODEL_PATH = '/api/model';

export interface ApiCallOptions {
  baseUrl: string;
  fetch?: FetchFn;
  signal?: AbortSignal;
}

/** One frame of a series: what `/api/frames` is asked for. */
export interface FrameRef {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** 1-based (WADO-RS `/frames/{n}`). */
  frame: number;
}

/** A frame as the server decoded it: modality values row by row, with its default window and pixel spacing. */
export interface DecodedFrame {
  columns: number;
  rows: number;
  pixels: Float32Array;
  window: VoiWindow;
  /** `[row spacing, column spacing]` in mm, when the image gives it. */
  pixelSpacing?: [number, number];
}

/** `GET /api/model`: the model whose output the overlays show. */
export interface ModelInfo {
  id: string;
  version: string;
  name: string;
  intendedUse: string;
  digest?: string;
  /** Path of the model card (`/api/model/card`). */
  card?: string;
  bundled?: boolean;
}

export function stacksUrl(baseUrl: string, imagingStudyId: string): string {
  const url = new URL(STACKS_PATH, baseUrl);
  url.searchParams.set('imagingStudy', studyReference(imagingStudyId));
  return url.toString();
}

export function frameUrl(baseUrl: string, imagingStudyId: string, ref: FrameRef): string {
  const url = new URL(FRAMES_PATH, baseUrl);
  url.searchParams.set('imagingStudy', studyReference(imagingStudyId));
  url.searchParams.set('series', ref.seriesInstanceUid);
  url.searchParams.set('instance', ref.sopInstanceUid);
  url.searchParams.set('frame', String(ref.frame));
  return url.toString();
}

async function failure(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    body = undefined;
  }
  const message = errorBodyToMessage(body, response.status, response.statusText);
  return new ApiError(response.status, message, requestReferenceOf(response.headers, body));
}

async function getJson(url: string, session: ApiSession, options: ApiCallOptions, doing: string): Promise<unknown> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(url, {
    method: 'GET',
    headers: buildApiHeaders(session, false),
    signal: options.signal,
  });
  if (!response.ok) throw await failure(response);
  try {
    return (await response.json()) as unknown;
  } catch {
    throw new ApiError(response.status, `The ldh-cds server answered, but not with ${doing.replace(/^load /, '')}.`);
  }
}

function isStudyStacks(body: unknown): body is StudyStacks {
  if (typeof body !== 'object' || body === null) return false;
  const { levels, seriesInstanceUid } = body as Record<string, unknown>;
  return typeof seriesInstanceUid === 'string' && Array.isArray(levels);
}

/** `GET /api/stacks?imagingStudy=ImagingStudy/<id>`: every assessed level's axial stack and the sagittal lines. */
export async function getStudyStacks(
  session: ApiSession,
  imagingStudyId: string,
  options: ApiCallOptions,
): Promise<StudyStacks> {
  const body = await getJson(stacksUrl(options.baseUrl, imagingStudyId), session, options, 'load the image stacks');
  if (!isStudyStacks(body)) throw new ApiError(200, 'The ldh-cds server answered, but not with image stacks.');
  return body;
}

/** `GET /api/model`: the model's id, version, name and intended use. */
export async function getModelInfo(session: ApiSession, options: ApiCallOptions): Promise<ModelInfo> {
  const body = await getJson(new URL(MODEL_PATH, options.baseUrl).toString(), session, options, 'load the model');
  const info = body as Partial<ModelInfo> | undefined;
  if (typeof info?.id !== 'string' || typeof info.version !== 'string') {
    throw new ApiError(200, 'The ldh-cds server answered, but not with the model.');
  }
  return {
    ...info,
    id: info.id,
    version: info.version,
    name: info.name ?? info.id,
    intendedUse: info.intendedUse ?? '',
  };
}

function positiveInteger(headers: Headers, name: string): number {
  const value = Number(headers.get(name));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`the frame's ${name} header is missing or not a size`);
  return value;
}

/** `row,column` mm → a pair, or undefined when absent or not two positive numbers. */
export function parsePixelSpacing(header: string | null): [number, number] | undefined {
  if (!header) return undefined;
  const parts = header.split(/[,\\]/).map((part) => Number(part.trim()));
  const [row, column] = parts;
  if (parts.length !== 2 || row === undefined || column === undefined) return undefined;
  return row > 0 && column > 0 && Number.isFinite(row) && Number.isFinite(column) ? [row, column] : undefined;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian Float32 bytes → values, on any platform. */
function float32LeToArray(buffer: ArrayBuffer): Float32Array {
  if (LITTLE_ENDIAN) return new Float32Array(buffer);
  const view = new DataView(buffer);
  const values = new Float32Array(buffer.byteLength / 4);
  for (let i = 0; i < values.length; i += 1) values[i] = view.getFloat32(i * 4, true);
  return values;
}

/** The `/api/frames` answer's body and headers → a frame; a size that does not match the body is an error. */
export function responseToFrame(buffer: ArrayBuffer, headers: Headers): DecodedFrame {
  const columns = positiveInteger(headers, FRAME_HEADERS.columns);
  const rows = positiveInteger(headers, FRAME_HEADERS.rows);
  if (buffer.byteLength !== columns * rows * 4) {
    throw new Error(`the frame holds ${buffer.byteLength} bytes, not ${columns}×${rows} Float32 values`);
  }
  const pixels = float32LeToArray(buffer);
  const center = Number(headers.get(FRAME_HEADERS.windowCenter));
  const width = Number(headers.get(FRAME_HEADERS.windowWidth));
  const window =
    headers.get(FRAME_HEADERS.windowCenter) !== null && Number.isFinite(center) && Number.isFinite(width) && width > 0
      ? { center, width }
      : undefined;
  const pixelSpacing = parsePixelSpacing(headers.get(FRAME_HEADERS.pixelSpacing));
  return {
    columns,
    rows,
    pixels,
    window: window ?? percentileWindow(pixels),
    ...(pixelSpacing ? { pixelSpacing } : {}),
  };
}

/** A window from the 1st to the 99th percentile, for a frame the server sent without one. */
function percentileWindow(pixels: Float32Array): VoiWindow {
  const sorted = Float32Array.from(pixels.filter((value) => Number.isFinite(value))).sort();
  if (sorted.length === 0) return { center: 0.5, width: 1 };
  const low = sorted[Math.floor(0.01 * (sorted.length - 1))] ?? 0;
  const high = sorted[Math.ceil(0.99 * (sorted.length - 1))] ?? low;
  return { center: (low + high) / 2, width: Math.max(1, high - low) };
}

/** `GET /api/frames?…`: one frame, decoded by the server, as Float32 modality values. */
export async function getFrame(
  session: ApiSession,
  imagingStudyId: string,
  ref: FrameRef,
  options: ApiCallOptions,
): Promise<DecodedFrame> {
  const doFetch = options.fetch ?? fetch;
  const headers = { ...buildApiHeaders(session, false), Accept: 'application/octet-stream' };
  const response = await doFetch(frameUrl(options.baseUrl, imagingStudyId, ref), {
    method: 'GET',
    headers,
    signal: options.signal,
  });
  if (!response.ok) throw await failure(response);
  try {
    return responseToFrame(await response.arrayBuffer(), response.headers);
  } catch (error) {
    if (error instanceof Error && error.name === 'AbortError') throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new ApiError(response.status, `The ldh-cds server sent an image the viewer cannot read: ${why}.`);
  }
}
