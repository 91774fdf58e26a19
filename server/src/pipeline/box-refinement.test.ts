/**
 * The refinement pass (manifest `refinement`) on held-out realistic synthetic studies, with the default model's
 * networks: its boxes fit the ground truth better than the whole-slice pass's, and with `classes: "average"` more
 * herniations get their true MSU class; a manifest that names a refiner file that is not there, or gives a network
 * another input than it has, fails to load.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { modelVariant } from '../../../test/support/model-variant';
import { generatedStudySource } from '../../../test/support/study-source';
import { createDetectorSession, ModelLoadError } from '../inference/detector-session';
import type { Findings, LevelFinding } from '../findings/findings';
import type { ModelManifestInput } from '../inference/manifest';
import { iou } from '../inference/yolo';
import { analyzeImages } from './analyze-images';

const MODEL_DIR = 'models/msu-ldh/1.8.0';
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

/** Generating a study costs more than analyzing it: each is generated once for the tests that read it. */
const generated = new Map<number, ReturnType<typeof generateSyntheticStudy>>();
function studyOf({ seed, field, snr, matrix }: StudyPlan): ReturnType<typeof generateSyntheticStudy> {
  const study =
    generated.get(seed) ?? generateSyntheticStudy({ seed, patientId: `refine-${seed}`, field, snr, matrix });
  generated.set(seed, study);
  return study;
}

/**
 * Measured with 1.8.0's networks on these studies (22 herniations): key-slice mean IoU 0.814 without the refiner, 0.883
 * with it; the true MSU class for 17 with the whole-slice scores, 20 with the averaged ones. (msu-ldh 1.3.0, a 256²
 * detector with a zoom-4 refiner, measured 0.727 → 0.836 and 17 → 19; it is in git history.) Half the IoU gain is
 * required, and more true classes.
 */
const MIN_IOU_GAIN = 0.035;
/** Single views cut elsewhere than the centred crop (manifest `views`): a quarter of the box off, and 1.25× closer. */
const OFF_CENTRE = { shift: [0.25, 0.25] as [number, number] };
const MAGNIFIED = { zoom: 1.25 };

type Variant = 'averaged' | 'boxOnly' | 'wholeSlice' | 'offCentre' | 'magnified';
let models: ModelSessions<Variant>;

/** Each variant's findings on a study, computed once: the tests below read the centred refiner's on the same studies. */
const analyzed = new Map<string, Promise<Findings>>();
function findingsOf(variant: Variant, plan: StudyPlan): Promise<Findings> {
  const key = `${variant} ${plan.seed}`;
  let findings = analyzed.get(key);
  if (!findings) {
    const study = studyOf(plan);
    findings = analyzeImages(generatedStudySource(study), study.studyInstanceUid, models.sessions[variant]).then(
      (result) => result.findings,
    );
    analyzed.set(key, findings);
  }
  return findings;
}

/**
 * The default model with the refiner as the only pass that measures boxes and classes: the key-slice rule (which
 * compares refined boxes across slices) and the zoomed classifier (which joins the class mean) are left out, so the
 * refiner's own effect is what the variants below differ by. Verification and corroboration stay: presence is the
 * default model's.
 */
const refinerOnly =
  (edit: (refinement: NonNullable<ModelManifestInput['refinement']>) => void = () => undefined) =>
  (manifest: ModelManifestInput): void => {
    expect(manifest.refinement).toMatchObject({ file: 'refine.onnx', zoom: 6, classes: 'average' });
    delete manifest.keySlice;
    delete manifest.classification;
    if (manifest.refinement) edit(manifest.refinement);
  };

