/**
 * A zoomed pass (manifest `refinement`, `verification`, `classification`): a second network looks at each requested
 * box on crops cut around it, at the pass's zoom. Each request is cut as the pass's views (manifest `views`, default
 * one centred crop), and with `mirror` each view also runs left-right mirrored (test-time augmentation): the views'
 * errors are partly independent, so the mean of their boxes sits closer to the edges (zoomed-decision.ts).
 */
import type * as ort from 'onnxruntime-node';
import type { PixelBox, PixelPoint } from '../findings/findings';
import type { ModelManifest, ZoomedPass } from './manifest';
import { DEFAULT_SCORE_FLOOR, runAndDecode, type RunContext, type StageTimer } from './model-run';
import { combineViews } from './zoomed-decision';
import {
  preprocessCrop,
  sliceNormalizationRange,
  type GrayImage,
  type InputSize,
  type PreprocessedCrop,
} from './preprocess';
import { scaleDetection, type Detection } from './yolo';

/** A box on an image for a zoomed pass to look at. */
export interface RefineRequest {
  image: GrayImage;
  box: PixelBox;
}

/** A zoomed pass's network, opened and checked against the manifest. */
export interface ZoomedNetwork {
  pass: ZoomedPass;
  name: string;
  size: InputSize;
  session: ort.InferenceSession;
}

interface CropView {
  /** Centre shift in box widths and heights. */
  shift: [number, number];
  zoom: number;
  mirrored: boolean;
}

/** Where one view's crop lies in the source image, to map its detections back. */
interface CutView {
  crop: PreprocessedCrop;
  mirrored: boolean;
}

/**
 * The network's detection of each requested box, averaged over the pass's views, in source pixels; undefined where
 * no view found it. Requests run in chunks of as many as fit a batch with all their views; a fixed batch smaller
 * than the views runs the first ones.
 */
export async function runZoomedPass(
  network: ZoomedNetwork,
  requests: readonly RefineRequest[],
  context: RunContext,
  onStage?: StageTimer,
): Promise<(Detection | undefined)[]> {
  const { fixedBatch, batchSize } = context;
  const views = cropViews(network.pass).slice(0, fixedBatch > 0 ? fixedBatch : undefined);
  const perRun = Math.max(1, Math.floor(batchSize / views.length));
  const refined: (Detection | undefined)[] = [];
  for (let start = 0; start < requests.length; start += perRun) {
    const chunk = requests.slice(start, start + perRun);
    const t = performance.now();
    const n = fixedBatch > 0 ? fixedBatch : chunk.length * views.length;
    const input = new Float32Array(n * network.size.width * network.size.height);
    const cut = chunk.flatMap((request, i) => cutViews(request, views, i, input, network, context.manifest));
    onStage?.('preprocess', performance.now() - t);
    const { decoded, inferenceMs, postprocessMs } = await runAndDecode(
      network.session,
      context.manifest,
      network.name,
      input,
      n,
      network.size,
      DEFAULT_SCORE_FLOOR,
    );
    onStage?.('inference', inferenceMs);
    onStage?.('postprocess', postprocessMs);
    chunk.forEach(({ box }, i) => {
      const perView = cut
        .slice(i * views.length, (i + 1) * views.length)
        .map((view, k) => (decoded[i * views.length + k] ?? []).map((raw) => toSourcePixels(raw, view, network.size)));
      refined.push(combineViews(perView, box));
    });
  }
  return refined;
}

/** A zoomed pass's crops of one box: its `views` (default one, centred), each followed by its mirror with `mirror`. */
function cropViews(pass: ZoomedPass): CropView[] {
  const views = pass.views ?? [{ shift: [0, 0] as [number, number], zoom: 1 }];
  return views.flatMap((view) => [{ ...view, mirrored: false }, ...(pass.mirror ? [{ ...view, mirrored: true }] : [])]);
}

/** Cuts request `index`'s views into their slots of `input` (slot index × views + k). */
function cutViews(
  { image, box }: RefineRequest,
  views: readonly CropView[],
  index: number,
  input: Float32Array,
  { pass, size }: ZoomedNetwork,
  manifest: ModelManifest,
): CutView[] {
  const cropPlane = size.width * size.height;
  const [width, height] = [box[2] - box[0], box[3] - box[1]];
  const range = sliceNormalizationRange(image, manifest);
  const slot = (k: number): Float32Array =>
    input.subarray((index * views.length + k) * cropPlane, (index * views.length + k + 1) * cropPlane);
  let previous: PreprocessedCrop | undefined;
  return views.map(({ shift, zoom, mirrored }, k) => {
    const out = slot(k);
    // A mirrored view follows its unmirrored one (cropViews): the same crop, its rows reversed.
    if (mirrored && previous) {
      out.set(slot(k - 1));
      mirrorRowsInPlace(out, size.width);
      return { crop: previous, mirrored };
    }
    const centre: PixelPoint = [(box[0] + box[2]) / 2 + shift[0] * width, (box[1] + box[3]) / 2 + shift[1] * height];
    previous = preprocessCrop(image, centre, pass.zoom * zoom, manifest, size, out, range);
    return { crop: previous, mirrored };
  });
}

/** A detection on a view's crop, in source pixels. */
function toSourcePixels(raw: Detection, { crop, mirrored }: CutView, size: InputSize): Detection {
  const inCrop = mirrored ? unmirror(raw, size.width) : raw;
  return scaleDetection(inCrop, crop.scaleX, crop.scaleY, crop.originX, crop.originY);
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
