/**
 * One onnxruntime-node InferenceSession per model and execution provider, created once and reused for every
 * analysis (session creation costs far more than a run). Slices are batched across analyses (batch-queue.ts): one
 * queue per session, each run takes up to a batch of whatever is waiting; a fixed-batch model gets its last batch
 * padded. The manifest's zoomed passes run on crops around the boxes (zoomed-pass.ts). The provider comes from
 * config (`auto` | `cpu` | `webgpu` | `cuda`); one log line names it and why (execution-provider.ts).
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createBatchQueue } from './batch-queue';
import {
  explainProviderChoice,
  gpuHostFacts,
  providerCandidates,
  type ExecutionProvider,
  type ExecutionProviderSetting,
} from './execution-provider';
import { loadModelManifest, type ModelManifest } from './manifest';
import { DEFAULT_SCORE_FLOOR, runAndDecode, type RunContext, type StageTimer } from './model-run';
import { preprocessSlice, zoomedPassSize, type GrayImage, type InputSize } from './preprocess';
import { scaleDetection, type Detection } from './yolo';
import { runZoomedPass, type RefineRequest, type ZoomedNetwork } from './zoomed-pass';

export type { InferenceStage } from './model-run';
export type { RefineRequest } from './zoomed-pass';

export interface DetectOptions {
  /** Detections down to this score are kept (so normal levels get a confidence). */
  scoreFloor?: number;
  /** Called with the milliseconds each stage took: preprocessing per call, a run's time shared by its slices. */
  onStage?: StageTimer;
  /** Called once per slice as its run finishes (how far a large submission has got). */
  onSliceDetected?: () => void;
  /** Aborted: slices still waiting for a run are dropped and `detect` rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface DetectorSession {
  manifest: ModelManifest;
  /** Which exact model build runs (manifest and networks): `sha256:<hex>`, see manifest.ts `LoadedManifest`. */
  digest: string;
  executionProvider: ExecutionProvider;
  batchSize?: number;
  /** Detections per image in source-pixel coordinates. */
  detect(images: GrayImage[], options?: DetectOptions): Promise<Detection[][]>;
  /**
   * Present when the manifest names a refinement model: the refiner's detection of each requested box on a zoomed
   * crop of its image, in source pixels, or undefined where it found nothing that overlaps the box (keep the box).
   */
  refine?(requests: RefineRequest[], options?: Pick<DetectOptions, 'onStage'>): Promise<(Detection | undefined)[]>;
  /**
   * Present when the manifest names a verification model: its detection of each requested box on a zoomed crop
   * (manifest `verification`), whose score is the zoomed view's opinion of the candidate.
   */
  verify?(requests: RefineRequest[], options?: Pick<DetectOptions, 'onStage'>): Promise<(Detection | undefined)[]>;
  /**
   * Present when the manifest names a classification model: its detection of each requested box on a zoomed crop
   * (manifest `classification`), whose class scores are the zoomed view's opinion of the herniation's class.
   */
  classify?(requests: RefineRequest[], options?: Pick<DetectOptions, 'onStage'>): Promise<(Detection | undefined)[]>;
  /** Runs so far and the slices they held (slices / runs = how full the batches were). */
  stats?(): { runs: number; slices: number };
  release?(): Promise<void>;
}

/** The manifest's zoomed passes, each exposed as the DetectorSession method of the same row. */
const ZOOMED_PASSES = [
  { field: 'refinement', method: 'refine', name: 'refinement model' },
  { field: 'verification', method: 'verify', name: 'verification model' },
  { field: 'classification', method: 'classify', name: 'classification model' },
] as const;

type ZoomedMethod = (typeof ZOOMED_PASSES)[number]['method'];

export interface DetectorOptions {
  executionProvider?: ExecutionProviderSetting;
  /** Slices per run for dynamic-batch models (default 16). */
  batchSize?: number;
  /** CPU threads for one run (default: onnxruntime's choice, all cores). */
  intraOpNumThreads?: number;
  /** Slices that may wait for a run, from all analyses together (default unbounded); beyond, BatchQueueFullError. */
  queueDepth?: number;
}

