/**
 * One onnxruntime-node InferenceSession per model and execution provider, created once and reused for every
 * analysis (session creation costs far more than a run). Slices are batched; a fixed-batch model gets its last
 * batch padded. The provider comes from config (`auto` | `cpu` | `webgpu` | `cuda`) and is logged.
 */
import * as ort from 'onnxruntime-node';
import { providerCandidates, type ExecutionProvider, type ExecutionProviderSetting } from './execution-provider';
import { loadModelManifest, type ModelManifest } from './manifest';
import { preprocessSlice, type GrayImage } from './preprocess';
import { decodeYoloOutput, scaleDetection, type Detection } from './yolo';

export type InferenceStage = 'preprocess' | 'inference' | 'postprocess';

export interface DetectOptions {
  /** Detections down to this score are kept (so normal levels get a confidence). */
  scoreFloor?: number;
  /** Called with the milliseconds each stage took, per batch. */
  onStage?: (stage: InferenceStage, ms: number) => void;
}

export interface DetectorSession {
  manifest: ModelManifest;
  executionProvider: ExecutionProvider;
  batchSize?: number;
  /** Detections per image in source-pixel coordinates. */
  detect(images: GrayImage[], options?: DetectOptions): Promise<Detection[][]>;
  release?(): Promise<void>;
}

export interface DetectorOptions {
  executionProvider?: ExecutionProviderSetting;
  /** Slices per run for dynamic-batch models (default 16). */
  batchSize?: number;
  /** CPU threads for one run (default: onnxruntime's choice, all cores). */
  intraOpNumThreads?: number;
}

export type InferenceLog = (message: string, fields: Record<string, unknown>) => void;

const DEFAULT_BATCH = 16;
/** Scores below this are noise; 1 − best score still gives a normal level its confidence. */
export const DEFAULT_SCORE_FLOOR = 0.01;

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

async function createSession(
  modelPath: string,
  options: DetectorOptions,
  log: InferenceLog,
): Promise<{ session: ort.InferenceSession; executionProvider: ExecutionProvider }> {
  const setting = options.executionProvider ?? 'auto';
  const failures: string[] = [];
  for (const provider of providerCandidates(setting)) {
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: [provider],
        ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      });
      return { session, executionProvider: provider };
    } catch (error) {
      const reason = ((error as Error).message.split('\n')[0] ?? '').slice(0, 200);
      failures.push(`${provider}: ${reason}`);
      if (setting !== 'auto') break;
      log('execution provider unavailable, trying the next', { provider, reason });
    }
  }
  throw new ModelLoadError(`Cannot load the ONNX model ${modelPath} (${failures.join('; ')})`);
}

export async function createDetectorSession(
  modelDir: string,
  log: InferenceLog = () => undefined,
  options: DetectorOptions = {},
): Promise<DetectorSession> {
  const { manifest, modelPath } = await loadModelManifest(modelDir);
  const { session, executionProvider } = await createSession(modelPath, options, log);
  log('model loaded', {
    model: manifest.id,
    version: manifest.version,
    executionProvider,
    requested: options.executionProvider ?? 'auto',
    inputs: session.inputNames,
    outputs: session.outputNames,
  });
  const [fixedBatch, , height, width] = manifest.input.shape;
  const batchSize = fixedBatch > 0 ? fixedBatch : (options.batchSize ?? DEFAULT_BATCH);
  const plane = width * height;

  return {
    manifest,
    executionProvider,
    batchSize,
    async detect(images, { scoreFloor = DEFAULT_SCORE_FLOOR, onStage } = {}) {
      const results: Detection[][] = [];
      for (let start = 0; start < images.length; start += batchSize) {
        let t = performance.now();
        const lap = (stage: InferenceStage): void => {
          const now = performance.now();
          onStage?.(stage, now - t);
          t = now;
        };
        const batchImages = images.slice(start, start + batchSize);
        const n = fixedBatch > 0 ? fixedBatch : batchImages.length;
        const input = new Float32Array(n * plane);
        const scales = batchImages.map((image, i) => {
          const slice = preprocessSlice(image, manifest, input.subarray(i * plane, (i + 1) * plane));
          return { scaleX: slice.scaleX, scaleY: slice.scaleY };
        });
        lap('preprocess');
        const tensor = new ort.Tensor('float32', input, [n, 1, height, width]);
        const outputs = await session.run({ [manifest.input.name]: tensor });
        lap('inference');
        const output = outputs[manifest.output.name];
        if (!output) throw new Error(`The model has no output named "${manifest.output.name}" (manifest output.name)`);
        const decoded = decodeYoloOutput(
          output.data as Float32Array,
          output.dims,
          { numClasses: manifest.output.numClasses, numKeypoints: manifest.output.numKeypoints },
          { scoreThreshold: scoreFloor, iouThreshold: manifest.thresholds.iou },
        );
        scales.forEach((scale, i) => {
          results.push((decoded[i] ?? []).map((detection) => scaleDetection(detection, scale.scaleX, scale.scaleY)));
        });
        // Free native tensors now rather than at the next GC, so RSS stays flat over many studies.
        for (const value of Object.values(outputs)) value.dispose();
        tensor.dispose();
        lap('postprocess');
      }
      return results;
    },
    release: () => session.release(),
  };
}

const sessions = new Map<string, Promise<DetectorSession>>();

/** The shared session for `modelDir` and provider; a failed load is forgotten so the next call retries. */
export function getDetectorSession(
  modelDir: string,
  log?: InferenceLog,
  options: DetectorOptions = {},
): Promise<DetectorSession> {
  const key = `${modelDir}\u0000${options.executionProvider ?? 'auto'}\u0000${options.batchSize ?? DEFAULT_BATCH}`;
  let session = sessions.get(key);
  if (!session) {
    session = createDetectorSession(modelDir, log, options);
    sessions.set(key, session);
    session.catch(() => sessions.delete(key));
  }
  return session;
}
