/**
 * The refinement pass (manifest `refinement`) on held-out realistic synthetic studies, with the bundled model:
 * its boxes fit the ground truth better than the whole-slice pass's, and with `classes: "average"` more
 * herniations get their true MSU class; a manifest that names a refiner file that is not there fails to load.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { modelVariant } from '../../../test/support/model-variant';
import { generatedStudySource } from '../../../test/support/study-source';
import { createDetectorSession, ModelLoadError, type DetectorSession } from '../inference/detector-session';
import type { Findings, LevelFinding } from '../findings/findings';
import { iou } from '../inference/yolo';
import { analyzeImages } from './analyze-images';

const MODEL_DIR = 'models/msu-ldh/1.3.0';
// Seeds no training, tuning or evaluation set uses: 1.5 T at the matrices the model was trained on, and the
// external-set acquisition it was not trained on (3 T, low SNR, 512²).
interface StudyPlan {
  seed: number;
  field: 1.5 | 3;
  snr: 'high' | 'low';
  matrix: number;
}
const internal = (matrix: number, i: number): StudyPlan => ({ seed: 971000 + i, field: 1.5, snr: 'high', matrix });
const external = (i: number): StudyPlan => ({ seed: 972000 + i, field: 3, snr: 'low', matrix: 512 });
const STUDIES = [
  ...[256, 320, 384, 448, 256, 320, 384, 448].map(internal),
  ...Array.from({ length: 8 }, (_, i) => external(i)),
];

/**
 * Measured when 1.3.0 was trained, on these studies (21 herniations): key-slice mean IoU 0.727 without the refiner,
 * 0.836 with it; the true MSU class for 17 with the whole-slice scores, 19 with the averaged ones. Half the IoU gain
 * is required, and more true classes.
 */
const MIN_IOU_GAIN = 0.05;
/** Single views cut elsewhere than the centred crop (manifest `views`): a quarter of the box off, and 1.25× closer. */
const OFF_CENTRE = { shift: [0.25, 0.25] as [number, number] };
const MAGNIFIED = { zoom: 1.25 };

let models: ModelSessions<'averaged' | 'boxOnly' | 'wholeSlice' | 'offCentre' | 'magnified'>;

beforeAll(async () => {
  models = await openModelSessions('refine', {
    averaged: { model: MODEL_DIR },
    boxOnly: {
      model: MODEL_DIR,
      edit: (manifest) => {
        expect(manifest.refinement).toMatchObject({ file: 'refine.onnx', classes: 'average' });
        if (manifest.refinement) manifest.refinement.classes = 'keep';
      },
    },
    wholeSlice: {
      model: MODEL_DIR,
      edit: (manifest) => {
        delete manifest.refinement;
      },
    },
    offCentre: {
      model: MODEL_DIR,
      edit: (manifest) => {
        if (manifest.refinement) manifest.refinement = { ...manifest.refinement, classes: 'keep', views: [OFF_CENTRE] };
      },
    },
    magnified: {
      model: MODEL_DIR,
      edit: (manifest) => {
        if (manifest.refinement) manifest.refinement = { ...manifest.refinement, classes: 'keep', views: [MAGNIFIED] };
      },
    },
  });
}, 60_000);

afterAll(() => models.release());

interface TruthLevel {
  level: string;
  herniation: boolean;
  grade?: number;
  zone?: string;
  herniationSlices?: { sopInstanceUid: string; box: [number, number, number, number] }[];
}

/** IoU of each reported box with the truth box on the same slice (levels where both exist). */
function keySliceIous(findings: Findings, truth: TruthLevel[]): number[] {
  return findings.levels.flatMap((finding) => {
    const truthBox = truth
      .find((t) => t.level === finding.level)
      ?.herniationSlices?.find((s) => s.sopInstanceUid === finding.keySlice?.sopInstanceUid)?.box;
    return finding.herniation && truthBox ? [iou(finding.box, truthBox)] : [];
  });
}

const trueClasses = (findings: Findings, truth: TruthLevel[]): number =>
  findings.levels.filter((finding) => {
    const t = truth.find((level) => level.level === finding.level);
    return finding.herniation && t?.herniation && finding.grade === t.grade && finding.zone === t.zone;
  }).length;

const withoutBoxes = (levels: LevelFinding[]) =>
  levels.map((level) => Object.fromEntries(Object.entries(level).filter(([k]) => k !== 'box' && k !== 'side')));

