import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  EXPLICIT_VR_LITTLE_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
  pixelModuleFromMetadata,
  UnsupportedImageError,
} from './decode-frame';
import type { DicomJson } from './dicom-json';
import { isAxial, isPatientLeftImageRight, sliceGeometry } from './geometry';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

/** A 3×2 MR slice written as Part 10 with dcmjs and read back: returns its DICOM JSON and pixel bytes. */
function buildSlice(options: {
  signed: boolean;
  pixels: number[];
  slope?: number;
  intercept?: number;
  transferSyntax: string;
}): {
  meta: DicomJson;
  frame: Uint8Array;
} {
  const typed = options.signed ? Int16Array.from(options.pixels) : Uint16Array.from(options.pixels);
  const dataset = {
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.4',
    SOPInstanceUID: '1.2.3.4.5',
    Modality: 'MR',
    Rows: 2,
    Columns: 3,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: options.signed ? 1 : 0,
    RescaleSlope: String(options.slope ?? 1),
    RescaleIntercept: String(options.intercept ?? 0),
    ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
    ImagePositionPatient: [-10, -10, 42],
    PixelSpacing: [0.5, 0.5],
    PixelData: [typed.buffer],
    _vrMap: { PixelData: 'OW' },
  };
  const dict = new DicomDict({
    TransferSyntaxUID: { vr: 'UI', Value: [options.transferSyntax] },
    MediaStorageSOPClassUID: { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4'] },
    MediaStorageSOPInstanceUID: { vr: 'UI', Value: ['1.2.3.4.5'] },
  });
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  const parsed = DicomMessage.readFile(dict.write());
  const pixelData = parsed.dict['7FE00010']?.Value?.[0] as ArrayBuffer;
  return { meta: parsed.dict, frame: new Uint8Array(pixelData) };
}

describe('decodeFrame', () => {
  it('when pixels are unsigned 16-bit explicit little endian, then values come back unchanged', async () => {
    const { meta, frame } = buildSlice({
      signed: false,
      pixels: [0, 1, 2, 1000, 40000, 65535],
      transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
    });
    const decoded = await decodeFrame(frame, pixelModuleFromMetadata(meta), EXPLICIT_VR_LITTLE_ENDIAN);
    expect(decoded.width).toBe(3);
    expect(decoded.height).toBe(2);
    expect(Array.from(decoded.pixels)).toEqual([0, 1, 2, 1000, 40000, 65535]);
  });

  it('when pixels are signed implicit little endian with a rescale, then slope and intercept are applied after sign extension', async () => {
    const { meta, frame } = buildSlice({
      signed: true,
      pixels: [-5, 0, 5, -1000, 100, 32767],
      slope: 2,
      intercept: -10,
      transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN,
    });
    const decoded = await decodeFrame(frame, pixelModuleFromMetadata(meta), IMPLICIT_VR_LITTLE_ENDIAN);
    expect(Array.from(decoded.pixels)).toEqual([-20, -10, 0, -2010, 190, 65524]);
  });

  it('when the transfer syntax is unknown, then the error names it', async () => {
    const { meta, frame } = buildSlice({
      signed: false,
      pixels: [0, 0, 0, 0, 0, 0],
      transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
    });
    const mpeg2 = '1.2.840.10008.1.2.4.100';
    await expect(decodeFrame(frame, pixelModuleFromMetadata(meta), mpeg2)).rejects.toThrow(UnsupportedImageError);
    await expect(decodeFrame(frame, pixelModuleFromMetadata(meta), mpeg2)).rejects.toThrow(
      /1\.2\.840\.10008\.1\.2\.4\.100 is not supported/,
    );
  });

  it('when 12 bits are stored signed, then the sign is taken from bit 11', async () => {
    const bytes = new Uint8Array(new Uint16Array([0x0fff, 0x0800, 0x07ff]).buffer);
    const decoded = await decodeFrame(
      bytes,
      {
        rows: 1,
        columns: 3,
        bitsAllocated: 16,
        bitsStored: 12,
        pixelRepresentation: 1,
        samplesPerPixel: 1,
        rescaleSlope: 1,
        rescaleIntercept: 0,
      },
      EXPLICIT_VR_LITTLE_ENDIAN,
    );
    expect(Array.from(decoded.pixels)).toEqual([-1, -2048, 2047]);
  });
});

describe('sliceGeometry', () => {
  it('reads orientation, position and spacing from DICOM JSON; axial with patient left on image right', () => {
    const { meta } = buildSlice({
      signed: false,
      pixels: [0, 0, 0, 0, 0, 0],
      transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
    });
    const geometry = sliceGeometry(meta);
    expect(geometry.normal).toEqual([0, 0, 1]);
    expect(geometry.position).toEqual([-10, -10, 42]);
    expect(isAxial(geometry)).toBe(true);
    expect(isPatientLeftImageRight(geometry)).toBe(true);
  });

  it('when ImageOrientationPatient is missing, then the error names the tag', () => {
    expect(() => sliceGeometry({})).toThrow(/ImageOrientationPatient \(0020,0037\)/);
  });
});

describe('when Rescale Slope or Intercept would put the modality values beyond float32', () => {
  // Found by `npm run fuzz` (seed 2, cases 62 and 156): RescaleIntercept = -1e308 decoded every pixel to -Infinity.
  const pixel = {
    rows: 2,
    columns: 2,
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 0 as const,
    samplesPerPixel: 1,
    rescaleSlope: 1,
    rescaleIntercept: 0,
  };
  const frame = new Uint8Array(8);

  it('then the frame is refused naming both attributes, instead of decoding to Infinity', async () => {
    for (const rescale of [{ rescaleIntercept: -1e308 }, { rescaleSlope: -1e308 }, { rescaleSlope: 1e35 }]) {
      await expect(decodeFrame(frame, { ...pixel, ...rescale }, '1.2.840.10008.1.2.1')).rejects.toThrow(
        /RescaleSlope \(0028,1053\) = .* and RescaleIntercept \(0028,1052\) = .* map the stored values outside the range/,
      );
    }
  });

  it('then ordinary rescale values still decode', async () => {
    const decoded = await decodeFrame(
      frame,
      { ...pixel, rescaleSlope: 2.5, rescaleIntercept: -1024 },
      '1.2.840.10008.1.2.1',
    );
    expect(Array.from(decoded.pixels)).toEqual([-1024, -1024, -1024, -1024]);
  });
});
