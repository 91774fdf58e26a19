/**
 * Frame bytes (as WADO-RS `/frames/{n}` returns them) → modality values. For now only the uncompressed
 * little-endian transfer syntaxes (PS3.5 §A.1, §A.2), whose frames are the same raw pixel bytes; later issues
 * add codecs. Anything else is refused with a message naming the transfer syntax.
 */
import { DicomMetadataError, getNumber, requireNumber, type DicomJson } from './dicom-json';

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  [IMPLICIT_VR_LITTLE_ENDIAN]: 'Implicit VR Little Endian',
  [EXPLICIT_VR_LITTLE_ENDIAN]: 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
};
export const SUPPORTED_TRANSFER_SYNTAXES: readonly string[] = [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN];

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
  return {
    rows: requireNumber(meta, 'Rows'),
    columns: requireNumber(meta, 'Columns'),
    bitsAllocated,
    bitsStored: getNumber(meta, 'BitsStored') ?? bitsAllocated,
    pixelRepresentation,
    samplesPerPixel: getNumber(meta, 'SamplesPerPixel') ?? 1,
    rescaleSlope: getNumber(meta, 'RescaleSlope') ?? 1,
    rescaleIntercept: getNumber(meta, 'RescaleIntercept') ?? 0,
  };
}

export function transferSyntaxName(uid: string): string {
  const name = TRANSFER_SYNTAX_NAMES[uid];
  return name ? `${name} (${uid})` : uid;
}

export function decodeFrame(bytes: Uint8Array, pixel: PixelModule, transferSyntaxUid: string): DecodedFrame {
  if (!SUPPORTED_TRANSFER_SYNTAXES.includes(transferSyntaxUid)) {
    throw new UnsupportedImageError(
      `Transfer syntax ${transferSyntaxName(transferSyntaxUid)} is not supported yet; supported: ${SUPPORTED_TRANSFER_SYNTAXES.map(transferSyntaxName).join(', ')}`,
    );
  }
  if (pixel.samplesPerPixel !== 1) {
    throw new UnsupportedImageError(
      `Only grayscale images are supported (SamplesPerPixel (0028,0002) = ${pixel.samplesPerPixel})`,
    );
  }
  if (pixel.bitsAllocated !== 16 && pixel.bitsAllocated !== 8) {
    throw new UnsupportedImageError(`BitsAllocated (0028,0100) = ${pixel.bitsAllocated} is not supported (8 or 16)`);
  }
  const count = pixel.rows * pixel.columns;
  const bytesPerPixel = pixel.bitsAllocated / 8;
  if (bytes.byteLength < count * bytesPerPixel) {
    throw new UnsupportedImageError(
      `Frame holds ${bytes.byteLength} bytes, expected ${count * bytesPerPixel} for ${pixel.columns}×${pixel.rows} at ${pixel.bitsAllocated} bits`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storedMask = pixel.bitsStored >= 32 ? 0xffffffff : 2 ** pixel.bitsStored - 1;
  const signBit = 2 ** (pixel.bitsStored - 1);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    // PS3.5 §8.1.1: only the low BitsStored bits (HighBit = BitsStored − 1) carry the value.
    let value = (bytesPerPixel === 2 ? view.getUint16(i * 2, true) : view.getUint8(i)) & storedMask;
    if (pixel.pixelRepresentation === 1 && value >= signBit) value -= 2 * signBit;
    out[i] = value * pixel.rescaleSlope + pixel.rescaleIntercept;
  }
  return { width: pixel.columns, height: pixel.rows, pixels: out };
}
