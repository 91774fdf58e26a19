/**
 * One run of an ONNX network on n stacked single-channel inputs, its output decoded into detections per input (in
 * input pixels). Shared by the whole-slice detector and the zoomed passes. Native tensors are freed at once rather
 * than at the next GC, so RSS stays flat over many studies.
 */
import * as ort from 'onnxruntime-node';
import type { ModelManifest } from './manifest';
import type { InputSize } from './preprocess';
import { decodeYoloOutput, type Detection } from './yolo';

export type InferenceStage = 'preprocess' | 'inference' | 'postprocess';
/** Told the milliseconds each stage took. */
export type StageTimer = (stage: InferenceStage, ms: number) => void;

/** Scores below this are noise; 1 − best score still gives a normal level its confidence. */
export const DEFAULT_SCORE_FLOOR = 0.01;

/** What every run of a session's networks shares: the manifest and the batch. */
export interface RunContext {
  manifest: ModelManifest;
  /** The model's fixed batch size (every run is padded to it), or 0 for a dynamic batch. */
  fixedBatch: number;
  /** Inputs per run: the fixed batch, else the configured one. */
  batchSize: number;
}

export interface DecodedRun {
  /** Detections per input, in input pixels. */
  decoded: Detection[][];
  inferenceMs: number;
  postprocessMs: number;
}

export async function runAndDecode(
  model: ort.InferenceSession,
  manifest: ModelManifest,
  modelName: string,
  input: Float32Array,
  n: number,
  size: InputSize,
  scoreThreshold: number,
): Promise<DecodedRun> {
  let t = performance.now();
  const tensor = new ort.Tensor('float32', input, [n, 1, size.height, size.width]);
  let outputs: ort.InferenceSession.ReturnType | undefined;
  try {
    outputs = await model.run({ [manifest.input.name]: tensor });
    const inferenceMs = performance.now() - t;
    t = performance.now();
    const output = outputs[manifest.output.name];
    if (!output)
      throw new Error(`The ${modelName} has no output named "${manifest.output.name}" (manifest output.name)`);
    const decoded = decodeYoloOutput(
      output.data as Float32Array,
      output.dims,
      { numClasses: manifest.output.numClasses, numKeypoints: manifest.output.numKeypoints },
      { scoreThreshold, iouThreshold: manifest.thresholds.iou },
    );
    return { decoded, inferenceMs, postprocessMs: performance.now() - t };
  } finally {
    for (const value of Object.values(outputs ?? {})) value.dispose();
    tensor.dispose();
  }
}
