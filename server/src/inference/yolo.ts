/**
 * Post-processing of an Ultralytics-YOLOv8-style detector output `[N, 4 + nc (+ 3·nk), A]` (docs/architecture.md
 * §The model contract): per anchor cx, cy, w, h in input pixels, then nc class scores (already sigmoid),
 * then optional keypoint triplets (x, y, visibility). Like Ultralytics' `non_max_suppression`, each anchor
 * keeps its best class, and NMS is class-aware (boxes of different classes never suppress each other).
 */
import type { PixelBox, PixelPoint } from '../findings/findings';

export interface Keypoint {
  point: PixelPoint;
  visibility: number;
}

export interface Detection {
  /** [x0, y0, x1, y1]. */
  box: PixelBox;
  score: number;
  classIndex: number;
  /** Every class score of the anchor, so post-processing can read multi-label outputs (spanning zones). */
  classScores: number[];
  keypoints: Keypoint[];
}

export interface YoloLayout {
  numClasses: number;
  numKeypoints: number;
}

export interface DecodeOptions {
  /** Anchors whose best class score is below this are dropped before NMS. */
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections?: number;
}

/** A box's area in pixels² (0 for a degenerate box). */
export function boxArea([x0, y0, x1, y1]: PixelBox): number {
  return Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
}

export function iou(a: PixelBox, b: PixelBox): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const intersection = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection;
  return union > 0 ? intersection / union : 0;
}

/** Greedy NMS per class: highest score first, drop same-class boxes overlapping a kept one by more than iouThreshold. */
export function nonMaxSuppression(detections: Detection[], iouThreshold: number, maxDetections = 300): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const candidate of sorted) {
    if (kept.length >= maxDetections) break;
    if (kept.every((k) => k.classIndex !== candidate.classIndex || iou(k.box, candidate.box) <= iouThreshold))
      kept.push(candidate);
  }
  return kept;
}

/**
 * Decodes one output tensor into detections per batch item (input-pixel coordinates).
 * @param dims the tensor's dims `[N, C, A]` with C = 4 + nc + 3·nk
 */
export function decodeYoloOutput(
  data: Float32Array,
  dims: readonly number[],
  layout: YoloLayout,
  options: DecodeOptions,
): Detection[][] {
  const [batch, channels, anchors] = dims as [number, number, number];
  const expected = 4 + layout.numClasses + 3 * layout.numKeypoints;
  if (dims.length !== 3 || channels !== expected) {
    throw new Error(
      `Model output has dims [${dims.join(', ')}], expected [N, ${expected}, A] (4 box + ${layout.numClasses} classes + ${layout.numKeypoints}×3 keypoints)`,
    );
  }
  const results: Detection[][] = [];
  const { numClasses, numKeypoints } = layout;
  for (let b = 0; b < batch; b++) {
    const base = b * channels * anchors;
    const candidates: Detection[] = [];
    for (let a = 0; a < anchors; a++) {
      // Best class first, without allocating: most anchors are background and are dropped here.
      let classIndex = 0;
      let score = -Infinity;
      for (let c = 0; c < numClasses; c++) {
        const s = data[base + (4 + c) * anchors + a] ?? 0;
        if (s > score) {
          score = s;
          classIndex = c;
        }
      }
      if (score < options.scoreThreshold) continue;
      const at = (channel: number): number => data[base + channel * anchors + a] ?? 0;
      const classScores = Array.from({ length: numClasses }, (_, c) => at(4 + c));
      const [cx, cy, w, h] = [at(0), at(1), at(2), at(3)];
      const keypoints: Keypoint[] = [];
      for (let k = 0; k < numKeypoints; k++) {
        const c = 4 + numClasses + 3 * k;
        keypoints.push({ point: [at(c), at(c + 1)], visibility: at(c + 2) });
      }
      candidates.push({
        box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
        score,
        classIndex,
        classScores,
        keypoints,
      });
    }
    results.push(nonMaxSuppression(candidates, options.iouThreshold, options.maxDetections));
  }
  return results;
}

/** Model-input pixels → source pixels (see PreprocessedSlice.scaleX/scaleY). */
export function scaleDetection(
  detection: Detection,
  scaleX: number,
  scaleY: number,
  originX = 0,
  originY = 0,
): Detection {
  const x = (v: number): number => originX + v * scaleX;
  const y = (v: number): number => originY + v * scaleY;
  const [x0, y0, x1, y1] = detection.box;
  return {
    ...detection,
    box: [x(x0), y(y0), x(x1), y(y1)],
    keypoints: detection.keypoints.map((k) => ({ ...k, point: [x(k.point[0]), y(k.point[1])] })),
  };
}
