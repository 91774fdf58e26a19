/**
 * The model manifest (docs/architecture.md §The model contract): everything the pipeline needs to run a detector
 * without code changes — input tensor, normalization, YOLOv8-style output layout and the MSU meaning of each
 * class. A site drops its own validated model in by writing one of these beside its `model.onnx`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

const msuGrade = z.union([z.literal(1), z.literal(2), z.literal(3)]);
const msuZone = z.enum(['A', 'B', 'C', 'AB', 'BC']);

/** A second model run on zoomed crops of a slice (`refinement`, `verification`): its file and the crop. */
const zoomedPass = z.object({
  file: z.string().min(1),
  zoom: z.number().min(1).max(16),
  /** Also run each crop mirrored left-right and average the two views (for models trained with mirroring). */
  mirror: z.boolean().default(false),
  /**
   * [height, width] of this model's input, when it differs from `input.shape`'s: e.g. a whole-slice detector at
   * 384² beside a refiner trained on 256² crops. The crop covers the same source window either way (`zoom`); only
   * the number of samples across it changes, so a pass must run at the size it was trained at.
   */
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  /**
   * Test-time augmentation: the crops cut around each box, each re-centred by `shift` (a share of the box's width
   * and height) and magnified `zoom` times the pass's own zoom; with `mirror`, each is also run mirrored. Every
   * view's box is mapped back to the slice and the views' edges, scores and class scores are averaged. Why: a
   * herniation is a few source pixels across, so a pixel at one edge moves IoU by 0.1–0.2, and views cut at other
   * centres and scales err partly independently. Keep the shifts and zooms inside the training crops' jitter.
   * Default: one view, centred at the pass's zoom.
   */
  views: z
    .array(
      z.object({
        shift: z.tuple([z.number().min(-1).max(1), z.number().min(-1).max(1)]).default([0, 0]),
        zoom: z.number().min(0.5).max(2).default(1),
      }),
    )
    .min(1)
    .max(16)
    .optional(),
});

