/**
 * Frame bytes (as WADO-RS `/frames/{n}` returns them, or as split from a Part 10 file) → modality values, for
 * every transfer syntax of docs/architecture.md §DICOM and DICOMweb facts: native little/big endian (PS3.5 §A.1–A.3,
 * deflate is undone while the file is read), RLE (Annex G), JPEG baseline/extended/lossless (A.4.1–A.4.2), JPEG-LS
 * (A.4.3) and JPEG 2000 (A.4.4). Codecs live in ./codecs; this file checks the Image Pixel module, picks the codec and
 * turns samples into modality values (mask to BitsStored, sign-extend, Rescale Slope/Intercept). Anything it cannot
 * decode is refused with a message naming the attribute or transfer syntax.
 */
import {
  CodecError,
  decodeJpeg2000,
  decodeJpegBaseline,
  decodeJpegLossless,
  decodeJpegLs,
  decodeRle,
  jpegFrameHeader,
  type CodecOutput,
} from './codecs';
import { DicomMetadataError, getNumber, getString, requireNumber, type DicomJson } from './dicom-json';

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
export const JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';
export const JPEG_LOSSLESS = '1.2.840.10008.1.2.4.57';
export const JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';
export const JPEG_LS_NEAR_LOSSLESS = '1.2.840.10008.1.2.4.81';
export const JPEG_2000_LOSSLESS = '1.2.840.10008.1.2.4.90';
export const JPEG_2000 = '1.2.840.10008.1.2.4.91';

const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  [IMPLICIT_VR_LITTLE_ENDIAN]: 'Implicit VR Little Endian',
  [EXPLICIT_VR_LITTLE_ENDIAN]: 'Explicit VR Little Endian',
  [DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]: 'Deflated Explicit VR Little Endian',
  [EXPLICIT_VR_BIG_ENDIAN]: 'Explicit VR Big Endian',
  [RLE_LOSSLESS]: 'RLE Lossless',
  [JPEG_BASELINE]: 'JPEG Baseline',
  [JPEG_EXTENDED]: 'JPEG Extended',
  [JPEG_LOSSLESS]: 'JPEG Lossless',
  [JPEG_LOSSLESS_SV1]: 'JPEG Lossless SV1',
  [JPEG_LS_LOSSLESS]: 'JPEG-LS Lossless',
  [JPEG_LS_NEAR_LOSSLESS]: 'JPEG-LS Near-lossless',
  [JPEG_2000_LOSSLESS]: 'JPEG 2000 Lossless',
  [JPEG_2000]: 'JPEG 2000',
};

/** Transfer syntaxes whose frames are the raw pixel bytes (deflate applies to the whole file, not to frames). */
export const NATIVE_TRANSFER_SYNTAXES: readonly string[] = [
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
];
export const SUPPORTED_TRANSFER_SYNTAXES: readonly string[] = Object.keys(TRANSFER_SYNTAX_NAMES);

export class UnsupportedImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedImageError';
  }
}

export interface PixelModule {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: 0 | 1;
  samplesPerPixel: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  photometricInterpretation?: string;
}

export interface DecodedFrame {
  width: number;
  height: number;
  /** Modality values (Rescale Slope/Intercept applied), row-major. */
  pixels: Float32Array;
}

export function pixelModuleFromMetadata(meta: DicomJson): PixelModule {
  const bitsAllocated = requireNumber(meta, 'BitsAllocated');
  const pixelRepresentation = getNumber(meta, 'PixelRepresentation') ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    throw new DicomMetadataError(`PixelRepresentation (0028,0103) must be 0 or 1, found ${pixelRepresentation}`);
  }
  const photometricInterpretation = getString(meta, 'PhotometricInterpretation')?.trim();
  return {
    rows: requireNumber(meta, 'Rows'),
    columns: requireNumber(meta, 'Columns'),
    bitsAllocated,
    bitsStored: getNumber(meta, 'BitsStored') ?? bitsAllocated,
    pixelRepresentation,
    samplesPerPixel: getNumber(meta, 'SamplesPerPixel') ?? 1,
    rescaleSlope: getNumber(meta, 'RescaleSlope') ?? 1,
    rescaleIntercept: getNumber(meta, 'RescaleIntercept') ?? 0,
    ...(photometricInterpretation ? { photometricInterpretation } : {}),
  };
}

export function transferSyntaxName(uid: string): string {
  const name = TRANSFER_SYNTAX_NAMES[uid];
  return name ? `${name} (${uid})` : uid;
}

