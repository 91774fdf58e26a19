/**
 * One onnxruntime-node InferenceSession per model and execution provider, created once and reused for every
 * analysis (session creation costs far more than a run). Slices are batched across analyses: one queue per
 * session, each run takes up to a batch of whatever is waiting; a fixed-batch model gets its last batch padded. The provider comes from config (`auto` | `cpu` | `webgpu` | `cuda`) and is logged.
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { providerCandidates, type ExecutionProvider, type ExecutionProviderSetting } from './execution-provider';
import { loadModelManifest, type ModelManifest, type ZoomedPass } from './manifest';
import type { PixelBox, PixelPoint } from '../findings/findings';
import {
  preprocessCrop,
  preprocessSlice,
  sliceNormalizationRange,
  zoomedPassSize,
  type GrayImage,
  type InputSize,
  type PreprocessedCrop,
} from './preprocess';
import { decodeYoloOutput, iou, scaleDetection, type Detection } from './yolo';

export type InferenceStage = 'preprocess' | 'inference' | 'postprocess';

export interface DetectOptions {
  /** Detections down to this score are kept (so normal levels get a confidence). */
  scoreFloor?: number;
  /** Called with the milliseconds each stage took: preprocessing per call, a run's time shared by its slices. */
  onStage?: (stage: InferenceStage, ms: number) => void;
}

