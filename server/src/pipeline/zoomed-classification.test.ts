/**
 * The zoomed classification pass (manifest `classification`): the default model measures boxes with a refiner at
 * zoom 6, whose crop leaves much of the facet joints out, and adds the class opinion of a second network at zoom 4,
 * which keeps them in view, to the mean that gives grade and zone. The model as shipped, against the same model with
 * `classification` removed from its manifest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { generatedStudySource } from '../../../test/support/study-source';
import type { DetectorSession } from '../inference/detector-session';
import { iou } from '../inference/yolo';
import { analyzeImages } from './analyze-images';

const CLASSIFYING_MODEL = 'models/msu-ldh/1.8.0';

let models: ModelSessions<'withClassifier' | 'refinerOnly'>;

beforeAll(async () => {
  models = await openModelSessions('classification', {
    withClassifier: { model: CLASSIFYING_MODEL },
    refinerOnly: {
      model: CLASSIFYING_MODEL,
      edit: (manifest) => {
        expect(manifest.classification?.zoom).toBe(4);
        expect(manifest.refinement?.zoom).toBe(6);
        delete manifest.classification;
      },
    },
  });
}, 60_000);

afterAll(() => models.release());

describe('zoomed classification pass', () => {
  // Tuning-set studies (1.8.0's model card: 3 T, low SNR, 512²) with a herniation spanning two zones, which the
  // whole-slice and zoom-6 views alone read as a single zone. A search of 1.8.0 with and without `classification` over
  // 88 studies of the 3 T tuning sets (seeds 964000–964039, 964100–964139, 969000–969006 and 969023; 120 herniations)
  // found five levels where the zoom-4 view turned a wrong zone into the true one with the true grade (also 964111
  // L4-L5 and 964126 L5-S1), three where it corrected a grade or a zone of a wrong grade, and none it made worse.
  // 964000 and 964133 were chosen for 1.6.0 and still show it; 1.6.0's third, 969023 L3-L4, is read AB by 1.8.0 without
  // the zoom-4 view.
  it.each([
    { seed: 964037, level: 'L4-L5' },
    { seed: 964000, level: 'L4-L5' },
    { seed: 964133, level: 'L4-L5' },
  ])(
    'when a herniation spans two zones (seed $seed, $level), then the zoom-4 view joins the class scores and the finding gives the true zone, at the same box and confidence',
    async ({ seed, level }) => {
      const study = generateSyntheticStudy({ seed, patientId: `SYN-${seed}`, field: 3, snr: 'low', matrix: 512 });
      const source = generatedStudySource(study);
      const truth = study.groundTruth.levels.find((l) => l.level === level);
      if (!truth?.herniation) throw new Error(`seed ${seed} no longer has a herniation at ${level}`);

      const read = async (detector: DetectorSession) => {
        const found = (await analyzeImages(source, study.studyInstanceUid, detector)).findings.levels.find(
          (l) => l.level === level,
        );
        if (!found?.herniation) throw new Error(`${level} called normal`);
        return found;
      };
      const classified = await read(models.sessions.withClassifier);
      const refined = await read(models.sessions.refinerOnly);

      expect(classified.zone).toBe(truth.zone);
      expect(refined.zone).not.toBe(truth.zone);
      expect(classified.grade).toBe(truth.grade);
      // The pass changes the class only: the same key slice, box and presence score.
      expect(classified.keySlice).toEqual(refined.keySlice);
      expect(classified.box).toEqual(refined.box);
      expect(classified.confidence).toBeCloseTo(refined.confidence, 6);
      const truthBox = truth.herniationSlices?.find(
        (s) => s.sopInstanceUid === classified.keySlice.sopInstanceUid,
      )?.box;
      expect(truthBox && iou(classified.box, truthBox)).toBeGreaterThanOrEqual(0.5);
    },
    60_000,
  );
});
