/**
 * Writes `manifest.json` beside a freshly exported `model.onnx` (docs/architecture.md §The model contract), from the
 * training facts `train.py` leaves in `training.json` — and, when the folder also holds the box refiner (`refine.onnx`
 * with `refine-training.json`, from `train.py --refine-zoom`), the manifest's `refinement`; with the verifier
 * (`verify.onnx` with `verify-training.json`, from `train.py --refine-zoom --negatives`), its `verification` and the
 * `corroboration` by neighbouring slices chosen with it; with a second refiner (`classify.onnx` with
 * `classify-training.json`), its `classification`. Validated against the pipeline's own schema, so a model that
 * would not load is caught here and not at a clinician's first Analyze.
 *
 *   tsx models/training/write-manifest.ts <modelDir> <version> [classifier|geometry] [largest|strongest] [augmented|centred]
 *
 * The third argument is the manifest's `classFrom` (default classifier): where the reported MSU class comes from. The
 * fourth is the key-slice rule: `largest` (default) writes `KEY_SLICE` as the manifest's `keySlice` beside a refiner,
 * `strongest` leaves it out (msu-ldh 1.7.0 and older). The fifth is how the refiner's crops are cut: `centred`
 * (default) leaves `views` out, `augmented` writes `REFINE_VIEWS` as its `views` (msu-ldh 1.9.0).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MsuClassSource } from '../../server/src/inference/geometry-check';
import { modelManifestSchema, type ModelManifest } from '../../server/src/inference/manifest';

interface TrainingFacts {
  /** The network's square input size (`train.py --size`); facts written before it was recorded were at 256. */
  size?: number;
  slices: number;
  studies?: number;
  epochs: number;
  seed: number;
  parameters: number;
  device: string;
  minutes: number;
}

interface RefinerFacts extends TrainingFacts {
  refineZoom: number;
  crops: number;
  /** Crops without a herniation (`train.py --negatives`), in a verifier's training. */
  negatives?: number;
  /** L1 box-loss weight of each edge x0, y0, x1, y1 (`train.py --edge-weights`), where not all 1. */
  edgeWeights?: number[];
}

/**
 * Candidate verification (manifest `verification`), chosen on tuning sets for msu-ldh 1.4.0's verifier (the History of
 * models/msu-ldh/1.8.0/MODEL_CARD.md; earlier versions' cards are in git history).
 */
export const VERIFICATION = { candidateScore: 0.05, weight: 0.7 } as const;

/**
 * Corroboration by neighbouring slices (manifest `corroboration`) for a model with the verifier, and the presence
 * threshold on the corroborated score, by the detector's input size: chosen on the tuning sets for msu-ldh 1.4.1 (256²)
 * and 1.5.0 (384²), see the History of models/msu-ldh/1.8.0/MODEL_CARD.md. A detector at another size needs its own,
 * chosen the same way. Without the verifier the manifest keeps 1.3.0's rule (no corroboration, threshold 0.25): with the
 * refiner alone, corroboration lost as many internal herniations on the held-out sets as it found (msu-ldh 1.4.1).
 */
export const CORROBORATION = { rule: { slices: 1, iou: 0.2 }, confidence: { 256: 0.44, 384: 0.5 } } as const;

/**
 * The key-slice rule (manifest `keySlice`) beside a refiner: the strongest detection and the same place (IoU ≥ 0.2, as
 * for corroboration) on the slice either side scoring at least 0.8 of it, the largest refined box reported. Chosen for
 * msu-ldh 1.8.0 on its tuning sets among shares 0.7/0.8/0.9, one or two slices, and box area or depth
 * (models/msu-ldh/1.8.0/MODEL_CARD.md).
 */
export const KEY_SLICE = { slices: 1, iou: 0.2, minScoreShare: 0.8 } as const;

/** Where the reported herniation's slice comes from: its largest (KEY_SLICE) or its strongest detection. */
export type KeySliceChoice = 'largest' | 'strongest';

/**
 * The refiner's test-time views (manifest `refinement.views`): the centred crop and four cut 0.15 of the box off
 * centre, each also mirrored, their boxes averaged. Inside refine_crops.py's training jitter (0.25 of the box).
 * Chosen for msu-ldh 1.9.0 on its tuning sets among shifts, zooms and both; not the default, as it was no more
 * accurate on held-out sets at 20 % lower throughput (History of models/msu-ldh/1.8.0/MODEL_CARD.md).
 */