export type InferenceLog = (message: string, fields: Record<string, unknown>) => void;

const DEFAULT_BATCH = 16;

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

async function createSession(
  modelPath: string,
  options: DetectorOptions,
): Promise<{ session: ort.InferenceSession; executionProvider: ExecutionProvider; failures: string[] }> {
  const setting = options.executionProvider ?? 'auto';
  const failures: string[] = [];
  for (const provider of providerCandidates(setting)) {
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: [provider],
        ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      });
      return { session, executionProvider: provider, failures };
    } catch (error) {
      const reason = ((error as Error).message.split('\n')[0] ?? '').slice(0, 200);
      failures.push(`${provider}: ${reason}`);
      if (setting !== 'auto') break;
    }
  }
  throw new ModelLoadError(`Cannot load the ONNX model ${modelPath} (${failures.join('; ')})`);
}

/**
 * Refuses, at load, a network whose input the manifest misdescribes: a wrong `input.name`, or a fixed height/width
 * other than the one the pipeline will feed (`input.shape`, or a zoomed pass's `size`). Caught here, the site's
 * integration engineer reads which file and which manifest field disagree, instead of a clinician's first Analyze
 * failing inside onnxruntime.
 */
function checkInput(
  session: ort.InferenceSession,
  file: string,
  manifest: ModelManifest,
  expected: InputSize,
  field: string,
): void {
  const input = session.inputMetadata.find((metadata) => metadata.name === manifest.input.name);
  if (!input)
    throw new ModelLoadError(
      `${file} has no input named "${manifest.input.name}" (manifest input.name); its inputs: ${session.inputNames.join(', ')}`,
    );
  if (!input.isTensor || input.shape.length !== 4) return;
  const [, , height, width] = input.shape;
  const fixed = (dimension: number | string | undefined): dimension is number => typeof dimension === 'number';
  if ((fixed(height) && height !== expected.height) || (fixed(width) && width !== expected.width))
    throw new ModelLoadError(
      `${file} takes ${String(height)}×${String(width)} input, but the manifest gives it ${expected.height}×${expected.width} ` +
        `(${field}); set ${field} to the size the network was trained at`,
    );
}

export async function createDetectorSession(
  modelDir: string,
  log: InferenceLog = () => undefined,
  options: DetectorOptions = {},
): Promise<DetectorSession> {
  const { manifest, modelPath, digest } = await loadModelManifest(modelDir);
  const requested = options.executionProvider ?? 'auto';
  const { session, executionProvider, failures } = await createSession(modelPath, options);
  // One line says which provider runs and why the faster ones did not (execution-provider.ts).
  log('model loaded', {
    model: manifest.id,
    version: manifest.version,
    executionProvider,
    requested,
    why: explainProviderChoice(requested, executionProvider, failures, gpuHostFacts()),
    inputs: session.inputNames,
    outputs: session.outputNames,
  });
  const [fixedBatch, , height, width] = manifest.input.shape;
  const batchSize = fixedBatch > 0 ? fixedBatch : (options.batchSize ?? DEFAULT_BATCH);
  // Each zoomed pass the manifest names is opened and checked in turn; if one fails, every network opened so far is
  // released.
  const zoomed: Partial<Record<ZoomedMethod, ZoomedNetwork>> = {};
  try {
    checkInput(session, manifest.file, manifest, { height, width }, 'input.shape');
    for (const { field, method, name } of ZOOMED_PASSES) {
      const pass = manifest[field];
      if (!pass) continue;
      const network = {
        pass,
        name,
        size: zoomedPassSize(manifest, pass),
        session: (await createSession(path.join(modelDir, pass.file), { ...options, executionProvider })).session,
      };
      zoomed[method] = network;
      checkInput(network.session, pass.file, manifest, network.size, `${field}.size`);
    }
  } catch (error) {
    await Promise.all([session.release(), ...Object.values(zoomed).map((network) => network.session.release())]);
    throw error;
  }

  const context: RunContext = { manifest, fixedBatch, batchSize };
  const queue = createBatchQueue(
    batchSize,
    (batch: QueuedSlice[]) => detectBatch(session, batch, context, { height, width }),
    options.queueDepth === undefined ? {} : { maxDepth: options.queueDepth },
  );
  const zoomedPass =
    (network: ZoomedNetwork): NonNullable<DetectorSession['refine']> =>
    (requests, { onStage } = {}) =>
      runZoomedPass(network, requests, context, onStage);

  return {
    manifest,
    digest,
    executionProvider,
    batchSize,
    stats: () => {
      const { runs, items } = queue.stats();
      return { runs, slices: items };
    },
    async detect(images, { scoreFloor = DEFAULT_SCORE_FLOOR, onStage, onSliceDetected, signal } = {}) {
      signal?.throwIfAborted();
      const start = performance.now();
      const slices = images.map((image): QueuedSlice => {
        const input = new Float32Array(width * height);
        const { scaleX, scaleY } = preprocessSlice(image, manifest, input);
        return {
          input,
          scaleX,
          scaleY,
          scoreFloor,
          ...(onStage ? { onStage } : {}),
          ...(onSliceDetected ? { onDetected: onSliceDetected } : {}),
        };
      });
      onStage?.('preprocess', performance.now() - start);
      return queue.submit(slices, signal ? { signal } : {});
    },
    ...(zoomed.refine ? { refine: zoomedPass(zoomed.refine) } : {}),
    ...(zoomed.verify ? { verify: zoomedPass(zoomed.verify) } : {}),
    ...(zoomed.classify ? { classify: zoomedPass(zoomed.classify) } : {}),
    release: async () => {
      await session.release();
      for (const network of Object.values(zoomed)) await network.session.release();
    },
  };
}