/** Bytes one native (uncompressed) frame occupies. */
export function nativeFrameBytes(pixel: PixelModule): number {
  return Math.ceil((pixel.rows * pixel.columns * pixel.samplesPerPixel * pixel.bitsAllocated) / 8);
}

/** Refuses what the analysis cannot use, before any decoding work: colour, odd bit depths, absurd sizes. */
export function checkPixelModule(pixel: PixelModule, maxPixels = 4096 * 4096): void {
  if (pixel.samplesPerPixel !== 1) {
    throw new UnsupportedImageError(
      `colour image (SamplesPerPixel (0028,0002) = ${pixel.samplesPerPixel}, PhotometricInterpretation ${pixel.photometricInterpretation ?? '?'}): only grayscale images are analyzed`,
    );
  }
  if (pixel.photometricInterpretation && !/^MONOCHROME[12]$/.test(pixel.photometricInterpretation)) {
    throw new UnsupportedImageError(
      `PhotometricInterpretation (0028,0004) ${pixel.photometricInterpretation} is not grayscale (MONOCHROME1/2)`,
    );
  }
  if (pixel.bitsAllocated !== 8 && pixel.bitsAllocated !== 16 && pixel.bitsAllocated !== 32) {
    throw new UnsupportedImageError(
      `BitsAllocated (0028,0100) = ${pixel.bitsAllocated} is not supported (8, 16 or 32)`,
    );
  }
  if (pixel.bitsStored < 1 || pixel.bitsStored > pixel.bitsAllocated) {
    throw new UnsupportedImageError(
      `BitsStored (0028,0101) = ${pixel.bitsStored} does not fit BitsAllocated ${pixel.bitsAllocated}`,
    );
  }
  if (pixel.rows < 1 || pixel.columns < 1 || pixel.rows * pixel.columns > maxPixels) {
    throw new UnsupportedImageError(
      `image size ${pixel.columns}×${pixel.rows} is outside the accepted range (1 to ${maxPixels} pixels)`,
    );
  }
  checkRescaleRange(pixel);
}

/** The largest float32: modality values are computed and kept in float32 (DecodedFrame.pixels). */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Rescale Slope and Intercept (PS3.3 C.11.1.1.2) must map every stored value to a finite float32: a slope of 1e308
 * made every pixel ±Infinity, and the image meaningless downstream (found by `npm run fuzz`).
 */
function checkRescaleRange(pixel: PixelModule): void {
  const { bitsStored, pixelRepresentation, rescaleSlope: slope, rescaleIntercept: intercept } = pixel;
  const low = pixelRepresentation === 1 ? -(2 ** (bitsStored - 1)) : 0;
  const high = pixelRepresentation === 1 ? 2 ** (bitsStored - 1) - 1 : 2 ** bitsStored - 1;
  const ends = [low * slope + intercept, high * slope + intercept];
  if (!ends.every((value) => Number.isFinite(value) && Math.abs(value) <= FLOAT32_MAX)) {
    throw new UnsupportedImageError(
      `RescaleSlope (0028,1053) = ${slope} and RescaleIntercept (0028,1052) = ${intercept} map the stored values outside the range of numbers the analysis computes in (±3.4e38)`,
    );
  }
}

async function decodeCompressed(
  bytes: Uint8Array,
  pixel: PixelModule,
  transferSyntaxUid: string,
): Promise<CodecOutput> {
  const pixelCount = pixel.rows * pixel.columns;
  // Each codec refuses a codestream whose own header declares another size than this, before it allocates.
  const expected = { columns: pixel.columns, rows: pixel.rows, samplesPerPixel: pixel.samplesPerPixel };
  switch (transferSyntaxUid) {
    case RLE_LOSSLESS:
      return decodeRle(bytes, pixelCount, pixel.bitsAllocated / 8, pixel.samplesPerPixel);
    case JPEG_BASELINE:
    case JPEG_EXTENDED:
    case JPEG_LOSSLESS:
    case JPEG_LOSSLESS_SV1: {
      // The codestream's SOF marker decides (servers label every JPEG frame image/jpeg): SOF3/SOF7 = lossless.
      const marker = jpegFrameHeader(bytes)?.marker;
      if (marker === 0xc3 || marker === 0xc7) return decodeJpegLossless(bytes, pixel.bitsAllocated, expected);
      return decodeJpegBaseline(bytes, expected);
    }
    case JPEG_LS_LOSSLESS:
    case JPEG_LS_NEAR_LOSSLESS:
      return decodeJpegLs(bytes, expected);
    case JPEG_2000_LOSSLESS:
    case JPEG_2000:
      return decodeJpeg2000(bytes, expected);
    default:
      throw new UnsupportedImageError(
        `Transfer syntax ${transferSyntaxName(transferSyntaxUid)} is not supported; supported: ${SUPPORTED_TRANSFER_SYNTAXES.map(transferSyntaxName).join(', ')}`,
      );
  }
}

