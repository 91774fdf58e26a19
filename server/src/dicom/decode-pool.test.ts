/**
 * The decode pool: frames decoded in worker threads equal the in-thread decode, an undecodable frame keeps the
 * error class the pipeline acts on, and a frame that takes too long is stopped without stopping the pool.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { transcodePart10 } from '../../../models/synthetic/transcode';
import { decodeFrame, pixelModuleFromMetadata, UnsupportedImageError } from './decode-frame';
import { createDecodePool, DecodeQueueFullError, DecodeTimeoutError } from './decode-pool';
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

describe('when frames wait behind a busy pool', () => {
  // One thread; each stand-in frame takes `rows` ms. A limit of 900 ms is longer than any one frame (500 ms) but
  // shorter than the wait of the third frame in line: timed from queueing it would be stopped, from its start not.
  const slow = { ...pixel, rows: 500, columns: 1 };
  const pool = createDecodePool({
    threads: 1,
    frameTimeoutMs: 900,
    maxQueue: 3,
    workerUrl: new URL('./test-fixtures/slow-decode-worker.ts', import.meta.url),
  });
  afterAll(() => pool.close());

  it('then the time limit counts from when each frame starts decoding, not from when it was queued', async () => {
    const started = performance.now();
    const frames = await Promise.allSettled([1, 2, 3].map(() => pool.decode(frame, slow, jpeg2000.transferSyntaxUid)));
    expect(frames.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    // The third frame really waited longer than the limit before it was done.
    expect(performance.now() - started).toBeGreaterThan(1400);
  });

  it('then a frame that itself decodes longer than the limit is still stopped', async () => {
    const stuck = pool.decode(frame, { ...slow, rows: 3000 }, jpeg2000.transferSyntaxUid);
    await expect(stuck).rejects.toThrow(/took longer than 0.9 s and was stopped/);
  });

  it('then beyond the queue depth a frame is refused at once with a retry delay, and the pool goes on', async () => {
    const accepted = [1, 2, 3, 4].map(() => pool.decode(frame, { ...slow, rows: 50 }, jpeg2000.transferSyntaxUid));
    const refused = pool.decode(frame, slow, jpeg2000.transferSyntaxUid);
    await expect(refused).rejects.toBeInstanceOf(DecodeQueueFullError);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 5 });
    await expect(refused).rejects.toThrow(/3 frames are already waiting \(DECODE_QUEUE_DEPTH\)/);
    await expect(Promise.all(accepted)).resolves.toHaveLength(4);
  });
});