export interface DetectorSession {
  manifest: ModelManifest;
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

export interface RefineRequest {
  image: GrayImage;
  box: PixelBox;
}

/**
 * The refiner's box must overlap the whole-slice box by at least this IoU to replace it: the crop is centred on the
 * herniation, and a detection elsewhere in it (the other side of the canal) is not the same finding.
 */
const REFINED_MIN_IOU = 0.3;

/** The manifest's zoomed passes, each exposed as the DetectorSession method of the same row. */
const ZOOMED_PASSES = [
  { field: 'refinement', method: 'refine', name: 'refinement model' },
  { field: 'verification', method: 'verify', name: 'verification model' },
  { field: 'classification', method: 'classify', name: 'classification model' },
] as const;

type ZoomedMethod = (typeof ZOOMED_PASSES)[number]['method'];

/** A zoomed pass's network, opened and checked against the manifest. */
interface ZoomedNetwork {
  pass: ZoomedPass;
  name: string;
  size: InputSize;
  session: ort.InferenceSession;
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
        session: (await createSession(path.join(modelDir, pass.file), { ...options, executionProvider }, log)).session,
      };
      zoomed[method] = network;
      checkInput(network.session, pass.file, manifest, network.size, `${field}.size`);
    }
  } catch (error) {
    await Promise.all([session.release(), ...Object.values(zoomed).map((network) => network.session.release())]);
    throw error;
  }

  // One queue per session: slices of every analysis in flight wait here, and each run takes up to a batch of
  // them in arrival order, so concurrent studies fill each other's batches (a GPU's throughput depends on it) and
  // runs never compete for the same cores.
  const queue: QueuedSlice[] = [];
  let running = false;
  const stats = { runs: 0, slices: 0 };

  /**
   * One run of `model` on n stacked inputs, decoded into detections per input (input pixels). Native tensors are
   * freed at once rather than at the next GC, so RSS stays flat over many studies.
   */
  async function runAndDecode(
    model: ort.InferenceSession,
    modelName: string,
    input: Float32Array,
    n: number,
    scoreThreshold: number,
    size: InputSize = { height, width },
  ): Promise<{ decoded: Detection[][]; inferenceMs: number; postprocessMs: number }> {
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

  async function runBatch(batch: QueuedSlice[]): Promise<void> {
    const n = fixedBatch > 0 ? fixedBatch : batch.length;
    const input = new Float32Array(n * plane);
    for (const [i, slice] of batch.entries()) input.set(slice.input, i * plane);
    try {
      const scoreFloor = Math.min(...batch.map((slice) => slice.scoreFloor));
      const { decoded, inferenceMs, postprocessMs } = await runAndDecode(session, 'model', input, n, scoreFloor);
      stats.runs++;
      stats.slices += batch.length;
      batch.forEach((slice, i) => {
        slice.onStage?.('inference', inferenceMs / batch.length);
        slice.onStage?.('postprocess', postprocessMs / batch.length);
        slice.resolve(
          (decoded[i] ?? [])
            .filter((detection) => detection.score >= slice.scoreFloor)
            .map((detection) => scaleDetection(detection, slice.scaleX, slice.scaleY)),
        );
      });
    } catch (error) {
      for (const slice of batch) slice.reject(error);
    }
  }

  async function drain(): Promise<void> {
    if (running) return;
    running = true;
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, batchSize));
    } finally {
      running = false;
    }
  }

  return {
    manifest,
    executionProvider,
    batchSize,
    stats: () => ({ ...stats }),
    detect(images, { scoreFloor = DEFAULT_SCORE_FLOOR, onStage } = {}) {
      const start = performance.now();
      const pending = images.map(
        (image) =>
          new Promise<Detection[]>((resolve, reject) => {
            const input = new Float32Array(plane);
            const { scaleX, scaleY } = preprocessSlice(image, manifest, input);
            queue.push({ input, scaleX, scaleY, scoreFloor, resolve, reject, ...(onStage ? { onStage } : {}) });
          }),
      );
      onStage?.('preprocess', performance.now() - start);
      // Start on the next turn of the event loop, so that analyses arriving together share the first batch.
      setImmediate(() => void drain());
      return Promise.all(pending);
    },
    ...(zoomed.refine ? { refine: zoomedPass(zoomed.refine) } : {}),
    ...(zoomed.verify ? { verify: zoomedPass(zoomed.verify) } : {}),
    ...(zoomed.classify ? { classify: zoomedPass(zoomed.classify) } : {}),
    release: async () => {
      await session.release();
      for (const network of Object.values(zoomed)) await network.session.release();
    },
  };

  function zoomedPass(network: ZoomedNetwork): NonNullable<DetectorSession['refine']> {
    return (requests, { onStage } = {}) => refineBoxes(network, requests, onStage);
  }

  /** The detection of each requested box by a model run on zoomed crops around it (refiner, verifier or classifier). */
  async function refineBoxes(
    { session: cropModel, name: modelName, pass, size }: ZoomedNetwork,
    requests: RefineRequest[],
    onStage?: (stage: InferenceStage, ms: number) => void,
  ): Promise<(Detection | undefined)[]> {
    // Each request is cut as the pass's views (manifest `views`, default one centred crop), and with `mirror` each
    // view also runs left-right mirrored (test-time augmentation): the views' errors are partly independent, so
    // the mean of their boxes sits closer to the edges. A fixed batch smaller than the views runs the first ones.
    const cropPlane = size.width * size.height;
    const views = cropViews(pass).slice(0, fixedBatch > 0 ? fixedBatch : undefined);
    const perRun = Math.max(1, Math.floor(batchSize / views.length));
    const refined: (Detection | undefined)[] = [];
    for (let start = 0; start < requests.length; start += perRun) {
      const chunk = requests.slice(start, start + perRun);
      const t = performance.now();
      const n = fixedBatch > 0 ? fixedBatch : chunk.length * views.length;
      const input = new Float32Array(n * cropPlane);
      const crops = chunk.flatMap(({ image, box }, i) => {
        const [width, height] = [box[2] - box[0], box[3] - box[1]];
        const range = sliceNormalizationRange(image, manifest);
        const slot = (k: number): Float32Array =>
          input.subarray((i * views.length + k) * cropPlane, (i * views.length + k + 1) * cropPlane);
        let previous: PreprocessedCrop | undefined;
        return views.map(({ shift, zoom, mirrored }, k) => {
          const out = slot(k);
          // A mirrored view follows its unmirrored one (cropViews): the same crop, its rows reversed.
          if (mirrored && previous) {
            out.set(slot(k - 1));
            mirrorRowsInPlace(out, size.width);
            return { crop: previous, mirrored, box };
          }
          const centre: PixelPoint = [
            (box[0] + box[2]) / 2 + shift[0] * width,
            (box[1] + box[3]) / 2 + shift[1] * height,
          ];
          previous = preprocessCrop(image, centre, pass.zoom * zoom, manifest, size, out, range);
          return { crop: previous, mirrored, box };
        });
      });
      onStage?.('preprocess', performance.now() - t);
      const { decoded, inferenceMs, postprocessMs } = await runAndDecode(
        cropModel,
        modelName,
        input,
        n,
        DEFAULT_SCORE_FLOOR,
        size,
      );
      onStage?.('inference', inferenceMs);
      onStage?.('postprocess', postprocessMs);
      chunk.forEach((_, i) => {
        // Each view's best detection overlapping the requested box, in source pixels.
        const found = crops.slice(i * views.length, (i + 1) * views.length).flatMap(({ crop, mirrored, box }, k) => {
          let best: Detection | undefined;
          for (const raw of decoded[i * views.length + k] ?? []) {
            const inCrop = mirrored ? unmirror(raw, size.width) : raw;
            const detection = scaleDetection(inCrop, crop.scaleX, crop.scaleY, crop.originX, crop.originY);
            if (iou(detection.box, box) >= REFINED_MIN_IOU && (!best || detection.score > best.score)) best = detection;
          }
          return best ? [best] : [];
        });
        refined.push(found.length > 0 ? averageBoxes(found) : undefined);
      });
    }
    return refined;
  }
}

