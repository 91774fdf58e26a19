/**
 * DICOM Part 10 files (PS3.10 §7) → DICOM JSON attributes plus the frames of Pixel Data, ready for
 * decodeFrame. dcmjs parses the data set (it also undoes Deflated Explicit VR Little Endian, PS3.5 §A.5); we
 * split Pixel Data into frames: native data by frame size (PS3.5 §8.1.1), encapsulated data by its items
 * (§A.4: one item per frame, or all fragments of a single frame). Every failure is one line naming the reason.
 */
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
  nativeFrameBytes,
  NATIVE_TRANSFER_SYNTAXES,
  pixelModuleFromMetadata,
  transferSyntaxName,
} from './decode-frame';
import { checkPart10Structure, DataSetStructureError } from './data-set-scan';
import { silenceDcmjsPixelDataVrNotice } from './dcmjs-log';
import { getNumber, getString, type DicomJson } from './dicom-json';

const require = createRequire(import.meta.url);

interface DcmjsDict {
  meta: DicomJson;
  dict: DicomJson;
}
interface Dcmjs {
  data: { DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DcmjsDict } };
}
const dcmjs = require('dcmjs') as Dcmjs;

const PIXEL_DATA = '7FE00010';
const FLOAT_PIXEL_DATA = ['7FE00008', '7FE00009'];

export class DicomFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DicomFileError';
  }
}

export interface Part10Object {
  /** The data set without Pixel Data, in the DICOM JSON model (PS3.18 §F.2), TransferSyntaxUID included. */
  dataset: DicomJson;
  transferSyntaxUid: string;
  /** One byte array per frame: raw pixels for native syntaxes, one codestream for encapsulated ones. */
  frames: Uint8Array[];
}

export interface Part10Limits {
  /** Files larger than this are refused before they are read; a deflated data set may not inflate beyond it either. */
  maxFileBytes?: number;
  /** Multi-frame objects with more frames are refused (default 4096). */
  maxFrames?: number;
}

export const DEFAULT_MAX_FRAMES = 4096;

export const DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024;

const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 200) || 'unknown error';
}

/**
 * dcmjs pads a truncated Pixel Data value instead of failing, so check it ourselves: the last Pixel Data
 * element header must announce a value that fits in the file (native), or an encapsulated value must end with
 * a Sequence Delimitation Item (PS3.5 §A.4). Deflated files are checked by inflation itself.
 */
function checkPixelDataComplete(bytes: Uint8Array, transferSyntaxUid: string): void {
  if (transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) return;
  const bigEndian = transferSyntaxUid === EXPLICIT_VR_BIG_ENDIAN;
  const tag = bigEndian ? [0x7f, 0xe0, 0x00, 0x10] : [0xe0, 0x7f, 0x10, 0x00];
  const explicit = transferSyntaxUid !== IMPLICIT_VR_LITTLE_ENDIAN;
  // The first Pixel Data header (with an OB/OW VR when explicit) after the preamble: it precedes the pixels.
  let at = -1;
  for (let i = 132; i + 12 <= bytes.byteLength; i++) {
    if (bytes[i] !== tag[0] || bytes[i + 1] !== tag[1] || bytes[i + 2] !== tag[2] || bytes[i + 3] !== tag[3]) continue;
    const vr = String.fromCharCode(bytes[i + 4] ?? 0, bytes[i + 5] ?? 0);
    if (!explicit || vr === 'OB' || vr === 'OW') {
      at = i;
      break;
    }
  }
  if (at < 0) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthAt = explicit ? at + 8 : at + 4;
  if (lengthAt + 4 > bytes.byteLength) throw new DicomFileError('file ends inside the Pixel Data header: truncated');
  const length = view.getUint32(lengthAt, !bigEndian);
  if (length === 0xffffffff) {
    const tail = bytes.subarray(at);
    const hasDelimiter = tail.some(
      (_, i) => tail[i] === 0xfe && tail[i + 1] === 0xff && tail[i + 2] === 0xdd && tail[i + 3] === 0xe0,
    );
    if (!hasDelimiter) throw new DicomFileError('encapsulated Pixel Data has no end delimiter: truncated');
  } else if (lengthAt + 4 + length > bytes.byteLength) {
    throw new DicomFileError(
      `Pixel Data announces ${length} bytes but the file ends ${lengthAt + 4 + length - bytes.byteLength} bytes early: truncated`,
    );
  }
}

