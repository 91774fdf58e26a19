/**
 * Batching across analyses: slices of studies analyzed at the same time share onnxruntime runs, and each study
 * still gets exactly the detections it gets when analyzed alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { decodeFrame, pixelModuleFromMetadata } from '../dicom/decode-frame';
import { readPart10 } from '../dicom/part10';
import { createDetectorSession, type DetectorSession } from './detector-session';
import type { GrayImage } from './preprocess';

async function studySlices(seed: number, count: number): Promise<GrayImage[]> {
  const study = generatePhantomStudy({ seed, patientId: `batch-${seed}` });
  return Promise.all(
    study.instances.slice(0, count).map((instance) => {
      const object = readPart10(instance.part10);
      return decodeFrame(
        object.frames[0] ?? new Uint8Array(),
        pixelModuleFromMetadata(object.dataset),
        object.transferSyntaxUid,
      );
    }),
  );
}

let detector: DetectorSession;
beforeAll(async () => {
  detector = await createDetectorSession('models/msu-ldh-phantom/0.1.0', undefined, {
    executionProvider: 'cpu',
    batchSize: 16,
  });
});
afterAll(() => detector.release?.());

const runsDuring = async <T>(work: () => Promise<T>): Promise<{ result: T; runs: number }> => {
  const before = detector.stats?.().runs ?? 0;
  const result = await work();
  return { result, runs: (detector.stats?.().runs ?? 0) - before };
};

describe('when several studies are analyzed at the same time', () => {
  it('then three studies of 5 slices share one run of 15 and get the detections they get alone', async () => {
    const studies = await Promise.all([11, 12, 13].map((seed) => studySlices(seed, 5)));
    const together = await runsDuring(() => Promise.all(studies.map((slices) => detector.detect(slices))));
    const sequential: Awaited<ReturnType<DetectorSession['detect']>>[] = [];
    let sequentialRuns = 0;
    for (const slices of studies) {
      const { result, runs } = await runsDuring(() => detector.detect(slices));
      sequential.push(result);
      sequentialRuns += runs;
    }
    expect(sequentialRuns).toBe(3);
    expect(together.runs).toBe(1);
    expect(together.result).toEqual(sequential);
    expect(sequential.flat(2).length).toBeGreaterThan(0);
  });

  it('then three studies of 10 slices take 2 runs (16 + 14), not 3', async () => {
    const studies = await Promise.all([21, 22, 23].map((seed) => studySlices(seed, 10)));
    expect(studies.flat()).toHaveLength(30);
    const { runs } = await runsDuring(() => Promise.all(studies.map((slices) => detector.detect(slices))));
    expect(runs).toBe(2);
  });
});
