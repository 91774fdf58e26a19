/**
 * The "tiny generated model": the fixed-weight phantom detector (phantom-detector.ts) written as
 * `<dir>/model.onnx` with its `manifest.json` (the model contract of server/src/inference/manifest.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelManifestInput } from '../../server/src/inference/manifest';
import type { MsuGrade } from '../../server/src/findings/findings';
import { PHANTOM_IMAGE_SIZE } from '../synthetic/anatomy';
import { buildPhantomDetectorOnnx, DETECTOR_INPUT, DETECTOR_OUTPUT, ZONES } from './phantom-detector';

export const TINY_MODEL_ID = 'msu-ldh-phantom';
export const TINY_MODEL_VERSION = '0.1.0';
/** Where `npm run build` puts it: models/msu-ldh-phantom/0.1.0/. */
export const TINY_MODEL_DIR = path.join(import.meta.dirname, '..', TINY_MODEL_ID, TINY_MODEL_VERSION);

const GRADES: MsuGrade[] = [1, 2, 3];

export const TINY_MODEL_MANIFEST: ModelManifestInput = {
  id: TINY_MODEL_ID,
  version: TINY_MODEL_VERSION,
  name: 'MSU LDH phantom detector — fixed weights written in code, not trained',
  intendedUse:
    'Pipeline demonstration and testing on ldh-cds synthetic phantom studies only; meaningless on real MRI. ' +
    'not for clinical use — synthetic-trained demo model',
  file: 'model.onnx',
  input: {
    name: DETECTOR_INPUT,
    shape: [-1, 1, PHANTOM_IMAGE_SIZE, PHANTOM_IMAGE_SIZE],
    dtype: 'float32',
    normalization: { method: 'percentile', lowPercentile: 1, highPercentile: 99 },
  },
  output: { name: DETECTOR_OUTPUT, layout: 'yolov8', numClasses: 9, numKeypoints: 0 },
  // Class index = (grade − 1) · 3 + zone index. A herniation spanning two zones scores in both zones' classes on
  // the same anchor: report AB / BC when adjacent zones pass the threshold together.
  classes: GRADES.flatMap((grade, g) =>
    ZONES.map((zone, z) => ({ index: g * 3 + z, name: `${grade}-${zone}`, grade, zone })),
  ),
  thresholds: { confidence: 0.5, iou: 0.45 },
  trainingData:
    'None. Fixed weights derived in code (models/tiny/phantom-detector.ts) from the synthetic phantom geometry ' +
    '(models/synthetic/anatomy.ts): intermediate-signal material behind the disc margin, graded by depth against ' +
    'the intra-facet line and zoned by lateral position. Detects only phantom herniations.',
};

/** Writes a file only when its bytes change, so repeated builds leave the tree (and mtimes) untouched. */
async function writeIfChanged(file: string, bytes: Uint8Array): Promise<boolean> {
  const existing = await readFile(file).catch(() => undefined);
  if (existing && Buffer.compare(existing, bytes) === 0) return false;
  await writeFile(file, bytes);
  return true;
}

/** JSON as Prettier would print it (arrays of numbers on one line), so `npm run format` and the build agree. */
function manifestToJson(manifest: ModelManifestInput): string {
  const text = JSON.stringify(manifest, null, 2).replace(
    /\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]/g,
    (_, items: string) => `[${items.split(/,\s*/).join(', ')}]`,
  );
  return `${text}\n`;
}

export interface BuiltModel {
  modelPath: string;
  manifestPath: string;
  /** Whether either file's content changed. */
  changed: boolean;
}

export async function buildTinyModel(dir: string = TINY_MODEL_DIR): Promise<BuiltModel> {
  await mkdir(dir, { recursive: true });
  const modelPath = path.join(dir, TINY_MODEL_MANIFEST.file ?? 'model.onnx');
  const manifestPath = path.join(dir, 'manifest.json');
  const modelChanged = await writeIfChanged(modelPath, buildPhantomDetectorOnnx(undefined, TINY_MODEL_VERSION));
  const manifestChanged = await writeIfChanged(manifestPath, Buffer.from(manifestToJson(TINY_MODEL_MANIFEST)));
  return { modelPath, manifestPath, changed: modelChanged || manifestChanged };
}
