/**
 * Detections on the slices of each disc level → one LevelFinding per level (MSU rules, docs/msu.md §From detections to
 * a level finding): a herniation is present when the level's score — its highest-scoring detection's, corroborated by
 * the same place on neighbouring slices where the manifest asks for it — reaches the manifest threshold; the key slice
 * is that detection's, or the one the manifest's `keySlice` rule chose (`reported`); grade and zone come from its
 * class.
 */
import type {
  DiscLevel,
  HerniationSide,
  LevelFinding,
  MsuZone,
  PixelBox,
  PixelPoint,
  SliceRef,
} from '../findings/findings';
import type { ModelManifest } from './manifest';
import { sideOfSpan } from './msu-side';
import { iou, type Detection } from './yolo';

export interface LevelSlice {
  ref: SliceRef;
  width: number;
  height: number;
  /** True when image columns run toward the patient's left (ImageOrientationPatient row cosine x ≥ 0). */
  patientLeftIsImageRight: boolean;
}

export interface LevelDetections {
  level: DiscLevel;
  slices: LevelSlice[];
  /** detections[i] belong to slices[i]. */
  detections: Detection[][];
  /**
   * The detection the level reports when the manifest's `keySlice` rule chose another slice than its strongest
   * detection's: key slice, box, grade and zone come from it, presence and confidence still from the strongest.
   */
  reported?: { sliceIndex: number; detection: Detection };
}

/**
 * Keypoints 0 and 1 are the medial facet edges when the model predicts them (manifest numKeypoints ≥ 2). The line
 * is returned patient-right end first, as the ground truth writes it, whatever the image orientation.
 */
export function intraFacetLineOf(
  detection: Detection,
  slice?: LevelSlice,
  minVisibility = 0.5,
): [PixelPoint, PixelPoint] | undefined {
  const [a, b] = detection.keypoints;
  if (!a || !b || a.visibility < minVisibility || b.visibility < minVisibility) return undefined;
  const [imageLeft, imageRight] = a.point[0] <= b.point[0] ? [a.point, b.point] : [b.point, a.point];
  return slice && !slice.patientLeftIsImageRight ? [imageRight, imageLeft] : [imageLeft, imageRight];
}

/**
 * Side of the herniation from its box against the canal midline: the intra-facet line's midpoint when the model
 * gives the line, else the image's vertical midline (the canal is near the centre of a lumbar axial slice).
 */
export function sideOf(box: PixelBox, slice: LevelSlice, intraFacetLine?: [PixelPoint, PixelPoint]): HerniationSide {
  const midX = intraFacetLine ? (intraFacetLine[0][0] + intraFacetLine[1][0]) / 2 : slice.width / 2;
  return sideOfSpan(box[0], box[2], midX, slice.patientLeftIsImageRight);
}

/** Adjacent single zones and the spanning zone they form (docs/msu.md §Location zone: written AB or BC). */
const SPANNING_ZONES: Partial<Record<MsuZone, Partial<Record<MsuZone, MsuZone>>>> = {
  A: { B: 'AB' },
  B: { A: 'AB', C: 'BC' },
  C: { B: 'BC' },
};

/**
 * A herniation that spans two zones: models with single-zone classes (the plain 9-class grade × zone layout)
 * score both zones of the same grade on the same anchor. When the best adjacent zone of that grade reaches the
 * threshold and reaches the manifest's `thresholds.spanning` share of the primary zone's score, the finding is
 * written AB or BC.
 * Models with explicit AB/BC classes are read as they are.
 */
export function zoneOf(detection: Detection, manifest: ModelManifest): MsuZone {
  const primary = manifest.classes.find((c) => c.index === detection.classIndex);
  if (!primary)
    throw new Error(`Model predicted class ${detection.classIndex}, which the manifest's class table does not list`);
  let zone: MsuZone = primary.zone;
  let bestAdjacentScore = Math.max(
    manifest.thresholds.confidence,
    manifest.thresholds.spanning * (detection.classScores[detection.classIndex] ?? detection.score),
  );
  for (const candidate of manifest.classes) {
    const spanning = SPANNING_ZONES[primary.zone]?.[candidate.zone];
    const score = detection.classScores[candidate.index] ?? 0;
    if (candidate.grade === primary.grade && spanning && score >= bestAdjacentScore) {
      zone = spanning;
      bestAdjacentScore = score;
    }
  }
  return zone;
}

/** The highest-scoring of some detections (undefined when there are none). */
export function strongestOf(detections: readonly Detection[]): Detection | undefined {
  return detections.reduce<Detection | undefined>((top, d) => (!top || d.score > top.score ? d : top), undefined);
}

