/**
 * Corroboration (manifest `corroboration`): the same place on another slice of the level adds its evidence to the
 * strongest detection's, so a faint herniation seen on several slices clears a threshold set high enough to drop
 * single-slice false calls. The default model as shipped, against the same model with `corroboration` removed from its
 * manifest (the same networks, verification and threshold).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { generatedStudySource } from '../../../test/support/study-source';
import { iou } from '../inference/yolo';
import { analyzeImages } from './analyze-images';

const CORROBORATING_MODEL = 'models/msu-ldh/1.8.0';

let models: ModelSessions<'corroborated' | 'alone'>;

beforeAll(async () => {
  models = await openModelSessions('corroboration', {
    corroborated: { model: CORROBORATING_MODEL },
    alone: {
      model: CORROBORATING_MODEL,
      edit: (manifest) => {
        expect(manifest.corroboration).toBeDefined();
        delete manifest.corroboration;
      },
    },
  });
}, 60_000);

afterAll(() => models.release());

describe('corroboration by neighbouring slices', () => {
  // Tuning-set studies (`tune4ext` of 1.8.0's model card: 3 T, low SNR, 512²) with a faint herniation found only with
  // corroboration. Chosen for msu-ldh 1.4.1 (threshold 0.44); they still show it with 1.8.0: its strongest verified
  // slice alone scores 0.33, 0.36 and 0.49 there, under the 0.5 threshold, and corroborated 0.51, 0.58 and 0.70. A search
  // of 1.8.0 with and without corroboration over 88 studies of the 3 T tuning sets (seeds 964000–964039, 964100–964139,
  // 969000–969006 and 969023; 120 herniations, 320 normal levels) found seven such levels (also 964010 L4-L5, 964020
  // L4-L5, 964037 L3-L4 and 964138 L5-S1) and one normal level that corroboration called herniated (964129 L5-S1).
  it.each([
    { seed: 964107, level: 'L4-L5' },
    { seed: 964115, level: 'L5-S1' },
    { seed: 964134, level: 'L5-S1' },
  ])(
    'when a faint herniation shows on two slices (seed $seed, $level), then it is called only with corroboration, at the same threshold',
    async ({ seed, level }) => {
      const study = generateSyntheticStudy({
        seed,
        patientId: `SYN-${seed}`,
        field: 3,
        snr: 'low',
        matrix: 512,
      });
      const source = generatedStudySource(study);
      const truth = study.groundTruth.levels.find((l) => l.level === level);
      if (!truth?.herniation) throw new Error(`seed ${seed} no longer has a herniation at ${level}`);

      const { corroborated, alone } = models.sessions;
      const withSupport = (await analyzeImages(source, study.studyInstanceUid, corroborated)).findings;
      const found = withSupport.levels.find((l) => l.level === level);
      if (!found?.herniation) throw new Error(`${level} called normal with corroboration`);
      const truthBox = truth.herniationSlices?.find((s) => s.sopInstanceUid === found.keySlice.sopInstanceUid)?.box;
      expect(truthBox && iou(found.box, truthBox)).toBeGreaterThanOrEqual(0.5);
      expect(found.confidence).toBeGreaterThanOrEqual(corroborated.manifest.thresholds.confidence);

      const withoutSupport = (await analyzeImages(source, study.studyInstanceUid, alone)).findings;
      const single = withoutSupport.levels.find((l) => l.level === level);
      expect(single?.herniation).toBe(false);
      // The same strongest detection, scored alone: its score is below the threshold and below the corroborated one.
      expect(1 - (single?.confidence ?? 1)).toBeLessThan(found.confidence);
    },
    60_000,
  );
});