/** Samples → modality values: keep the low BitsStored bits (PS3.5 §8.1.1), sign-extend, rescale (PS3.3 §C.11.1). */
function samplesToModality(
  samples: Uint8Array,
  bytesPerSample: number,
  littleEndian: boolean,
  pixel: PixelModule,
): Float32Array {
  const count = pixel.rows * pixel.columns;
  const view = new DataView(samples.buffer, samples.byteOffset, samples.byteLength);
  const storedMask = pixel.bitsStored >= 32 ? 0xffffffff : 2 ** pixel.bitsStored - 1;
  const signBit = 2 ** (pixel.bitsStored - 1);
  const { rescaleSlope: slope, rescaleIntercept: intercept } = pixel;
  // MONOCHROME1 displays low values bright: negate so that, as in MONOCHROME2, bright means high.
  const sign = pixel.photometricInterpretation === 'MONOCHROME1' ? -1 : 1;
  const out = new Float32Array(count);
  if (littleEndian && bytesPerSample === 2 && samples.byteOffset % 2 === 0) {
    // Fast path (the usual MR frame): read 16-bit samples through a typed view instead of a DataView.
    const words = new Uint16Array(samples.buffer, samples.byteOffset, count);
    const signed = pixel.pixelRepresentation === 1;
    for (let i = 0; i < count; i++) {
      let value = (words[i] ?? 0) & storedMask;
      if (signed && value >= signBit) value -= 2 * signBit;
      out[i] = sign * (value * slope + intercept);
    }
    return out;
  }
  for (let i = 0; i < count; i++) {
    let value =
      bytesPerSample === 2
        ? view.getUint16(i * 2, littleEndian)
        : bytesPerSample === 4
          ? view.getUint32(i * 4, littleEndian)
          : view.getUint8(i);
    value = bytesPerSample === 4 ? value % (storedMask + 1) : value & storedMask;
    if (pixel.pixelRepresentation === 1 && value >= signBit) value -= 2 * signBit;
    out[i] = sign * (value * slope + intercept);
  }
  return out;
}

export async function decodeFrame(
  bytes: Uint8Array,
  pixel: PixelModule,
  transferSyntaxUid: string,
): Promise<DecodedFrame> {
  checkPixelModule(pixel);
  const count = pixel.rows * pixel.columns;
  let samples: Uint8Array;
  let bytesPerSample = pixel.bitsAllocated / 8;
  let littleEndian = true;
  if (NATIVE_TRANSFER_SYNTAXES.includes(transferSyntaxUid)) {
    samples = bytes;
    littleEndian = transferSyntaxUid !== EXPLICIT_VR_BIG_ENDIAN;
  } else {
    let decoded: CodecOutput;
    try {
      decoded = await decodeCompressed(bytes, pixel, transferSyntaxUid);
    } catch (error) {
      if (error instanceof CodecError) {
        throw new UnsupportedImageError(`${transferSyntaxName(transferSyntaxUid)}: ${error.message}`);
      }
      throw error;
    }
    if (decoded.width > 0 && (decoded.width !== pixel.columns || decoded.height !== pixel.rows)) {
      throw new UnsupportedImageError(
        `${transferSyntaxName(transferSyntaxUid)}: the codestream is ${decoded.width}×${decoded.height} but Rows/Columns say ${pixel.columns}×${pixel.rows}`,
      );
    }
    samples = decoded.samples;
    bytesPerSample = decoded.bytesPerSample;
  }
  if (samples.byteLength < count * bytesPerSample) {
    throw new UnsupportedImageError(
      `frame holds ${samples.byteLength} bytes, expected ${count * bytesPerSample} for ${pixel.columns}×${pixel.rows} at ${bytesPerSample * 8} bits (truncated?)`,
    );
  }
  return {
    width: pixel.columns,
    height: pixel.rows,
    pixels: samplesToModality(samples, bytesPerSample, littleEndian, pixel),
  };
}
