/**
 * Decoding real-world DICOM: every file of ../shared/data/dicom-samples (pydicom's test files, written by real
 * scanners and toolkits) is either decoded, frame by frame, or refused with a one-line reason; the MR_small
 * family (one image in many transfer syntaxes) decodes to identical pixels. A fresh clone without ../shared
 * runs on dicomweb-client's bundled test files instead, and says so. Lossless DCMTK/GDCM transcodes of a
 * phantom slice decode to exactly the original pixels.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { decompressWithDcmtk, LOSSLESS_TRANSCODINGS, transcodePart10 } from '../../../models/synthetic/transcode';
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

  it.runIf(sampleDir === sharedSamples)(
    "then the 12-bit lossy JPEG sample decodes as GDCM's decoder reads it",
    async () => {
      const rawFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'ldh-gdcm-')), 'raw.dcm');
      execFileSync('gdcmconv', ['--raw', path.join(sampleDir, 'JPEG-lossy.dcm'), rawFile]);
      const raw = await readPart10File(rawFile);
      const gdcm = await decodeFrame(
        raw.frames[0] ?? new Uint8Array(),
        pixelModuleFromMetadata(raw.dataset),
        raw.transferSyntaxUid,
      );
      const ours = (await decodeAll('JPEG-lossy.dcm')).frames[0] ?? new Float32Array();
      let maxDifference = 0;
      for (let i = 0; i < ours.length; i++)
        maxDifference = Math.max(maxDifference, Math.abs((ours[i] ?? 0) - (gdcm.pixels[i] ?? 0)));
      expect(ours.length).toBe(gdcm.pixels.length);
      expect(maxDifference).toBeLessThanOrEqual(1);
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

describe('when a phantom MR slice is compressed as 12-bit lossy JPEG (JPEG Extended, process 4)', () => {
  const slice = generatePhantomStudy({ seed: 7, patientId: 'decode-test' }).instances[4];
  if (!slice) throw new Error('phantom study has no slice 5');

  it("then it decodes to DCMTK's own decode of the same codestream, and close to the original", async () => {
    const compressed = readPart10(transcodePart10(slice.part10, '1.2.840.10008.1.2.4.51'));
    expect(compressed.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.51');
    const byDcmtk = readPart10(decompressWithDcmtk(transcodePart10(slice.part10, '1.2.840.10008.1.2.4.51')));
    const decode = (object: typeof compressed) =>
      decodeFrame(
        object.frames[0] ?? new Uint8Array(),
        pixelModuleFromMetadata(object.dataset),
        object.transferSyntaxUid,
      );
    const [ours, dcmtk, original] = await Promise.all([
      decode(compressed),
      decode(byDcmtk),
      decode(readPart10(slice.part10)),
    ]);
    expect(ours.width).toBe(original.width);
    let maxFromDcmtk = 0;
    let sumFromOriginal = 0;
    let range = 0;
    for (let i = 0; i < ours.pixels.length; i++) {
      maxFromDcmtk = Math.max(maxFromDcmtk, Math.abs((ours.pixels[i] ?? 0) - (dcmtk.pixels[i] ?? 0)));
      sumFromOriginal += Math.abs((ours.pixels[i] ?? 0) - (original.pixels[i] ?? 0));
      range = Math.max(range, original.pixels[i] ?? 0);
    }
    // Both are IJG 12-bit decoders: the same codestream gives the same samples (±1 for IDCT rounding).
    expect(maxFromDcmtk).toBeLessThanOrEqual(1);
    // Lossy, but near: mean error under 1 % of the image's range, and the image is not blank.
    expect(range).toBeGreaterThan(1000);
    expect(sumFromOriginal / ours.pixels.length).toBeLessThan(range * 0.01);
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
