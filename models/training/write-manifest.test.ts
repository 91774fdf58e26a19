/**
 * The committed manifest is what `write-manifest.ts` makes of the training facts beside it, so `npm run train`
 * reproduces it. Only the default model's folder ships; the rules that wrote the older manifests (1.3.0–1.9.0, kept in
 * git history: the History table of models/msu-ldh/1.8.0/MODEL_CARD.md) are checked from 1.8.0's facts, edited the way
 * those versions differed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../server/src/inference/manifest';
import { buildManifest, KEY_SLICE, readTrainingFacts, REFINE_VIEWS } from './write-manifest';

const DEFAULT_MODEL = path.resolve(import.meta.dirname, '../msu-ldh/1.8.0');

async function committedManifest(): Promise<ModelManifest> {
  return JSON.parse(await readFile(path.join(DEFAULT_MODEL, 'manifest.json'), 'utf8')) as ModelManifest;
}

/** As written to manifest.json: fields left undefined are gone. */
const asWritten = (manifest: ModelManifest): unknown => JSON.parse(JSON.stringify(manifest));

describe('write-manifest', () => {
  it('when msu-ldh 1.8.0 is rebuilt from its training facts at the defaults, then it is the committed manifest', async () => {
    const { facts, passes } = await readTrainingFacts(DEFAULT_MODEL);
    expect(asWritten(buildManifest('1.8.0', facts, passes))).toEqual(await committedManifest());
  });

  it('when the manifest is written at its defaults beside a refiner, then it carries the key-slice rule; without one, not', async () => {
    const { facts, passes } = await readTrainingFacts(DEFAULT_MODEL);
    expect(buildManifest('1.8.0', facts, passes).keySlice).toEqual(KEY_SLICE);
    // msu-ldh 1.7.0: the same networks, KEY_SLICE=strongest.
    expect(buildManifest('1.7.0', facts, passes, 'classifier', 'strongest').keySlice).toBeUndefined();
    expect(buildManifest('1.8.0', facts, { ...passes, refiner: undefined }).keySlice).toBeUndefined();
  });

  it('when the refiner views are augmented (msu-ldh 1.9.0), then the manifest is 1.8.0’s with REFINE_VIEWS on the refiner only', async () => {
    const { facts, passes } = await readTrainingFacts(DEFAULT_MODEL);
    expect(buildManifest('1.8.0', facts, passes).refinement?.views).toBeUndefined();
    const augmented = buildManifest('1.9.0', facts, passes, 'classifier', 'largest', 'augmented');
    const committed = await committedManifest();
    expect(asWritten(augmented)).toEqual({
      ...committed,
      version: '1.9.0',
      name: 'MSU lumbar disc herniation detector 1.9.0 (synthetic-trained)',
      refinement: { ...committed.refinement, views: REFINE_VIEWS },
    });
  });

  it('when the refiner saw more studies than the detector and weighted its edges, then trainingData says so; otherwise not', async () => {
    const { facts, passes } = await readTrainingFacts(DEFAULT_MODEL);
    expect(buildManifest('1.8.0', facts, passes).trainingData).toContain(
      'Box refiner: 3235 herniation crops of 800 studies at zoom 6, box-edge loss weights 1/1/1/2, 30 epochs',
    );
    if (!passes.refiner) throw new Error('1.8.0 has no refiner facts');
    // msu-ldh 1.6.0's zoom-6 refiner: the detector's 400 studies, equal edge weights, 60 epochs.
    const refiner = { ...passes.refiner, edgeWeights: undefined, studies: 400, crops: 1550, epochs: 60, minutes: 45.3 };
    expect(buildManifest('1.6.0', facts, { ...passes, refiner }).trainingData).toContain(
      'Box refiner: 1550 herniation crops at zoom 6, 60 epochs on cpu in 45.3 min.',
    );
  });

  it('when the detector’s facts record no input size (a 256² detector, msu-ldh 1.0.0–1.4.1), then no pass names a size and the verifier brings threshold 0.44', async () => {
    const { facts, passes } = await readTrainingFacts(DEFAULT_MODEL);
    // msu-ldh 1.4.1: the 256² detector of 1.2.0 (45.8 min), 1.3.0's zoom-4 refiner (1.8.0's classify.onnx, the same
    // file and facts) and 1.4.0's verifier (1.8.0's verify.onnx), written before training.json recorded a size.
    const detector256 = { ...facts, size: undefined, minutes: 45.8 };
    const manifest = buildManifest(
      '1.4.1',
      detector256,
      { refiner: passes.classifier, verifier: passes.verifier },
      'classifier',
      'strongest',
    );
    expect(manifest.input.shape).toEqual([-1, 1, 256, 256]);
    expect(manifest.thresholds).toEqual({ confidence: 0.44, iou: 0.45, spanning: 0.6 });
    expect(manifest.refinement).toEqual({ file: 'refine.onnx', zoom: 4, mirror: true, classes: 'average' });
    expect(manifest.verification).toEqual({
      file: 'verify.onnx',
      zoom: 4,
      mirror: true,
      candidateScore: 0.05,
      weight: 0.7,
    });
    expect(manifest.corroboration).toEqual({ slices: 1, iou: 0.2 });
    expect(manifest.trainingData).toBe(
      'Synthetic axial T2 lumbar studies from models/synthetic (400 studies, 8555 slices), seed 20241126; 12 epochs on ' +
        'cpu in 45.8 min; 1.15 M parameters. Box refiner: 1550 herniation crops at zoom 4, 60 epochs on cpu in 43.5 min. ' +
        'Verifier: 1550 herniation crops and 1550 without one at zoom 4, 30 epochs on cpu in 53.7 min. No patient data.',
    );
    // msu-ldh 1.3.0: no verifier, so no corroboration and the whole-slice threshold 0.25.
    const refinerOnly = buildManifest('1.3.0', detector256, { refiner: passes.classifier }, 'classifier', 'strongest');
    expect(refinerOnly.thresholds.confidence).toBe(0.25);
    expect(refinerOnly.corroboration).toBeUndefined();
    // The 384² detector beside the same 256² passes: each pass names its size, and the 384² threshold is 0.5.
    const detector384 = buildManifest('1.5.0', facts, { refiner: passes.classifier, verifier: passes.verifier });
    expect(detector384.refinement?.size).toEqual([256, 256]);
    expect(detector384.verification?.size).toEqual([256, 256]);
    expect(detector384.thresholds.confidence).toBe(0.5);
  });

  it('when the detector is at a size no threshold was chosen for, then writing the manifest beside a verifier fails and says where to add one', async () => {
    const { facts, passes } = await readTrainingFacts(DEFAULT_MODEL);
    expect(() => buildManifest('x', { ...facts, size: 320 }, passes)).toThrow(
      /320² detector .*CORROBORATION\.confidence/,
    );
  });
});