/**
 * A zoomed pass's crops of one box: its `views` (default one, centred), each followed by its mirror with `mirror`.
 */
function cropViews(pass: ZoomedPass): { shift: [number, number]; zoom: number; mirrored: boolean }[] {
  const views = pass.views ?? [{ shift: [0, 0] as [number, number], zoom: 1 }];
  return views.flatMap((view) => [{ ...view, mirrored: false }, ...(pass.mirror ? [{ ...view, mirrored: true }] : [])]);
}

/** Rows of a width-wide image, each reversed in place. */
function mirrorRowsInPlace(image: Float32Array, width: number): void {
  for (let row = 0; row < image.length; row += width) image.subarray(row, row + width).reverse();
}

/** A detection on the mirrored view, in the unmirrored view's pixels (x → width − x). */
function unmirror(detection: Detection, width: number): Detection {
  const [x0, y0, x1, y1] = detection.box;
  return {
    ...detection,
    box: [width - x1, y0, width - x0, y1],
    keypoints: detection.keypoints.map((k) => ({ ...k, point: [width - k.point[0], k.point[1]] })),
  };
}

/** The views' detections as one: box edges, score and class scores averaged (zones are mirror-symmetric). */
function averageBoxes(detections: Detection[]): Detection {
  const [first] = detections;
  if (!first) throw new Error('averageBoxes needs at least one detection');
  const mean = (pick: (d: Detection) => number): number =>
    detections.reduce((sum, d) => sum + pick(d), 0) / detections.length;
  const classScores = first.classScores.map((_, k) => mean((d) => d.classScores[k] ?? 0));
  return {
    ...first,
    box: [mean((d) => d.box[0]), mean((d) => d.box[1]), mean((d) => d.box[2]), mean((d) => d.box[3])],
    score: mean((d) => d.score),
    classScores,
    classIndex: classScores.indexOf(Math.max(...classScores)),
  };
}

interface QueuedSlice {
  input: Float32Array;
  scaleX: number;
  scaleY: number;
  scoreFloor: number;
  onStage?: (stage: InferenceStage, ms: number) => void;
  resolve(detections: Detection[]): void;
  reject(error: unknown): void;
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
