/**
 * Geometry of every frame, and the one metadata value that could kill the process: frameGeometries allocates per
 * frame, so NumberOfFrames must be checked before it is trusted.
 */
import { describe, expect, it } from 'vitest';
import { runInBoundedWorker } from '../../../test/support/bounded-worker';
import type { DicomJson } from './dicom-json';
import { DicomMetadataError } from './dicom-json';
import { frameGeometries } from './geometry';
import { StudyLimitError } from './study-limits';

const axialInstance = (numberOfFrames?: unknown): DicomJson => ({
  '00080018': { vr: 'UI', Value: ['1.2.826.0.1.3680043.8.498.1'] },
  ...(numberOfFrames === undefined ? {} : { '00280008': { vr: 'IS', Value: [numberOfFrames] } }),
  '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
  '00200032': { vr: 'DS', Value: [0, 0, 0] },
  '00280030': { vr: 'DS', Value: [0.5, 0.5] },
});

describe('frameGeometries', () => {
  it('when NumberOfFrames is absent or a small count, then every frame gets a geometry', () => {
    expect(frameGeometries(axialInstance())).toHaveLength(1);
    expect(frameGeometries(axialInstance('3'))).toHaveLength(3);
  });

  it('when NumberOfFrames is 3e8, then it is refused naming the limit, before anything is allocated per frame', () => {
    const refusal = (): unknown => frameGeometries(axialInstance(300_000_000));
    expect(refusal).toThrow(StudyLimitError);
    expect(refusal).toThrow(
      /300,000,000 frames in one instance, more than the limit of 100,000 \(MAX_FRAMES_PER_INSTANCE\)/,
    );
    expect(() => frameGeometries(axialInstance(5000), 2000)).toThrow(/limit of 2,000/);
  });

  it('when NumberOfFrames is not a positive integer, then it is refused as malformed metadata', () => {
    for (const bad of [0, -1, 2.5, 'abc', 1e300])
      expect(() => frameGeometries(axialInstance(bad)), String(bad)).toThrow(
        bad === 1e300 ? StudyLimitError : DicomMetadataError,
      );
  });

  it('when the pipeline reads an instance claiming 3e8 frames on a 64 MiB heap, then it skips the instance instead of dying (before: the worker ran out of memory)', async () => {
    const outcome = await runInBoundedWorker(
      new URL('../pipeline/analyze-images.ts', import.meta.url),
      'axialSlicesOf',
      [[axialInstance(300_000_000)]],
      { heapMb: 64 },
    );
    expect(outcome).toMatchObject({
      kind: 'returned',
      value: { slices: [], warning: expect.stringMatching(/MAX_FRAMES_PER_INSTANCE/) as unknown },
    });
  });
});