/** A preprocessed slice waiting for its run, with what maps its detections back to source pixels. */
interface QueuedSlice {
  input: Float32Array;
  scaleX: number;
  scaleY: number;
  scoreFloor: number;
  onStage?: StageTimer;
  onDetected?: () => void;
}

/**
 * One run of the whole-slice model on a batch of queued slices (a fixed batch padded with empty inputs): each
 * slice's detections down to its score floor, in source pixels; the run's time is shared by its slices.
 */
async function detectBatch(
  session: ort.InferenceSession,
  batch: readonly QueuedSlice[],
  { manifest, fixedBatch }: RunContext,
  size: InputSize,
): Promise<Detection[][]> {
  const plane = size.width * size.height;
  const n = fixedBatch > 0 ? fixedBatch : batch.length;
  const input = new Float32Array(n * plane);
  for (const [i, slice] of batch.entries()) input.set(slice.input, i * plane);
  const scoreFloor = Math.min(...batch.map((slice) => slice.scoreFloor));
  const { decoded, inferenceMs, postprocessMs } = await runAndDecode(
    session,
    manifest,
    'model',
    input,
    n,
    size,
    scoreFloor,
  );
  return batch.map((slice, i) => {
    slice.onStage?.('inference', inferenceMs / batch.length);
    slice.onStage?.('postprocess', postprocessMs / batch.length);
    slice.onDetected?.();
    return (decoded[i] ?? [])
      .filter((detection) => detection.score >= slice.scoreFloor)
      .map((detection) => scaleDetection(detection, slice.scaleX, slice.scaleY));
  });
}

const sessions = new Map<string, Promise<DetectorSession>>();

/** The shared session for `modelDir` and provider; a failed load is forgotten so the next call retries. */
export function getDetectorSession(
  modelDir: string,
  log?: InferenceLog,
  options: DetectorOptions = {},
): Promise<DetectorSession> {
  const key = [
    modelDir,
    options.executionProvider ?? 'auto',
    options.batchSize ?? DEFAULT_BATCH,
    options.queueDepth ?? '',
  ]
    .map(String)
    .join('\u0000');
  let session = sessions.get(key);
  if (!session) {
    session = createDetectorSession(modelDir, log, options);
    sessions.set(key, session);
    session.catch(() => sessions.delete(key));
  }
  return session;
}