export const modelManifestSchema = z.object({
  id: z.string().min(1),
  version: z.string().min(1),
  name: z.string().min(1),
  /** Shown wherever the model's output is shown, e.g. "not for clinical use — synthetic-trained demo model". */
  intendedUse: z.string().min(1),
  file: z.string().default('model.onnx'),
  input: z.object({
    name: z.string(),
    /** [batch, channels, height, width]; batch may be -1 (dynamic). */
    shape: z.tuple([z.number().int(), z.literal(1), z.number().int().positive(), z.number().int().positive()]),
    dtype: z.literal('float32'),
    normalization: z.object({
      /**
       * `percentile`: (v − P_low) / (P_high − P_low) over the slice's pixels, clipped to [0, 1]. Robust to the
       * arbitrary intensity scaling of MR scanners.
       */
      method: z.literal('percentile'),
      lowPercentile: z.number().min(0).max(100),
      highPercentile: z.number().min(0).max(100),
    }),
  }),
  output: z.object({
    name: z.string(),
    /** Ultralytics YOLOv8 layout `[batch, 4 + nc (+ 3·nk), anchors]`: cx, cy, w, h in input pixels, class scores. */
    layout: z.literal('yolov8'),
    numClasses: z.number().int().positive(),
    /** Keypoints appended per anchor as (x, y, visibility) triplets; 2 = the medial facet edges (left, right). */
    numKeypoints: z.number().int().min(0).default(0),
  }),
  classes: z.array(z.object({ index: z.number().int().min(0), name: z.string(), grade: msuGrade, zone: msuZone })),
  thresholds: z.object({
    confidence: z.number().min(0).max(1),
    iou: z.number().min(0).max(1),
    /**
     * Share of the primary zone's score an adjacent zone of the same grade needs for the finding to be written
     * AB/BC. A herniation near a zone border lifts the neighbouring zone's score too; only a score close to the
     * primary one means it really crosses. A property of the model's scores: 0.75 (the default) was chosen for
     * msu-ldh 1.1.0 on a tuning set (seeds 960000–963005), where it raised localization AC1 from 0.86 to 0.92;
     * 1.3.0's averaged scores need 0.6 (its model card).
     */
    spanning: z.number().min(0).max(1).default(0.75),
  }),
  trainingData: z.string(),
  /**
   * Optional second pass that re-measures each reported herniation's box at a higher magnification: the key slice
   * is cropped around the detected box to (width / zoom) × (height / zoom) source pixels, normalized over the whole
   * slice as above, resampled to the pass's input size (`size`, else `input.shape`'s) and run through `file`, a model
   * with this manifest's input and output layout. Small boxes (a few pixels at the whole-slice input size) gain most.
   */
  refinement: zoomedPass
    .extend({
      /**
       * `keep`: the refiner moves only the box. `average`: the reported herniation's class scores become the mean
       * of the whole-slice and the zoomed pass (which sees the herniation and the facets magnified); its confidence
       * stays the score that decided that there is a herniation at all (the detection's, verified and corroborated
       * where the manifest asks for it).
       */
      classes: z.enum(['keep', 'average']).default('keep'),
    })
    .optional(),
  /**
   * Optional: one more magnified view of each reported herniation, for its class only. Its crop is cut as for
   * `refinement`, around the whole-slice box, and its class scores join the mean that gives the grade and zone: of
   * the whole-slice pass, the refiner (with `refinement.classes: "average"`) and this pass. Why: a refiner at a high
   * zoom measures a small box more exactly but sees less of the facet joints that place it in a zone; a second
   * network at a lower zoom keeps them in view (msu-ldh 1.6.0: refiner at zoom 6, this pass at zoom 4).
   */
  classification: zoomedPass.optional(),
  /**
   * Optional: decide *whether* a level has a herniation on a magnified view too. `file` is a model with this
   * manifest's input and output layout trained on zoomed crops with and without a herniation (training:
   * `--negatives`). Every slice's strongest whole-slice detection scoring at least `candidateScore` is a candidate:
   * its slice is cropped around it as for `refinement` (`zoom`, `mirror`), and its score becomes
   * (1 − weight) · whole-slice score + weight · zoomed score (0 when the verifier finds nothing there). Presence, key
   * slice and confidence then follow these scores, and `thresholds.confidence` applies to them; the slice's other
   * detections are dropped (a score the zoomed view did not see is not comparable). `refinement`, when present, then
   * re-measures the reported box as before. Why: a herniation a few pixels across is often only a weak whole-slice
   * detection, and the magnified view tells it from a normal disc margin better.
   */
  verification: zoomedPass
    .extend({
      candidateScore: z.number().min(0).max(1),
      weight: z.number().min(0).max(1),
    })
    .optional(),
  /**
   * Optional: let neighbouring slices corroborate a level's strongest detection. A herniation runs over several
   * contiguous axial slices, and a faint one is a weak detection on each of them, while a normal margin that looks
   * like a herniation mostly does so on one slice. The level's score becomes the noisy-OR 1 − (1 − s₀) · Π (1 − sᵢ)
   * of the strongest detection's score s₀ and, on up to `slices` other slices of the level (the strongest first),
   * the best detection at the same place (box IoU ≥ `iou`); `thresholds.confidence` applies to it and it is the
   * finding's confidence. Key slice, box and class stay the strongest detection's. The threshold must be chosen
   * with corroboration on (model card).
   */
  corroboration: z
    .object({
      slices: z.number().int().min(1),
      iou: z.number().min(0).max(1),
    })
    .optional(),
  /**
   * Optional: report each herniation on the slice where it is largest, the slice MSU is read on (docs/msu.md §Key
   * slice), rather than the slice of its strongest detection. The strongest detection and, on up to `slices` slices
   * either side of it, the best detection at the same place (box IoU ≥ `iou`) scoring at least `minScoreShare` of its
   * score are each re-measured by `refinement` where the manifest has one; the box with the largest area gives the key
   * slice and the box. Presence, confidence, grade and zone stay the strongest detection's: on msu-ldh 1.8.0's tuning
   * sets its class scores gave the true grade and zone more often than the largest slice's. Why: a herniation's score
   * peaks on whichever of its slices the networks find clearest, which was its largest slice only about three times in
   * five on those sets, and a box measured on a thinner end slice misses much of its extent.
   */
  keySlice: z
    .object({
      slices: z.number().int().min(1),
      iou: z.number().min(0).max(1),
      minScoreShare: z.number().min(0).max(1),
    })
    .optional(),
  /**
   * Where a herniation's MSU grade and zone come from. `classifier` (default): the class with the highest score.
   * `geometry`: measured from the box and the two facet keypoints by the MSU rules (docs/msu.md §Size grade), the
   * classifier's class only where the facet points are not found — for models whose box runs from the posterior
   * disc margin to the herniation's deepest point and that predict the facet edges (numKeypoints ≥ 2). Either way
   * the findings warn where the two disagree.
   */
  classFrom: z.enum(['classifier', 'geometry']).default('classifier'),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;
/** A zoomed pass of the manifest (`refinement`, `verification`, `classification`). */
export type ZoomedPass = z.infer<typeof zoomedPass>;
/** A manifest as written (optional fields may be left out). */
export type ModelManifestInput = z.input<typeof modelManifestSchema>;

export interface LoadedManifest {
  manifest: ModelManifest;
  modelPath: string;
  /**
   * `sha256:<hex>` over manifest.json and every network it names, in the manifest's order: which exact model build
   * produced a result (the FHIR Device carries it), whatever its id and version say.
   */
  digest: string;
}

/** The networks a manifest names: the detector, then its zoomed passes. */
export function manifestNetworkFiles(manifest: ModelManifest): string[] {
  return [manifest.file, manifest.refinement?.file, manifest.classification?.file, manifest.verification?.file].filter(
    (file): file is string => file !== undefined,
  );
}

async function modelDigest(modelDir: string, manifestText: string, manifest: ModelManifest): Promise<string> {
  const hash = createHash('sha256').update(manifestText);
  for (const file of manifestNetworkFiles(manifest)) {
    hash.update(await readFile(path.join(modelDir, file)).catch(() => Buffer.alloc(0)));
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Reads and validates `<modelDir>/manifest.json`; the error names the file and the offending field. */
export async function loadModelManifest(modelDir: string): Promise<LoadedManifest> {
  const manifestPath = path.join(modelDir, 'manifest.json');
  const text = await readFile(manifestPath, 'utf8').catch((error: unknown) => {
    throw new Error(`Cannot read the model manifest ${manifestPath}: ${(error as Error).message}`);
  });
  const parsed = modelManifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid model manifest ${manifestPath}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`);
  }
  if (parsed.data.classes.length !== parsed.data.output.numClasses) {
    throw new Error(
      `Invalid model manifest ${manifestPath}: ${parsed.data.classes.length} classes listed but output.numClasses is ${parsed.data.output.numClasses}`,
    );
  }
  if (parsed.data.classFrom === 'geometry' && parsed.data.output.numKeypoints < 2) {
    throw new Error(
      `Invalid model manifest ${manifestPath}: classFrom "geometry" needs the two facet keypoints, but output.numKeypoints is ${parsed.data.output.numKeypoints}`,
    );
  }
  return {
    manifest: parsed.data,
    modelPath: path.join(modelDir, parsed.data.file),
    digest: await modelDigest(modelDir, text, parsed.data),
  };
}