/** Parses a Part 10 byte array. Throws DicomFileError with a one-line reason. */
export function readPart10(bytes: Uint8Array, limits: Part10Limits = {}): Part10Object {
  if (bytes.byteLength < 132 || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') {
    throw new DicomFileError(
      "not a DICOM Part 10 file (no 'DICM' marker after the 128-byte preamble; raw data sets without a file meta header are not accepted)",
    );
  }
  // Else dcmjs prints "Invalid vr type ox - using OW" for every Implicit VR Little Endian file (dcmjs-log.ts).
  silenceDcmjsPixelDataVrNotice();
  try {
    // What would make the parse itself the attack: absurdly deep sequences, a deflate bomb (data-set-scan.ts).
    checkPart10Structure(bytes, { maxInflatedBytes: limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES });
  } catch (error) {
    if (error instanceof DataSetStructureError) throw new DicomFileError(error.message);
    throw error;
  }
  let parsed: DcmjsDict;
  try {
    parsed = dcmjs.data.DicomMessage.readFile(toArrayBuffer(bytes));
  } catch (error) {
    throw new DicomFileError(`unreadable DICOM data set (${firstLine(error)}); the file may be truncated or corrupt`);
  }
  const transferSyntaxUid = getString(parsed.meta, 'TransferSyntaxUID')?.trim();
  if (!transferSyntaxUid) throw new DicomFileError('file meta information lacks TransferSyntaxUID (0002,0010)');
  checkPixelDataComplete(bytes, transferSyntaxUid);
  const { [PIXEL_DATA]: pixelData, ...rest } = parsed.dict;
  const dataset: DicomJson = { ...rest, ...parsed.meta };
  if (!pixelData) {
    const floating = FLOAT_PIXEL_DATA.some((tag) => tag in parsed.dict);
    throw new DicomFileError(
      floating
        ? 'holds float pixel data (7FE0,0008/0009), not an MR image'
        : 'holds no Pixel Data (7FE0,0010): not an image',
    );
  }
  const items = (pixelData.Value ?? []).filter((v): v is ArrayBuffer => v instanceof ArrayBuffer);
  if (items.length === 0) throw new DicomFileError('Pixel Data (7FE0,0010) is empty');
  const frameCount = Math.max(1, getNumber(dataset, 'NumberOfFrames') ?? 1);
  const maxFrames = limits.maxFrames ?? DEFAULT_MAX_FRAMES;
  if (frameCount > maxFrames)
    throw new DicomFileError(`NumberOfFrames (0028,0008) = ${frameCount} exceeds the limit of ${maxFrames}`);
  let frames: Uint8Array[];
  if (NATIVE_TRANSFER_SYNTAXES.includes(transferSyntaxUid)) {
    let frameBytes: number;
    try {
      frameBytes = nativeFrameBytes(pixelModuleFromMetadata(dataset));
    } catch (error) {
      throw new DicomFileError(firstLine(error));
    }
    const all = new Uint8Array(items[0] ?? new ArrayBuffer(0));
    if (frameBytes <= 0 || all.byteLength < frameBytes * frameCount) {
      throw new DicomFileError(
        `Pixel Data holds ${all.byteLength} bytes, expected ${frameBytes * frameCount} for ${frameCount} frame(s): truncated`,
      );
    }
    frames = Array.from({ length: frameCount }, (_, i) => all.subarray(i * frameBytes, (i + 1) * frameBytes));
  } else if (items.length === frameCount) {
    frames = items.map((item) => new Uint8Array(item));
  } else if (frameCount === 1) {
    // PS3.5 §A.4: a single frame may be split over several fragments: concatenate them.
    const total = items.reduce((sum, item) => sum + item.byteLength, 0);
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const item of items) {
      joined.set(new Uint8Array(item), offset);
      offset += item.byteLength;
    }
    frames = [joined];
  } else {
    throw new DicomFileError(
      `encapsulated Pixel Data (${transferSyntaxName(transferSyntaxUid)}) has ${items.length} fragments for ${frameCount} frames and no usable offset table`,
    );
  }
  return { dataset, transferSyntaxUid, frames };
}

/** Reads a file with a size limit; the error names the file. */
export async function readPart10File(filePath: string, limits: Part10Limits = {}): Promise<Part10Object> {
  const maxBytes = limits.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const info = await stat(filePath).catch((error: unknown) => {
    throw new DicomFileError(`cannot read (${firstLine(error)})`);
  });
  if (!info.isFile()) throw new DicomFileError('not a regular file');
  if (info.size > maxBytes) {
    throw new DicomFileError(`file is ${info.size} bytes, larger than the ${maxBytes}-byte limit`);
  }
  return readPart10(new Uint8Array(await readFile(filePath)), limits);
}
