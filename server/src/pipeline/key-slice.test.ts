/**
 * The key-slice rule (manifest `keySlice`) on held-out realistic synthetic studies, with the bundled model: each
 * herniation is reported on the neighbouring slice where its refined box is largest — the slice MSU is read on
 * (docs/msu.md §Key slice) — and that is the ground truth's key slice (the slice with the most herniated pixels) far
 * more often than the slice of the strongest detection; presence, confidence, grade and zone do not move. A model
 * without the zoomed passes compares its whole-slice boxes, and still takes the class from its strongest detection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { generatedStudySource } from '../../../test/support/study-source';
import type { Findings } from '../findings/findings';
import type { ModelManifestInput } from '../inference/manifest';
import type { DetectorSession } from '../inference/detector-session';
import { boxArea } from '../inference/yolo';
import { analyzeImages } from './analyze-images';

const MODEL_DIR = 'models/msu-ldh/1.8.0';
// Seeds no training, tuning or evaluation set uses: 1.5 T at the four training matrices, and 3 T, low SNR, 512².
const STUDIES = [
  ...[256, 320, 384, 448, 256, 320, 384, 448].map((matrix, i) => ({
    seed: 976000 + i,
    field: 1.5 as const,
    snr: 'high' as const,
    matrix,
  })),
  ...[0, 1].map((i) => ({ seed: 977000 + i, field: 3 as const, snr: 'low' as const, matrix: 512 })),
];

/**
 * Measured when 1.8.0 was packaged, on these studies: of the 11 true herniations found, 8 were reported on the truth's key
 * slice with the strongest detection's slice and 11 with the largest box (3 moved). At least half that gain is required.
 */
const MIN_KEY_SLICE_GAIN = 2;

/** The first four studies: one herniation moves there (measured), enough to show whose class it carries. */
const PLAIN_STUDIES = 4;

let models: ModelSessions<'largest' | 'strongest' | 'plainLargest' | 'plainStrongest'>;

/** Without the zoomed passes that measure boxes and classes (a site's plain detector): whole-slice boxes compared. */
const withoutZoomedPasses = (manifest: ModelManifestInput): void => {
  delete manifest.refinement;
  delete manifest.classification;
};

beforeAll(async () => {
  models = await openModelSessions('key-slice', {
    largest: { model: MODEL_DIR },
    strongest: {
      model: MODEL_DIR,
      edit: (manifest) => {
        expect(manifest.keySlice).toMatchObject({ slices: 1 });
        delete manifest.keySlice;
      },
    },
    plainLargest: { model: MODEL_DIR, edit: withoutZoomedPasses },
    plainStrongest: {
      model: MODEL_DIR,
      edit: (manifest) => {
        withoutZoomedPasses(manifest);
        delete manifest.keySlice;
      },
    },
  });
}, 60_000);

afterAll(() => models.release());

interface TruthLevel {
  level: string;
  herniation: boolean;
  keySlice: { sopInstanceUid: string };
  sopInstanceUids: string[];
}

const herniated = (findings: Findings) =>
  new Map(findings.levels.flatMap((level) => (level.herniation ? [[level.level, level] as const] : [])));

/** Generating a study costs more than analyzing it: the second test reads the first four again. */
const generated = new Map<number, ReturnType<typeof generateSyntheticStudy>>();

/**
 * One study analyzed with and without the rule: presence and confidence must agree, and each herniated level of the
 * rule's run is returned beside the same level of the run without it.
 */
async function analyzeWithAndWithout(
  { seed, field, snr, matrix }: (typeof STUDIES)[number],
  withRule: DetectorSession,
  withoutRule: DetectorSession,
) {
  const study =
    generated.get(seed) ?? generateSyntheticStudy({ seed, patientId: `key-slice-${seed}`, field, snr, matrix });
  generated.set(seed, study);
  const source = generatedStudySource(study);
  const [largest, strongest] = [
    (await analyzeImages(source, study.studyInstanceUid, withRule)).findings,
    (await analyzeImages(source, study.studyInstanceUid, withoutRule)).findings,
  ];
  expect(largest.levels.map((l) => [l.level, l.herniation, l.confidence])).toEqual(
    strongest.levels.map((l) => [l.level, l.herniation, l.confidence]),
  );
  const strongestLevels = herniated(strongest);
  const levels = [...herniated(largest)].map(([level, reported]) => {
    const byScore = strongestLevels.get(level);
    if (!byScore) throw new Error(`${level} of study ${seed} is missing from the run without the rule`);
    return { level, reported, byScore };
  });
  return { truth: study.groundTruth.levels as unknown as TruthLevel[], levels };
}

