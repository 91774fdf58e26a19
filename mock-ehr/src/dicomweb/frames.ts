/**
 * Frame extraction and transfer-syntax negotiation for WADO-RS `/frames/{n}` (PS3.18 §8.7.3.5, §10.4.1.1.x).
 * We never transcode compressed data: a request the stored form cannot satisfy gets 406 naming the stored syntax.
 */
import { badRequest, notAcceptable, notFound } from '../http/errors';
import { concatBinary } from './dicom-json';
import { firstNumber, TAG, type StoredInstance } from './dicom-store';

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const DEFLATED_EXPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const NATIVE_LITTLE_ENDIAN = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  DEFLATED_EXPLICIT_LITTLE_ENDIAN,
]);

/** PS3.18 Table 8.7.3-5: media types of compressed frames. */
const COMPRESSED_MEDIA_TYPES: Record<string, string> = {
  '1.2.840.10008.1.2.5': 'image/x-dicom-rle',
  '1.2.840.10008.1.2.4.50': 'image/jpeg',
  '1.2.840.10008.1.2.4.51': 'image/jpeg',
  '1.2.840.10008.1.2.4.57': 'image/jpeg',
  '1.2.840.10008.1.2.4.70': 'image/jpeg',
  '1.2.840.10008.1.2.4.80': 'image/jls',
  '1.2.840.10008.1.2.4.81': 'image/jls',
  '1.2.840.10008.1.2.4.90': 'image/jp2',
  '1.2.840.10008.1.2.4.91': 'image/jp2',
  '1.2.840.10008.1.2.4.92': 'image/jpx',
  '1.2.840.10008.1.2.4.93': 'image/jpx',
};

/** Whether frames are stored uncompressed (native), including retired big endian. */
export function isNativeSyntax(transferSyntaxUid: string): boolean {
  return NATIVE_LITTLE_ENDIAN.has(transferSyntaxUid) || transferSyntaxUid === EXPLICIT_VR_BIG_ENDIAN;
}

export interface FramePayload {
  mediaType: string;
  transferSyntaxUid: string;
  frames: Uint8Array[];
}

/** One acceptable representation from an Accept header: `multipart/related; type="…"; transfer-syntax=…`. */
interface AcceptedRepresentation {
  mediaType: string;
  transferSyntax: string | undefined;
}

/** Parses the frame numbers of `/frames/1,2,3` (1-based, PS3.18 §8.7.3.5). */
export function parseFrameList(text: string): number[] {
  const numbers = text.split(',').map((part) => Number(part.trim()));
  if (numbers.some((n) => !Number.isInteger(n) || n < 1)) {
    throw badRequest(`Frame list "${text}" must be comma-separated 1-based integers`);
  }
  return numbers;
}

export function parseAccept(header: string | undefined): AcceptedRepresentation[] {
  if (header === undefined || header.trim() === '') return [];
  return splitOutsideQuotes(header, ',').flatMap((range) => {
    const [typePart = '', ...paramParts] = splitOutsideQuotes(range, ';');
    const params = new Map<string, string>();
    for (const param of paramParts) {
      const eq = param.indexOf('=');
      if (eq > 0)
        params.set(
          param.slice(0, eq).trim().toLowerCase(),
          param
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, ''),
        );
    }
    const outer = typePart.trim().toLowerCase();
    if (outer !== 'multipart/related') return [{ mediaType: outer, transferSyntax: params.get('transfer-syntax') }];
    // Servers and clients put transfer-syntax either beside `type` or inside its quoted value
    // (docs/architecture.md §DICOM and DICOMweb facts).
    const [inner = '*/*', ...innerParams] = (params.get('type') ?? '*/*').split(';');
    const innerSyntax = innerParams.map((p) => p.trim()).find((p) => p.startsWith('transfer-syntax='));
    return [
      {
        mediaType: inner.trim().toLowerCase(),
        transferSyntax: params.get('transfer-syntax') ?? innerSyntax?.slice('transfer-syntax='.length),
      },
    ];
  });
}

/**
 * Picks how to answer a frame request. Native (uncompressed) data is always offered as explicit VR little endian
 * octets, the PS3.18 default; compressed data only as stored, and only when the client accepts it.
 */