describe('refinement pass', () => {
  it('when the bundled model refines its boxes, then they fit the truth better; averaged class scores find more true classes', async () => {
    const ious = { before: [] as number[], after: [] as number[] };
    const correct = { wholeSlice: 0, averaged: 0 };
    for (const { seed, field, snr, matrix } of STUDIES) {
      const study = generateSyntheticStudy({ seed, patientId: `refine-${seed}`, field, snr, matrix });
      const source = generatedStudySource(study);
      const truth = study.groundTruth.levels as unknown as TruthLevel[];
      const analyze = async (session: DetectorSession) =>
        (await analyzeImages(source, study.studyInstanceUid, session)).findings;
      const [wholeSlice, boxOnly, averaged] = [
        await analyze(models.sessions.wholeSlice),
        await analyze(models.sessions.boxOnly),
        await analyze(models.sessions.averaged),
      ];
      // `keep` moves only the boxes; `average` moves only the boxes and the classes: the same levels are called
      // herniated, on the same key slices, with the same confidences.
      expect(withoutBoxes(boxOnly.levels)).toEqual(withoutBoxes(wholeSlice.levels));
      expect(averaged.levels.map((l) => [l.level, l.herniation, l.keySlice, l.confidence])).toEqual(
        wholeSlice.levels.map((l) => [l.level, l.herniation, l.keySlice, l.confidence]),
      );
      expect(averaged.levels.map((l) => (l.herniation ? l.box : null))).toEqual(
        boxOnly.levels.map((l) => (l.herniation ? l.box : null)),
      );
      ious.before.push(...keySliceIous(wholeSlice, truth));
      ious.after.push(...keySliceIous(boxOnly, truth));
      correct.wholeSlice += trueClasses(wholeSlice, truth);
      correct.averaged += trueClasses(averaged, truth);
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(ious.after.length).toBeGreaterThanOrEqual(18);
    expect(mean(ious.after)).toBeGreaterThan(mean(ious.before) + MIN_IOU_GAIN);
    expect(correct.averaged).toBeGreaterThan(correct.wholeSlice);
  }, 180_000);

  it('when the refiner sees a crop cut off-centre or closer (views), then its box is mapped back to the slice where the centred crop puts it', async () => {
    const agreement = { offCentre: [] as number[], magnified: [] as number[], unmapped: [] as number[] };
    for (const { seed, field, snr, matrix } of STUDIES.slice(0, 8)) {
      const study = generateSyntheticStudy({ seed, patientId: `refine-${seed}`, field, snr, matrix });
      const source = generatedStudySource(study);
      const boxes = async (session: DetectorSession) =>
        (await analyzeImages(source, study.studyInstanceUid, session)).findings.levels.flatMap((level) =>
          level.herniation ? [level.box] : [],
        );
      const [centred, offCentre, magnified] = [
        await boxes(models.sessions.boxOnly),
        await boxes(models.sessions.offCentre),
        await boxes(models.sessions.magnified),
      ];
      expect([offCentre.length, magnified.length]).toEqual([centred.length, centred.length]);
      centred.forEach((box, i) => {
        agreement.offCentre.push(iou(box, offCentre[i] ?? box));
        agreement.magnified.push(iou(box, magnified[i] ?? box));
        // What a view read in the centred crop's frame would give: the box moved by the shift.
        const [dx, dy] = [OFF_CENTRE.shift[0] * (box[2] - box[0]), OFF_CENTRE.shift[1] * (box[3] - box[1])];
        agreement.unmapped.push(iou(box, [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy]));
      });
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(agreement.offCentre.length).toBeGreaterThanOrEqual(8);
    // Measured: 0.96 and 0.95 over 14 herniations; a box left in the shifted view's frame would agree 0.39.
    expect(mean(agreement.unmapped)).toBeLessThan(0.5);
    expect(mean(agreement.offCentre)).toBeGreaterThan(0.85);
    expect(mean(agreement.magnified)).toBeGreaterThan(0.85);
  }, 120_000);

  it('when the manifest names a refiner file that is missing, then loading fails and names it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ldh-refine-missing-'));
    try {
      await copyFile(path.join(MODEL_DIR, 'manifest.json'), path.join(dir, 'manifest.json'));
      await copyFile(path.join(MODEL_DIR, 'model.onnx'), path.join(dir, 'model.onnx'));
      const loading = createDetectorSession(dir, undefined, { executionProvider: 'cpu' });
      await expect(loading).rejects.toThrow(ModelLoadError);
      await expect(loading).rejects.toThrow(/refine\.onnx/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('when the manifest gives a network another input size or name than it has, then loading fails naming the field', async () => {
    const options = { executionProvider: 'cpu' } as const;
    const refinerAt384 = await modelVariant(MODEL_DIR, path.join(models.scratch, 'refiner-384'), (manifest) => {
      if (manifest.refinement) manifest.refinement.size = [384, 384];
    });
    await expect(createDetectorSession(refinerAt384, undefined, options)).rejects.toThrow(
      /refine\.onnx takes 256×256 input, but the manifest gives it 384×384 \(refinement\.size\)/,
    );
    const detectorAt384 = await modelVariant(MODEL_DIR, path.join(models.scratch, 'detector-384'), (manifest) => {
      manifest.input.shape = [-1, 1, 384, 384];
    });
    // The refiner, trained at 256², keeps its size when the detector's changes only if the manifest says so.
    await expect(createDetectorSession(detectorAt384, undefined, options)).rejects.toThrow(
      /model\.onnx takes 256×256 input, but the manifest gives it 384×384 \(input\.shape\)/,
    );
    const classifierAt384 = await modelVariant(MODEL_DIR, path.join(models.scratch, 'classifier-384'), (manifest) => {
      manifest.classification = { file: 'refine.onnx', zoom: 4, mirror: true, size: [384, 384] };
    });
    await expect(createDetectorSession(classifierAt384, undefined, options)).rejects.toThrow(
      /refine\.onnx takes 256×256 input, but the manifest gives it 384×384 \(classification\.size\)/,
    );
    const renamed = await modelVariant(MODEL_DIR, path.join(models.scratch, 'renamed'), (manifest) => {
      manifest.input.name = 'pixels';
    });
    await expect(createDetectorSession(renamed, undefined, options)).rejects.toThrow(
      /model\.onnx has no input named "pixels" \(manifest input\.name\); its inputs: images/,
    );
  });
});
