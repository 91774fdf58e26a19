/**
 * WADO-RS rendered resources (PS3.18 §10.4.1.1.3, §8.3.5): a frame as an 8-bit grayscale PNG for viewers and
 * thumbnails. Windowing uses the instance's VOI (Window Center/Width) when present, else the frame's range.
 * Only native (uncompressed) pixel data is rendered; compressed instances get 406 naming their syntax.
 */
import { crc32, deflateSync } from 'node:zlib';
import { notAcceptable } from '../http/errors';
import { extractFrames, isNativeSyntax } from './frames';
import { firstNumber, type StoredInstance } from './dicom-store';

const WINDOW_CENTER = '00281050';
const WINDOW_WIDTH = '00281051';
const RESCALE_INTERCEPT = '00281052';
const RESCALE_SLOPE = '00281053';
const PIXEL_REPRESENTATION = '00280103';

/** Accept for rendered resources: PNG is what we produce. */
export function assertPngAccepted(accept: string | undefined): void {
  if (accept === undefined || accept.trim() === '') return;
  const types = accept.split(',').map((part) => (part.split(';')[0] ?? '').trim().toLowerCase());
  if (!types.some((type) => type === 'image/png' || type === 'image/*' || type === '*/*')) {
    throw notAcceptable(`Rendered frames are offered as image/png only (asked for ${accept})`);
  }
}

export function renderFramePng(instance: StoredInstance, frameNumber: number): Buffer {
  if (!isNativeSyntax(instance.transferSyntaxUid)) {
    throw notAcceptable(
      `Instance ${instance.sopInstanceUid} is stored compressed (${instance.transferSyntaxUid}); this mock renders native pixel data only`,
    );
  }
  const [frame] = extractFrames(instance, [frameNumber], true);
  const rows = firstNumber(instance.dataset['00280010']) ?? 0;
  const columns = firstNumber(instance.dataset['00280011']) ?? 0;
  const bits = firstNumber(instance.dataset['00280100']) ?? 16;
  const signed = firstNumber(instance.dataset[PIXEL_REPRESENTATION]) === 1;
  const slope = firstNumber(instance.dataset[RESCALE_SLOPE]) ?? 1;
  const intercept = firstNumber(instance.dataset[RESCALE_INTERCEPT]) ?? 0;
  if (!frame || rows * columns === 0) throw notAcceptable('Frame has no pixels to render');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const values = new Float64Array(rows * columns);
  for (let i = 0; i < values.length; i++) {
    const raw =
      bits === 8
        ? signed
          ? view.getInt8(i)
          : view.getUint8(i)
        : signed
          ? view.getInt16(i * 2, true)
          : view.getUint16(i * 2, true);
    values[i] = raw * slope + intercept;
  }
  let low: number;
  let high: number;
  const center = firstNumber(instance.dataset[WINDOW_CENTER]);
  const width = firstNumber(instance.dataset[WINDOW_WIDTH]);
  if (center !== undefined && width !== undefined && width > 0) {
    low = center - width / 2;
    high = center + width / 2;
  } else {
    low = Infinity;
    high = -Infinity;
    for (const value of values) {
      if (value < low) low = value;
      if (value > high) high = value;
    }
  }
  const span = high > low ? high - low : 1;
  const gray = new Uint8Array(rows * columns);
  for (let i = 0; i < values.length; i++) {
    gray[i] = Math.max(0, Math.min(255, Math.round((((values[i] ?? 0) - low) / span) * 255)));
  }
  return encodeGrayPng(gray, columns, rows);
}

/** PNG (ISO/IEC 15948): 8-bit grayscale, filter 0 per row, one IDAT. */
export function encodeGrayPng(pixels: Uint8Array, width: number, height: number): Buffer {
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0;
    raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length, 0);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed) >>> 0, 0);
  return Buffer.concat([length, typed, crc]);
}
