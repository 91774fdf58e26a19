/**
 * The box refiner (manifest `refinement`): on held-out realistic synthetic studies, the bundled model's reported
 * boxes fit the ground truth better with the zoomed second pass than without it, and nothing else changes; a
 * manifest that names a refiner file that is not there fails to load with the file's name.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { readPart10 } from '../dicom/part10';
import { createDetectorSession, ModelLoadError, type DetectorSession } from '../inference/detector-session';
import type { Findings } from '../inference/findings';
import { iou } from '../inference/yolo';
import { analyzeImages } from './analyze-images';
import { part10StudySource } from './folder-source';

const MODEL_DIR = 'models/msu-ldh/1.3.0';
// Seeds no training or evaluation set uses; 1.5 T at the matrices the model was trained on.
const STUDIES = [
  { seed: 971000, matrix: 256 },
  { seed: 971001, matrix: 320 },
  { seed: 971002, matrix: 384 },
  { seed: 971003, matrix: 448 },
  { seed: 971004, matrix: 256 },
  { seed: 971005, matrix: 320 },
] as const;

/**
 * The least mean-IoU gain the refiner must show on these studies: measured 0.720 → 0.823 (11 herniations) when
 * 1.3.0 was trained; half of that gain is required.
 */
const MIN_GAIN = 0.05;

let scratch: string;
let refined: DetectorSession;
let wholeSliceOnly: DetectorSession;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'ldh-refine-'));
  // The same model without its refiner: the manifest minus `refinement`, beside a copy of model.onnx.
  const manifest = JSON.parse(await readFile(path.join(MODEL_DIR, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  expect(manifest.refinement).toMatchObject({ file: 'refine.onnx' });
  delete manifest.refinement;
  await writeFile(path.join(scratch, 'manifest.json'), JSON.stringify(manifest));
  await copyFile(path.join(MODEL_DIR, 'model.onnx'), path.join(scratch, 'model.onnx'));
  [refined, wholeSliceOnly] = await Promise.all([
    createDetectorSession(MODEL_DIR, undefined, { executionProvider: 'cpu' }),
    createDetectorSession(scratch, undefined, { executionProvider: 'cpu' }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([refined.release?.(), wholeSliceOnly.release?.()]);
  await rm(scratch, { recursive: true, force: true });
});

interface TruthLevel {
  level: string;
  herniation: boolean;
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

describe('box refinement', () => {
  it('when the bundled model refines its boxes, then they fit the truth better and the findings are otherwise the same', async () => {
    const before: number[] = [];
    const after: number[] = [];
    for (const { seed, matrix } of STUDIES) {
      const study = generateSyntheticStudy({ seed, patientId: `refine-${seed}`, field: 1.5, snr: 'high', matrix });
      const source = part10StudySource(study.instances.map((instance) => readPart10(instance.part10)));
      const truth = study.groundTruth.levels as unknown as TruthLevel[];
      const plain = (await analyzeImages(source, study.studyInstanceUid, wholeSliceOnly)).findings;
      const sharp = (await analyzeImages(source, study.studyInstanceUid, refined)).findings;
      // Only the boxes move: the same levels, classes, key slices and confidences.
      const withoutBoxes = (f: Findings) =>
        f.levels.map((level) => Object.fromEntries(Object.entries(level).filter(([k]) => k !== 'box' && k !== 'side')));
      expect(withoutBoxes(sharp)).toEqual(withoutBoxes(plain));
      before.push(...keySliceIous(plain, truth));
      after.push(...keySliceIous(sharp, truth));
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(after.length).toBeGreaterThanOrEqual(8);
    expect(mean(after)).toBeGreaterThan(mean(before) + MIN_GAIN);
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
});