export const REFINE_VIEWS: readonly { shift: [number, number]; zoom: number }[] = [
  { shift: [0, 0], zoom: 1 },
  { shift: [0.15, 0], zoom: 1 },
  { shift: [-0.15, 0], zoom: 1 },
  { shift: [0, 0.15], zoom: 1 },
  { shift: [0, -0.15], zoom: 1 },
];

/** How the refiner's crops are cut: one centred crop (default), or REFINE_VIEWS (msu-ldh 1.9.0). */
export type RefineViewsChoice = 'augmented' | 'centred';

/** train.py's input size before its facts recorded one (msu-ldh 1.0.0–1.4.1). */
const LEGACY_SIZE = 256;

const GRADES = [1, 2, 3] as const;
const ZONES = ['A', 'B', 'C'] as const;

function corroboratedThreshold(detectorSize: number): number {
  const thresholds: Partial<Record<number, number>> = CORROBORATION.confidence;
  const threshold = thresholds[detectorSize];
  if (threshold === undefined)
    throw new Error(
      `No presence threshold has been chosen for a ${detectorSize}² detector with the verifier: choose one on the ` +
        `tuning sets, as for msu-ldh 1.5.0 (models/msu-ldh/1.8.0/MODEL_CARD.md, History), and add it to ` +
        `CORROBORATION.confidence in write-manifest.ts`,
    );
  return threshold;
}

/** The zoomed networks trained beside the detector, by the facts each left (absent: not trained). */
export interface ZoomedPasses {
  refiner?: RefinerFacts;
  verifier?: RefinerFacts;
  classifier?: RefinerFacts;
}

export function buildManifest(
  version: string,
  facts: TrainingFacts,
  { refiner, verifier, classifier }: ZoomedPasses = {},
  classFrom: MsuClassSource = 'classifier',
  keySlice: KeySliceChoice = 'largest',
  refineViews: RefineViewsChoice = 'centred',
): ModelManifest {
  const corroboration = verifier ? CORROBORATION : undefined;
  const detectorSize = facts.size ?? LEGACY_SIZE;
  // A zoomed pass runs at the size it was trained at; the manifest names it only where it differs from the detector's.
  const passSize = (pass: RefinerFacts): { size?: [number, number] } => {
    const size = pass.size ?? LEGACY_SIZE;
    return size === detectorSize ? {} : { size: [size, size] };
  };
  return modelManifestSchema.parse({
    id: 'msu-ldh',
    version,
    name: `MSU lumbar disc herniation detector ${version} (synthetic-trained)`,
    intendedUse:
      'Demonstration and pipeline testing: grades (MSU 1/2/3) and localizes (zone A/B/C/AB/BC) lumbar disc herniation ' +
      'on axial T2 MRI. not for clinical use — synthetic-trained demo model. Sites replace it with their own validated model.',
    file: 'model.onnx',
    input: {
      name: 'images',
      shape: [-1, 1, detectorSize, detectorSize],
      dtype: 'float32',
      normalization: { method: 'percentile', lowPercentile: 1, highPercentile: 99 },
    },
    output: { name: 'output0', layout: 'yolov8', numClasses: 9, numKeypoints: 2 },
    // Index = (grade − 1)·3 + zone; spanning herniations score both adjacent zones of their grade (read as AB/BC).
    classes: GRADES.flatMap((grade, g) =>
      ZONES.map((zone, z) => ({ index: g * 3 + z, name: `${grade}-${zone}`, grade, zone })),
    ),
    // Focal-loss training leaves positives' scores lower than plain BCE: 0.25 is where internal-set sensitivity and
    // specificity balance for the detector alone (measured with npm run eval for msu-ldh 1.0.0).
    // spanning: chosen on tuning sets (seeds 960000–969029) for the scores the pipeline reads — the whole-slice
    // pass's (0.75), or with the refiner's averaged in (0.6, msu-ldh 1.3.0).
    thresholds: {
      confidence: corroboration ? corroboratedThreshold(detectorSize) : 0.25,
      iou: 0.45,
      spanning: refiner ? 0.6 : 0.75,
    },
    trainingData:
      `Synthetic axial T2 lumbar studies from models/synthetic (${facts.studies ?? '?'} studies, ${facts.slices} slices), ` +
      `seed ${facts.seed}; ${facts.epochs} epochs on ${facts.device} in ${facts.minutes} min; ` +
      `${(facts.parameters / 1e6).toFixed(2)} M parameters.` +
      (refiner
        ? ` Box refiner: ${refiner.crops} herniation crops` +
          (refiner.studies !== undefined && refiner.studies !== facts.studies ? ` of ${refiner.studies} studies` : '') +
          ` at zoom ${refiner.refineZoom}` +
          (refiner.edgeWeights ? `, box-edge loss weights ${refiner.edgeWeights.join('/')}` : '') +
          `, ${refiner.epochs} epochs on ${refiner.device} in ${refiner.minutes} min.`
        : '') +
      (verifier
        ? ` Verifier: ${verifier.crops - (verifier.negatives ?? 0)} herniation crops and ${verifier.negatives ?? 0} ` +
          `without one at zoom ${verifier.refineZoom}, ${verifier.epochs} epochs on ${verifier.device} in ${verifier.minutes} min.`
        : '') +
      (classifier
        ? ` Zoomed classifier: ${classifier.crops} herniation crops at zoom ${classifier.refineZoom}, ` +
          `${classifier.epochs} epochs on ${classifier.device} in ${classifier.minutes} min.`
        : '') +
      ' No patient data.',
    // The refiner is trained on randomly mirrored crops (refine_crops.py), so averaging with the mirrored view is
    // sound; its class scores, averaged with the whole-slice pass's, classify better than either alone (msu-ldh 1.3.0).
    ...(refiner
      ? {
          refinement: {
            file: 'refine.onnx',
            zoom: refiner.refineZoom,
            mirror: true,
            ...passSize(refiner),
            classes: 'average',
            ...(refineViews === 'augmented' ? { views: [...REFINE_VIEWS] } : {}),
          },
        }
      : {}),
    // The verifier is trained on randomly mirrored crops too.
    ...(verifier
      ? {
          verification: {
            file: 'verify.onnx',
            zoom: verifier.refineZoom,
            mirror: true,
            ...passSize(verifier),
            ...VERIFICATION,
          },
        }
      : {}),
    // The classifier is the refiner's network at a lower zoom, its class scores averaged with the others.
    ...(classifier
      ? {
          classification: {
            file: 'classify.onnx',
            zoom: classifier.refineZoom,
            mirror: true,
            ...passSize(classifier),
          },
        }
      : {}),
    classFrom,
    ...(corroboration ? { corroboration: corroboration.rule } : {}),
    // Without a refiner a neighbour's box would be the whole-slice pass's, too coarse to say which slice is largest.
    ...(refiner && keySlice === 'largest' ? { keySlice: KEY_SLICE } : {}),
  });
}

