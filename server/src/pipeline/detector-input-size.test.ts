/**
 * msu-ldh 1.5.0 runs its whole-slice detector at 384² input beside a refiner and verifier trained on 256² crops
 * (manifest `size`). The larger input is what finds thin herniations: the one here, 4 × 11 px on a 384² matrix, is
 * 2–3 px at 256², and msu-ldh 1.4.1 (the same refiner, verifier and corroboration beside the 256² detector) calls
 * its level normal. Held-out set E of the model cards, study SYN-929014 (1.5 T, SNR high, 384²).
 */
import { describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { generatedStudySource } from '../../../test/support/study-source';
import { createDetectorSession } from '../inference/detector-session';
import { iou } from '../inference/yolo';
import { analyzeImages } from './analyze-images';

const SEED = 929014;
const LEVEL = 'L4-L5';

describe('the whole-slice detector at 384² with its zoomed passes at 256²', () => {
  it('when a herniation is a few pixels wide, then 1.5.0 finds it and 1.4.1 (256² detector) calls the level normal', async () => {
    const study = generateSyntheticStudy({
      seed: SEED,
      patientId: `SYN-${SEED}`,
      field: 1.5,
      snr: 'high',
      matrix: 384,
    });
    const source = generatedStudySource(study);
    const truth = study.groundTruth.levels.find((level) => level.level === LEVEL);
    if (!truth?.herniation) throw new Error(`seed ${SEED} no longer has a herniation at ${LEVEL}`);
    const options = { executionProvider: 'cpu' } as const;

    const detector384 = await createDetectorSession('models/msu-ldh/1.5.0', undefined, options);
    try {
      expect(detector384.manifest.input.shape.slice(2)).toEqual([384, 384]);
      expect(detector384.manifest.verification?.size).toEqual([256, 256]);
      const { findings } = await analyzeImages(source, study.studyInstanceUid, detector384);
      const found = findings.levels.find((level) => level.level === LEVEL);
      if (!found?.herniation) throw new Error(`${LEVEL} called normal by the 384² detector`);
      const truthBox = truth.herniationSlices?.find((s) => s.sopInstanceUid === found.keySlice.sopInstanceUid)?.box;
      expect(truthBox && iou(found.box, truthBox)).toBeGreaterThanOrEqual(0.5);
    } finally {
      await detector384.release?.();
    }

    const detector256 = await createDetectorSession('models/msu-ldh/1.4.1', undefined, options);
    try {
      const { findings } = await analyzeImages(source, study.studyInstanceUid, detector256);
      expect(findings.levels.find((level) => level.level === LEVEL)?.herniation).toBe(false);
    } finally {
      await detector256.release?.();
    }
  }, 60_000);
});