beforeAll(async () => {
  models = await openModelSessions('refine', {
    averaged: { model: MODEL_DIR, edit: refinerOnly() },
    boxOnly: {
      model: MODEL_DIR,
      edit: refinerOnly((refinement) => {
        refinement.classes = 'keep';
      }),
    },
    wholeSlice: {
      model: MODEL_DIR,
      edit: (manifest) => {
        refinerOnly()(manifest);
        delete manifest.refinement;
      },
    },
    offCentre: {
      model: MODEL_DIR,
      edit: refinerOnly((refinement) => {
        Object.assign(refinement, { classes: 'keep', views: [OFF_CENTRE] });
      }),
    },
    magnified: {
      model: MODEL_DIR,
      edit: refinerOnly((refinement) => {
        Object.assign(refinement, { classes: 'keep', views: [MAGNIFIED] });
      }),
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
    for (const plan of STUDIES) {
      const truth = studyOf(plan).groundTruth.levels as unknown as TruthLevel[];
      const [wholeSlice, boxOnly, averaged] = [
        await findingsOf('wholeSlice', plan),
        await findingsOf('boxOnly', plan),
        await findingsOf('averaged', plan),
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
    console.log(
      `refinement: ${ious.after.length} herniations, IoU ${mean(ious.before).toFixed(3)} → ${mean(ious.after).toFixed(3)}, ` +
        `true classes ${correct.wholeSlice} → ${correct.averaged}`,
    );
    expect(ious.after.length).toBeGreaterThanOrEqual(18);
    expect(mean(ious.after)).toBeGreaterThan(mean(ious.before) + MIN_IOU_GAIN);
    expect(correct.averaged).toBeGreaterThan(correct.wholeSlice);
  }, 400_000);

  it('when the refiner sees a crop cut off-centre or closer (views), then its box is mapped back to the slice where the centred crop puts it', async () => {
    const agreement = { offCentre: [] as number[], magnified: [] as number[], unmapped: [] as number[] };
    for (const plan of STUDIES.slice(0, 8)) {
      const boxes = async (variant: Variant) =>
        (await findingsOf(variant, plan)).levels.flatMap((level) => (level.herniation ? [level.box] : []));
      const [centred, offCentre, magnified] = [
        await boxes('boxOnly'),
        await boxes('offCentre'),
        await boxes('magnified'),
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
    console.log(
      `views: ${agreement.offCentre.length} herniations, agreement off-centre ${mean(agreement.offCentre).toFixed(3)}, ` +
        `magnified ${mean(agreement.magnified).toFixed(3)}, unmapped ${mean(agreement.unmapped).toFixed(3)}`,
    );
    // Measured with 1.8.0's refiner: 0.96 and 0.95 over 14 herniations; a box left in the shifted view's frame would
    // agree 0.39.
    expect(mean(agreement.unmapped)).toBeLessThan(0.5);
    expect(mean(agreement.offCentre)).toBeGreaterThan(0.85);
    expect(mean(agreement.magnified)).toBeGreaterThan(0.85);
  }, 300_000);

  it('when the manifest names a refiner file that is missing, then loading fails and names it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ldh-refine-missing-'));
    try {
      // Every file of the model but the refiner.
      for (const file of ['manifest.json', 'model.onnx', 'verify.onnx', 'classify.onnx'])
        await copyFile(path.join(MODEL_DIR, file), path.join(dir, file));
      const loading = createDetectorSession(dir, undefined, { executionProvider: 'cpu' });
      await expect(loading).rejects.toThrow(ModelLoadError);
      await expect(loading).rejects.toThrow(/refine\.onnx/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('when the manifest gives a network another input size or name than it has, then loading fails naming the field', async () => {
    const options = { executionProvider: 'cpu' } as const;
    const refused = async (name: string, edit: (manifest: ModelManifestInput) => void, message: RegExp) => {
      const dir = await modelVariant(MODEL_DIR, path.join(models.scratch, name), edit);
      await expect(createDetectorSession(dir, undefined, options)).rejects.toThrow(message);
    };
    await refused(
      'refiner-384',
      (manifest) => {
        if (manifest.refinement) manifest.refinement.size = [384, 384];
      },
      /refine\.onnx takes 256×256 input, but the manifest gives it 384×384 \(refinement\.size\)/,
    );
    // A zoomed pass without its own size runs at the detector's: the 256² refiner beside the 384² detector must say so.
    await refused(
      'refiner-at-detector-size',
      (manifest) => {
        delete manifest.refinement?.size;
      },
      /refine\.onnx takes 256×256 input, but the manifest gives it 384×384 \(refinement\.size\)/,
    );
    await refused(
      'detector-256',
      (manifest) => {
        manifest.input.shape = [-1, 1, 256, 256];
      },
      /model\.onnx takes 384×384 input, but the manifest gives it 256×256 \(input\.shape\)/,
    );
    await refused(
      'classifier-384',
      (manifest) => {
        if (manifest.classification) manifest.classification.size = [384, 384];
      },
      /classify\.onnx takes 256×256 input, but the manifest gives it 384×384 \(classification\.size\)/,
    );
    await refused(
      'verifier-320',
      (manifest) => {
        if (manifest.verification) manifest.verification.size = [320, 320];
      },
      /verify\.onnx takes 256×256 input, but the manifest gives it 320×320 \(verification\.size\)/,
    );
    await refused(
      'renamed',
      (manifest) => {
        manifest.input.name = 'pixels';
      },
      /model\.onnx has no input named "pixels" \(manifest input\.name\); its inputs: images/,
    );
  }, 120_000);
});