export function negotiateFrames(
  instance: StoredInstance,
  accept: string | undefined,
  frameNumbers: number[],
): FramePayload {
  const stored = instance.transferSyntaxUid;
  const compressedType = COMPRESSED_MEDIA_TYPES[stored];
  const isNative = NATIVE_LITTLE_ENDIAN.has(stored) || stored === EXPLICIT_VR_BIG_ENDIAN;
  if (!isNative && compressedType === undefined) {
    throw notAcceptable(`Frames stored in transfer syntax ${stored} cannot be served by this mock`);
  }
  const accepted = parseAccept(accept);
  const wants = accepted.length === 0 ? [{ mediaType: '*/*', transferSyntax: undefined }] : accepted;
  for (const { mediaType, transferSyntax } of wants) {
    const anyType = mediaType === '*/*';
    if (isNative && (anyType || mediaType === 'application/octet-stream' || mediaType === 'application/*')) {
      if (transferSyntax === undefined || transferSyntax === '*' || transferSyntax === EXPLICIT_VR_LITTLE_ENDIAN) {
        return {
          mediaType: 'application/octet-stream',
          transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
          frames: extractFrames(instance, frameNumbers, true),
        };
      }
    }
    if (compressedType !== undefined && (transferSyntax === '*' || transferSyntax === stored)) {
      const typeMatches =
        anyType || mediaType === compressedType || mediaType === 'image/*' || mediaType === 'application/octet-stream';
      if (typeMatches) {
        return {
          mediaType: compressedType,
          transferSyntaxUid: stored,
          frames: extractFrames(instance, frameNumbers, false),
        };
      }
    }
  }
  throw notAcceptable(
    `No acceptable representation: frames are stored as ${stored}${compressedType ? ` (${compressedType})` : ''}; ` +
      `ask for transfer-syntax=* to receive them as stored, or for application/octet-stream when uncompressed`,
  );
}

/** Returns the requested frames; native data is split by frame size and, if big endian, byte-swapped to LE. */
export function extractFrames(instance: StoredInstance, frameNumbers: number[], native: boolean): Uint8Array[] {
  const element = instance.dataset[TAG.PixelData];
  if (!element?.Value || element.Value.length === 0)
    throw notFound(`Instance ${instance.sopInstanceUid} has no Pixel Data`);
  const frameCount = firstNumber(instance.dataset[TAG.NumberOfFrames]) ?? 1;
  for (const n of frameNumbers) {
    if (n > frameCount)
      throw notFound(`Frame ${n} does not exist: instance ${instance.sopInstanceUid} has ${frameCount} frame(s)`);
  }
  if (!native) {
    const fragments = element.Value;
    // dcmjs yields one buffer per frame when it can tell frames apart; one frame may span several fragments.
    const frames =
      fragments.length === frameCount ? fragments.map((f) => concatBinary([f])) : [concatBinary(fragments)];
    if (frames.length !== frameCount) throw notAcceptable('Cannot split encapsulated pixel data into frames');
    return frameNumbers.map((n) => frames[n - 1] ?? new Uint8Array());
  }
  const pixels = concatBinary(element.Value);
  const rows = firstNumber(instance.dataset[TAG.Rows]) ?? 0;
  const columns = firstNumber(instance.dataset[TAG.Columns]) ?? 0;
  const samples = firstNumber(instance.dataset[TAG.SamplesPerPixel]) ?? 1;
  const bitsAllocated = firstNumber(instance.dataset[TAG.BitsAllocated]) ?? 16;
  if (bitsAllocated % 8 !== 0) throw notAcceptable(`BitsAllocated ${bitsAllocated} frames are not supported`);
  const frameBytes = rows * columns * samples * (bitsAllocated / 8);
  if (frameBytes === 0 || pixels.length < frameBytes * frameCount) {
    throw notAcceptable(`Pixel Data of ${instance.sopInstanceUid} is shorter than Rows×Columns×frames`);
  }
  const bigEndian = instance.transferSyntaxUid === EXPLICIT_VR_BIG_ENDIAN && bitsAllocated > 8;
  return frameNumbers.map((n) => {
    const frame = Uint8Array.from(pixels.subarray((n - 1) * frameBytes, n * frameBytes));
    if (bigEndian) swapBytes(frame, bitsAllocated / 8);
    return frame;
  });
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let offset = 0; offset + width <= bytes.length; offset += width)
    bytes.subarray(offset, offset + width).reverse();
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter(Boolean);
}
