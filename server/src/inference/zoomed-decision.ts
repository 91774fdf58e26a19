/**
 * The decision rules of a zoomed pass (refiner, verifier, classifier): which of a view's detections is the requested
 * box's, and how the views' answers become one.
 */
import type { PixelBox } from '../findings/findings';
import { iou, type Detection } from './yolo';

/**
 * The zoomed network's box must overlap the requested box by at least this IoU to be its detection: the crop is
 * centred on the herniation, and a detection elsewhere in it (the other side of the canal) is not the same finding.
 */
const ZOOMED_MIN_IOU = 0.3;

/** A view's detection of `box` (both in source pixels): its best-scoring detection that overlaps the box enough. */
export function bestOverlapping(detections: readonly Detection[], box: PixelBox): Detection | undefined {
  let best: Detection | undefined;
  for (const detection of detections) {
    if (iou(detection.box, box) >= ZOOMED_MIN_IOU && (!best || detection.score > best.score)) best = detection;
  }
  return best;
}

/**
 * The views' answers about one box as one detection: each view's detection of it, averaged; undefined where no view
 * found it (the caller keeps its box).
 */
export function combineViews(
  detectionsPerView: readonly (readonly Detection[])[],
  box: PixelBox,
): Detection | undefined {
  const found = detectionsPerView.flatMap((detections) => {
    const best = bestOverlapping(detections, box);
    return best ? [best] : [];
  });
  return found.length > 0 ? averageBoxes(found) : undefined;
}

/** The views' detections as one: box edges, score and class scores averaged (zones are mirror-symmetric). */
export function averageBoxes(detections: readonly Detection[]): Detection {
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
