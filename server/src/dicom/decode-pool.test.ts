/**
 * The decode pool: frames decoded in worker threads equal the in-thread decode, an undecodable frame keeps the
 * error class the pipeline acts on, and a frame that takes too long is stopped without stopping the pool.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { transcodePart10 } from '../../../models/synthetic/transcode';
import { decodeFrame, pixelModuleFromMetadata, UnsupportedImageError } from './decode-frame';
import { createDecodePool, DecodeTimeoutError } from './decode-pool';
import { readPart10 } from './part10';

const slice = generatePhantomStudy({ seed: 7, patientId: 'pool-test' }).instances[4];
if (!slice) throw new Error('phantom study has no slice 5');
const jpeg2000 = readPart10(transcodePart10(slice.part10, '1.2.840.10008.1.2.4.90'));
const frame = jpeg2000.frames[0] ?? new Uint8Array();
const pixel = pixelModuleFromMetadata(jpeg2000.dataset);

describe('when frames are decoded in the worker pool', () => {
  const pool = createDecodePool({ threads: 2 });
  afterAll(() => pool.close());

  it('then each frame equals the in-thread decode', async () => {
    const expected = await decodeFrame(frame, pixel, jpeg2000.transferSyntaxUid);
    const decoded = await Promise.all([1, 2, 3].map(() => pool.decode(frame, pixel, jpeg2000.transferSyntaxUid)));
    for (const image of decoded) {
      expect(image.width).toBe(expected.width);
      expect(Array.from(image.pixels)).toEqual(Array.from(expected.pixels));
    }
  });

  it('then a frame in an unsupported syntax is refused as UnsupportedImageError, naming the syntax', async () => {
    const refusal = pool.decode(frame, pixel, '1.2.840.10008.1.2.4.201');
    await expect(refusal).rejects.toBeInstanceOf(UnsupportedImageError);
    await expect(refusal).rejects.toThrow(/1\.2\.840\.10008\.1\.2\.4\.201 is not supported/);
  });
});

describe('when a frame takes longer than the time limit', () => {
  // A codec that spins cannot be caused on demand; a limit shorter than any decode stands in for it.
  const pool = createDecodePool({ threads: 1 });
  afterAll(() => pool.close());

  it('then it is stopped with a message saying so, and the pool still decodes', async () => {
    const stopped = pool.decode(frame, pixel, jpeg2000.transferSyntaxUid, { timeoutMs: 1 });
    await expect(stopped).rejects.toBeInstanceOf(DecodeTimeoutError);
    await expect(stopped).rejects.toThrow(/took longer than 0.001 s and was stopped/);
    const image = await pool.decode(frame, pixel, jpeg2000.transferSyntaxUid);
    expect(image.pixels.length).toBe(pixel.rows * pixel.columns);
  });
});
