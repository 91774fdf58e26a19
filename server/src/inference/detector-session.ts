/**
 * One onnxruntime-node InferenceSession per model, created once and reused for every analysis (session
 * creation costs far more than a run). Slices are batched; a fixed-batch model gets its last batch padded.
 */
import * as ort from 'onnxruntime-node';
import { loadModelManifest, type ModelManifest } from './manifest';
import { preprocessSlice, type GrayImage } from './preprocess';
import { decodeYoloOutput, scaleDetection, type Detection } from './yolo';

export interface DetectorSession {
  manifest: ModelManifest;
  executionProvider: string;
  /** Detections per image in source-pixel coordinates, down to `scoreFloor` (so normal levels get a confidence). */
  detect(images: GrayImage[], scoreFloor?: number): Promise<Detection[][]>;
}

export type InferenceLog = (message: string, fields: Record<string, unknown>) => void;

const DEFAULT_BATCH = 16;
/** Scores below this are noise; 1 − best score still gives a normal level its confidence. */
export const DEFAULT_SCORE_FLOOR = 0.01;

export async function createDetectorSession(
  modelDir: string,
  log: InferenceLog = () => undefined,
): Promise<DetectorSession> {
  const { manifest, modelPath } = await loadModelManifest(modelDir);
  // CPU for now; later issues try webgpu / cuda first and fall back.
  const executionProvider = 'cpu';
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: [executionProvider] }).catch(
    (error: unknown) => {
      throw new Error(`Cannot load the ONNX model ${modelPath}: ${(error as Error).message}`);
    },
  );
  log('model loaded', {
    model: manifest.id,
    version: manifest.version,
    executionProvider,
    inputs: session.inputNames,
    outputs: session.outputNames,
  });
  const [fixedBatch, , height, width] = manifest.input.shape;
  const batchSize = fixedBatch > 0 ? fixedBatch : DEFAULT_BATCH;

  return {
    manifest,
    executionProvider,
    async detect(images, scoreFloor = DEFAULT_SCORE_FLOOR) {
      const results: Detection[][] = [];
      for (let start = 0; start < images.length; start += batchSize) {
        const batch = images.slice(start, start + batchSize).map((image) => preprocessSlice(image, manifest));
        const n = fixedBatch > 0 ? fixedBatch : batch.length;
        const input = new Float32Array(n * width * height);
        batch.forEach((slice, i) => {
          input.set(slice.data, i * width * height);
        });
        const outputs = await session.run({
          [manifest.input.name]: new ort.Tensor('float32', input, [n, 1, height, width]),
        });
        const output = outputs[manifest.output.name];
        if (!output) throw new Error(`The model has no output named "${manifest.output.name}" (manifest output.name)`);
        const decoded = decodeYoloOutput(
          output.data as Float32Array,
          output.dims,
          { numClasses: manifest.output.numClasses, numKeypoints: manifest.output.numKeypoints },
          { scoreThreshold: scoreFloor, iouThreshold: manifest.thresholds.iou },
        );
        batch.forEach((slice, i) => {
          results.push((decoded[i] ?? []).map((detection) => scaleDetection(detection, slice.scaleX, slice.scaleY)));
        });
      }
      return results;
    },
  };
}

const sessions = new Map<string, Promise<DetectorSession>>();

/** The shared session for `modelDir`; a failed load is forgotten so the next call retries. */
export function getDetectorSession(modelDir: string, log?: InferenceLog): Promise<DetectorSession> {
  let session = sessions.get(modelDir);
  if (!session) {
    session = createDetectorSession(modelDir, log);
    sessions.set(modelDir, session);
    session.catch(() => sessions.delete(modelDir));
  }
  return session;
}