describe('key-slice rule', () => {
  it('when a herniation is larger on a neighbouring slice, then that slice is reported, closer to the truth key slice; presence, confidence and class stay', async () => {
    const onTruthKeySlice = { largest: 0, strongest: 0, of: 0 };
    let moved = 0;
    for (const plan of STUDIES) {
      const { truth, levels } = await analyzeWithAndWithout(plan, models.sessions.largest, models.sessions.strongest);
      for (const { level, reported, byScore } of levels) {
        const truthLevel = truth.find((t) => t.level === level);
        if (!truthLevel) throw new Error(`${level} of study ${plan.seed} is missing from the truth`);
        if (reported.keySlice.sopInstanceUid === byScore.keySlice.sopInstanceUid) {
          expect(reported).toEqual(byScore);
        } else {
          moved++;
          expect(boxArea(reported.box)).toBeGreaterThan(boxArea(byScore.box));
          // The class is still read where the herniation scored highest.
          expect([reported.grade, reported.zone]).toEqual([byScore.grade, byScore.zone]);
          const order = truthLevel.sopInstanceUids;
          const distance = Math.abs(
            order.indexOf(reported.keySlice.sopInstanceUid) - order.indexOf(byScore.keySlice.sopInstanceUid),
          );
          expect(distance).toBe(1);
        }
        if (!truthLevel.herniation) continue;
        onTruthKeySlice.of++;
        if (reported.keySlice.sopInstanceUid === truthLevel.keySlice.sopInstanceUid) onTruthKeySlice.largest++;
        if (byScore.keySlice.sopInstanceUid === truthLevel.keySlice.sopInstanceUid) onTruthKeySlice.strongest++;
      }
    }
    console.log(`key slice = truth's: ${JSON.stringify(onTruthKeySlice)}, moved ${moved}`);
    expect(moved).toBeGreaterThan(0);
    expect(onTruthKeySlice.largest - onTruthKeySlice.strongest).toBeGreaterThanOrEqual(MIN_KEY_SLICE_GAIN);
  }, 300_000);

  it('when the model has no refiner, then whole-slice boxes are compared and the class still comes from the strongest detection', async () => {
    // Neighbouring slices are made to disagree on the class (1-A on even slices, 2-B on odd ones), so a finding that
    // moved shows whose class it carries.
    const alternatingClasses = (session: DetectorSession): DetectorSession => ({
      ...session,
      detect: async (images, options) =>
        (await session.detect(images, options)).map((detections, slice) =>
          detections.map((d) => {
            const classIndex = slice % 2 === 0 ? 0 : 4;
            return { ...d, classIndex, classScores: d.classScores.map((_, k) => (k === classIndex ? d.score : 0)) };
          }),
        ),
    });
    const plainLargest = alternatingClasses(models.sessions.plainLargest);
    const plainStrongest = alternatingClasses(models.sessions.plainStrongest);
    let moved = 0;
    for (const plan of STUDIES.slice(0, PLAIN_STUDIES)) {
      const { levels } = await analyzeWithAndWithout(plan, plainLargest, plainStrongest);
      for (const { reported, byScore } of levels) {
        if (reported.keySlice.sopInstanceUid === byScore.keySlice.sopInstanceUid) continue;
        moved++;
        expect(boxArea(reported.box)).toBeGreaterThan(boxArea(byScore.box));
        expect([reported.grade, reported.zone]).toEqual([byScore.grade, byScore.zone]);
      }
    }
    console.log(`without the zoomed passes: moved ${moved}`);
    expect(moved).toBeGreaterThan(0);
  }, 300_000);
});