/** The facts train.py left in a model folder: `training.json`, and `<network>-training.json` beside each zoomed network. */
export async function readTrainingFacts(modelDir: string): Promise<{ facts: TrainingFacts; passes: ZoomedPasses }> {
  const facts = JSON.parse(await readFile(path.join(modelDir, 'training.json'), 'utf8')) as TrainingFacts;
  const zoomedFacts = async (network: string): Promise<RefinerFacts | undefined> => {
    const file = path.join(modelDir, `${network}-training.json`);
    return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as RefinerFacts) : undefined;
  };
  const passes: ZoomedPasses = {};
  const [refiner, verifier, classifier] = await Promise.all(['refine', 'verify', 'classify'].map(zoomedFacts));
  if (refiner) passes.refiner = refiner;
  if (verifier) passes.verifier = verifier;
  if (classifier) passes.classifier = classifier;
  return { facts, passes };
}

async function main(): Promise<void> {
  const [modelDir, version, classFrom = 'classifier', keySlice = 'largest', refineViews = 'centred'] =
    process.argv.slice(2);
  if (
    !modelDir ||
    !version ||
    (classFrom !== 'classifier' && classFrom !== 'geometry') ||
    (keySlice !== 'largest' && keySlice !== 'strongest') ||
    (refineViews !== 'augmented' && refineViews !== 'centred')
  )
    throw new Error(
      'usage: tsx models/training/write-manifest.ts <modelDir> <version> [classifier|geometry] [largest|strongest] [augmented|centred]',
    );
  const { facts, passes } = await readTrainingFacts(modelDir);
  const manifest = buildManifest(version, facts, passes, classFrom, keySlice, refineViews);
  await writeFile(path.join(modelDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`wrote ${path.join(modelDir, 'manifest.json')}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
