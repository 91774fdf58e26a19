/**
 * Box-level detection metrics as docs/msu.md §Detection defines them: a prediction matches a ground-truth
 * box of the same slice and level when IoU ≥ 0.5, greedily by descending score; mean IoU over matched pairs;
 * recall = matched ground-truth boxes / all ground-truth boxes. The rule names no label, and the paper's recall
 * (99.6 % beside 87 % sensitivity) can only be label-free, so that is the headline (`labelAware: false`). The eval
 * prints the stricter class-aware variant beside it (a grading box must also carry the true grade, a localization
 * box the true zone), as detection benchmarks such as COCO count matches.
 */
import type { PixelBox } from '../../server/src/findings/findings';
import { iou } from '../../server/src/inference/yolo';

export const MATCH_IOU = 0.5;

export interface TruthBox {
  /** study + level: one herniation. */
  key: string;
  label: string;
  /** The herniation's box on each slice where it shows (at least the key slice). */
  boxes: { sopInstanceUid: string; box: PixelBox }[];
}

export interface PredictedBox {
  key: string;
  label: string;
  sopInstanceUid: string;
  box: PixelBox;
  score: number;
}

export interface DetectionMatch {
  truthKey: string;
  iou: number;
}

export interface DetectionReport {
  truthCount: number;
  predictionCount: number;
  matches: DetectionMatch[];
}

export function matchDetections(
  truths: readonly TruthBox[],
  predictions: readonly PredictedBox[],
  { labelAware = false }: { labelAware?: boolean } = {},
): DetectionReport {
  const unmatched = new Map(truths.map((truth) => [truth.key, truth]));
  const matches: DetectionMatch[] = [];
  for (const prediction of [...predictions].sort((a, b) => b.score - a.score)) {
    const truth = unmatched.get(prediction.key);
    if (!truth || (labelAware && truth.label !== prediction.label)) continue;
    const onSlice = truth.boxes.find((candidate) => candidate.sopInstanceUid === prediction.sopInstanceUid);
    const overlap = onSlice ? iou(onSlice.box, prediction.box) : 0;
    if (overlap >= MATCH_IOU) {
      matches.push({ truthKey: truth.key, iou: overlap });
      unmatched.delete(truth.key);
    }
  }
  return { truthCount: truths.length, predictionCount: predictions.length, matches };
}

export function meanIou(report: DetectionReport): number {
  return report.matches.length === 0
    ? Number.NaN
    : report.matches.reduce((sum, match) => sum + match.iou, 0) / report.matches.length;
}

export function recall(report: DetectionReport): number {
  return report.truthCount === 0 ? Number.NaN : report.matches.length / report.truthCount;
}