/** The level's highest-scoring detection over all its slices (its slice becomes the key slice). */
export function strongestDetection(
  input: LevelDetections,
): { detection: Detection; slice: LevelSlice; sliceIndex: number } | undefined {
  let best: { detection: Detection; slice: LevelSlice; sliceIndex: number } | undefined;
  input.detections.forEach((detections, sliceIndex) => {
    const slice = input.slices[sliceIndex];
    for (const detection of detections) {
      if (slice && (!best || detection.score > best.detection.score)) best = { detection, slice, sliceIndex };
    }
  });
  return best;
}

/**
 * The detections that may give a herniation's key slice (manifest `keySlice`): the level's strongest detection first,
 * then on each slice up to `rule.slices` away from its slice the highest-scoring detection at the same place
 * (box IoU ≥ `rule.iou`) that scores at least `rule.minScoreShare` of the strongest, nearest slices first.
 */
export function keySliceCandidates(
  input: LevelDetections,
  best: NonNullable<ReturnType<typeof strongestDetection>>,
  rule: NonNullable<ModelManifest['keySlice']>,
): { detection: Detection; sliceIndex: number }[] {
  const candidates = [{ detection: best.detection, sliceIndex: best.sliceIndex }];
  for (let distance = 1; distance <= rule.slices; distance++) {
    for (const sliceIndex of [best.sliceIndex - distance, best.sliceIndex + distance]) {
      const strongest = strongestOf(
        (input.detections[sliceIndex] ?? []).filter(
          (d) => d.score >= rule.minScoreShare * best.detection.score && iou(d.box, best.detection.box) >= rule.iou,
        ),
      );
      if (strongest) candidates.push({ detection: strongest, sliceIndex });
    }
  }
  return candidates;
}

/**
 * The level's herniation score: its strongest detection's score, or with the manifest's `corroboration` the
 * noisy-OR 1 − (1 − s₀) · Π (1 − sᵢ) of that score s₀ and, on up to `corroboration.slices` other slices of the
 * level (the strongest first), the best detection at the same place (box IoU ≥ `corroboration.iou`). 0 when the
 * level has no detection. `best` is the level's strongest detection, for callers that have it already.
 */
export function levelScore(
  input: LevelDetections,
  manifest: ModelManifest,
  best: ReturnType<typeof strongestDetection> = strongestDetection(input),
): number {
  if (!best) return 0;
  const corroboration = manifest.corroboration;
  if (!corroboration) return best.detection.score;
  const support = input.detections
    .flatMap((detections, sliceIndex) => {
      if (sliceIndex === best.sliceIndex) return [];
      const here = detections.filter((d) => iou(d.box, best.detection.box) >= corroboration.iou);
      return here.length > 0 ? [Math.max(...here.map((d) => d.score))] : [];
    })
    .sort((a, b) => b - a)
    .slice(0, corroboration.slices);
  return 1 - support.reduce((unlikely, score) => unlikely * (1 - score), 1 - best.detection.score);
}

export function detectionsToLevelFinding(input: LevelDetections, manifest: ModelManifest): LevelFinding {
  const best = strongestDetection(input);
  const score = levelScore(input, manifest, best);
  const middle = input.slices[Math.floor((input.slices.length - 1) / 2)];
  if (!best || score < manifest.thresholds.confidence) {
    return {
      level: input.level,
      herniation: false,
      confidence: 1 - score,
      ...(middle ? { keySlice: middle.ref } : {}),
    };
  }
  const { detection, slice } = input.reported
    ? { detection: input.reported.detection, slice: input.slices[input.reported.sliceIndex] ?? best.slice }
    : best;
  const msuClass = manifest.classes.find((c) => c.index === detection.classIndex);
  if (!msuClass)
    throw new Error(`Model predicted class ${detection.classIndex}, which the manifest's class table does not list`);
  const intraFacetLine = intraFacetLineOf(detection, slice);
  return {
    level: input.level,
    herniation: true,
    grade: msuClass.grade,
    zone: zoneOf(detection, manifest),
    side: sideOf(detection.box, slice, intraFacetLine),
    confidence: score,
    keySlice: slice.ref,
    box: detection.box,
    ...(intraFacetLine ? { intraFacetLine } : {}),
  };
}

export function detectionsToFindings(levels: LevelDetections[], manifest: ModelManifest): LevelFinding[] {
  return levels.map((level) => detectionsToLevelFinding(level, manifest));
}
