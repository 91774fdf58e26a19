/**
 * Decoding real-world DICOM: every file of ../shared/data/dicom-samples (pydicom's test files, written by real
 * scanners and toolkits) is either decoded, frame by frame, or refused with a one-line reason; the MR_small
 * family (one image in many transfer syntaxes) decodes to identical pixels. A fresh clone without ../shared
 * runs on dicomweb-client's bundled test files instead, and says so. Lossless DCMTK/GDCM transcodes of a
 * phantom slice decode to exactly the original pixels.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { LOSSLESS_TRANSCODINGS, transcodePart10 } from '../../../test/support/transcode';
import { decodeFrame, pixelModuleFromMetadata, transferSyntaxName } from './decode-frame';
import { readPart10, readPart10File } from './part10';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const sharedSamples = path.resolve(repoRoot, '../shared/data/dicom-samples');
const fallbackSamples = path.resolve(repoRoot, 'node_modules/dicomweb-client/testData');
const sampleDir = existsSync(sharedSamples) ? sharedSamples : fallbackSamples;
const sampleFiles = readdirSync(sampleDir)
  .filter((name) => name.endsWith('.dcm'))
  .sort();
console.log(`decoder tests run on ${sampleFiles.length} sample files from ${sampleDir}`);

/** Files the pipeline must refuse, with the reason the user should read. */
const EXPECTED_REFUSALS: Record<string, RegExp> = {
  'ExplVR_BigEnd.dcm': /colour image.*SamplesPerPixel \(0028,0002\) = 3/,
  'SC_rgb_jpeg_dcmtk.dcm': /colour image/,
  'SC_rgb_rle_2frame.dcm': /colour image/,
  'JPEG-lossy.dcm': /12-bit lossy JPEG/,
  'liver_1frame.dcm': /BitsAllocated \(0028,0100\) = 1/,
  'no_meta.dcm': /not a DICOM Part 10 file/,
  'US-PAL-8-10x-echo.dcm': /colour image|PALETTE COLOR/,
};

async function decodeAll(file: string): Promise<{ frames: Float32Array[]; syntax: string }> {
  const object = await readPart10File(path.join(sampleDir, file));
  const pixel = pixelModuleFromMetadata(object.dataset);
  const frames: Float32Array[] = [];
  for (const frame of object.frames) frames.push((await decodeFrame(frame, pixel, object.transferSyntaxUid)).pixels);
  return { frames, syntax: object.transferSyntaxUid };
}

describe(`when every sample in ${path.relative(repoRoot, sampleDir)} is decoded`, () => {
  it.each(sampleFiles)('then %s is decoded, or refused with a one-line reason', async (file) => {
    const expected = EXPECTED_REFUSALS[file];
    const outcome = await decodeAll(file).then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, message: (error as Error).message }),
    );
    if (outcome.ok) {
      expect(expected, `${file} decoded as ${transferSyntaxName(outcome.result.syntax)} but should be refused`).toBe(
        undefined,
      );
      expect(outcome.result.frames.length).toBeGreaterThan(0);
      for (const pixels of outcome.result.frames) expect(pixels.every(Number.isFinite)).toBe(true);
    } else {
      expect(outcome.message).not.toContain('\n');
      expect(outcome.message).not.toMatch(/^\s*at /);
      expect(outcome.message, `${file} was refused`).toMatch(expected ?? /^$/);
    }
  });

  it.runIf(sampleDir === sharedSamples)(
    'then MR_small in every transfer syntax (implicit, big endian, RLE, JPEG-LS, JPEG 2000) gives identical pixels',
    async () => {
      const reference = (await decodeAll('MR_small.dcm')).frames[0];
      const variants = sampleFiles.filter((file) => file.startsWith('MR_small_'));
      expect(variants.length).toBeGreaterThanOrEqual(6);
      for (const file of variants) {
        const { frames, syntax } = await decodeAll(file);
        expect(Array.from(frames[0] ?? []), `${file} (${transferSyntaxName(syntax)})`).toEqual(
          Array.from(reference ?? []),
        );
      }
    },
  );

  it.runIf(sampleDir === sharedSamples)('then a multi-frame file gives every frame', async () => {
    const { frames } = await decodeAll('rtdose.dcm');
    expect(frames).toHaveLength(15);
  });
});

describe('when a phantom MR slice is transcoded losslessly with DCMTK/GDCM', () => {
  const slice = generatePhantomStudy({ seed: 7, patientId: 'decode-test' }).instances[4];
  if (!slice) throw new Error('phantom study has no slice 5');
  const original = readPart10(slice.part10);

  it.each(LOSSLESS_TRANSCODINGS)('then %s decodes to exactly the original pixels', async (syntax) => {
    const transcoded = readPart10(transcodePart10(slice.part10, syntax));
    expect(transcoded.transferSyntaxUid).toBe(syntax);
    const pixel = pixelModuleFromMetadata(transcoded.dataset);
    const [a, b] = await Promise.all([
      decodeFrame(
        original.frames[0] ?? new Uint8Array(),
        pixelModuleFromMetadata(original.dataset),
        original.transferSyntaxUid,
      ),
      decodeFrame(transcoded.frames[0] ?? new Uint8Array(), pixel, transcoded.transferSyntaxUid),
    ]);
    expect(b.pixels).toEqual(a.pixels);
  });
});

describe('when a file is damaged or is not DICOM', () => {
  const slice = generatePhantomStudy({ seed: 7, patientId: 'decode-test' }).instances[0];
  if (!slice) throw new Error('phantom study has no slices');

  it('then a truncated file is refused with a one-line reason', () => {
    expect(() => readPart10(slice.part10.subarray(0, Math.floor(slice.part10.byteLength * 0.6)))).toThrow(
      /truncated|unreadable/,
    );
  });

  it('then a text file is refused as not DICOM', () => {
    expect(() => readPart10(new TextEncoder().encode('hello, this is not an image'))).toThrow(/not a DICOM Part 10/);
  });

  it('then a corrupt JPEG-LS codestream is refused naming the transfer syntax', async () => {
    const transcoded = readPart10(transcodePart10(slice.part10, '1.2.840.10008.1.2.4.80'));
    const frame = (transcoded.frames[0] ?? new Uint8Array()).slice(0, 40);
    await expect(
      decodeFrame(frame, pixelModuleFromMetadata(transcoded.dataset), transcoded.transferSyntaxUid),
    ).rejects.toThrow(/JPEG-LS Lossless \(1\.2\.840\.10008\.1\.2\.4\.80\)/);
  });
});
