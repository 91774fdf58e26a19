/**
 * The fixed-weight phantom detector: an ONNX graph, built in code, that finds the synthetic phantom's herniations
 * and grades them by MSU (docs/msu.md). It is not trained and knows only the phantom's canonical geometry
 * (models/synthetic/anatomy.ts); on real MRI it is meaningless. It exists so the whole pipeline can run end to end
 * on a real ONNX model before the trained detector lands.
 *
 * How it works, on the percentile-normalized slice ([0, 1], 256 × 256):
 * 1. Disc-material response: 1 where the signal is intermediate (disc material), 0 where it is bright (CSF, fat)
 *    or dark (bone, ligament) — inside the phantom's search region behind the disc margin only.
 * 2. Per column, the number of material pixels = how far the material reaches behind the disc margin.
 * 3. Anchors are column spans [a, a + w) for every start column a and widths w = 3…42 (256 · 40 anchors). An
 *    anchor's objectness is (share of its columns holding material) − (share of the 3 columns either side that
 *    do), so the span that fits the material best wins, times a factor growing with the material's depth (so the
 *    key slice beats its partial-volumed neighbours).
 * 4. Box: the anchor's columns, from the disc margin to the deepest material in the span.
 *    Grade: that depth against half and all of the margin-to-intra-facet-line distance (steep sigmoids).
 *    Zone: which of A / B / C the span overlaps by ≥ 2 px. A span covering two zones scores in both zones' classes.
 * Output: Ultralytics YOLOv8 layout [N, 4 + 9, 10240] — cx, cy, w, h (input pixels), then the 9 grade × zone
 * class scores in [0, 1], class index = (grade − 1) · 3 + zone index (A, B, C).
 */
import { PHANTOM_GEOMETRY, PHANTOM_IMAGE_SIZE, type PhantomGeometry } from '../synthetic/anatomy';
import { GraphBuilder } from './graph-builder';

export const DETECTOR_INPUT = 'images';
export const DETECTOR_OUTPUT = 'output0';
export const MIN_ANCHOR_WIDTH = 3;
export const MAX_ANCHOR_WIDTH = 42;
export const ANCHOR_WIDTHS = Array.from(
  { length: MAX_ANCHOR_WIDTH - MIN_ANCHOR_WIDTH + 1 },
  (_, i) => MIN_ANCHOR_WIDTH + i,
);
export const ANCHOR_COUNT = ANCHOR_WIDTHS.length * PHANTOM_IMAGE_SIZE;
export const ZONES = ['A', 'B', 'C'] as const;

/** Normalized intensity window of disc material: full response within ±0.1 of the centre, none beyond ±0.2. */
const MATERIAL_CENTRE = 0.45;
const MATERIAL_HALF_WIDTH = 0.2;
const MATERIAL_STEEPNESS = 10;
/** Columns either side of an anchor that must be free of material. */
const FLANK = 3;
/** Depth (px) at which the objectness factor reaches 1 − 1/e. */
const DEPTH_SCALE = 6;
/** Sigmoid steepness per pixel of depth for the grade boundaries. */
const GRADE_STEEPNESS = 2;
/** Overlap (px) with a zone below which it does not count, and above which (plus 1 px) it fully counts. */
const ZONE_MIN_OVERLAP = 1;

/** Conv kernel for anchor width w: +1/w over its columns, −1/(2·FLANK) over the flanks; tap j ↔ offset j − FLANK. */
function spanKernel(width: number): number[] {
  const taps = new Array<number>(MAX_ANCHOR_WIDTH + 2 * FLANK).fill(0);
  for (let offset = -FLANK; offset < width + FLANK; offset++) {
    taps[offset + FLANK] = offset < 0 || offset >= width ? -1 / (2 * FLANK) : 1 / width;
  }
  return taps;
}

export function buildPhantomDetectorOnnx(
  geometry: PhantomGeometry = PHANTOM_GEOMETRY,
  producerVersion = '0.1.0',
): Uint8Array {
  const g = new GraphBuilder();
  const size = PHANTOM_IMAGE_SIZE;
  const k = ANCHOR_WIDTHS.length;
  const { searchRegion, discMarginY, facetMedialEdges } = geometry;
  const [[left, leftY], [right, rightY]] = facetMedialEdges;
  const marginToLine = (leftY + rightY) / 2 - discMarginY;
  const quarter = (right - left) / 4;

  // 1. Disc-material response, cropped to the search region's rows and masked to its columns.
  const distance = g.op('Abs', [g.op('Sub', [DETECTOR_INPUT, g.scalar(MATERIAL_CENTRE)])]);
  const window = g.op('Mul', [g.op('Sub', [g.scalar(MATERIAL_HALF_WIDTH), distance]), g.scalar(MATERIAL_STEEPNESS)]);
  const material = g.op('Clip', [window, g.scalar(0), g.scalar(1)]);
  const rows = g.op('Slice', [material, g.ints([searchRegion.y0]), g.ints([searchRegion.y1]), g.ints([2])]);
  const columnMask = g.floats(
    'search_columns',
    [1, 1, 1, size],
    Array.from({ length: size }, (_, x) => (x >= searchRegion.x0 && x < searchRegion.x1 ? 1 : 0)),
  );
  const region = g.op('Mul', [rows, columnMask]);

  // 2. Depth per column [N,1,1,256], and whether a column holds material at all (≥ 2 px, so a stray pixel does not).
  const depth = g.op('ReduceSum', [region, g.ints([2])], { keepdims: 1 });
  const occupied = g.op('Clip', [g.op('Sub', [depth, g.scalar(1)]), g.scalar(0), g.scalar(1)]);

  // 3. Span fit per anchor [N,K,1,256] by one convolution; deepest material per anchor by chained 2-wide max pools
  //    (after n pools, column a holds the maximum over [a, a + n]).
  const kernels = g.floats('span_kernels', [k, 1, 1, MAX_ANCHOR_WIDTH + 2 * FLANK], ANCHOR_WIDTHS.flatMap(spanKernel));
  const fit = g.op('Conv', [occupied, kernels], {
    kernel_shape: [1, MAX_ANCHOR_WIDTH + 2 * FLANK],
    pads: [0, FLANK, 0, MAX_ANCHOR_WIDTH + FLANK - 1],
    strides: [1, 1],
  });
  const maxima: string[] = [];
  let running = depth;
  for (let width = 2; width <= MAX_ANCHOR_WIDTH; width++) {
    running = g.op('MaxPool', [running], { kernel_shape: [1, 2], pads: [0, 0, 0, 1], strides: [1, 1] });
    if (width >= MIN_ANCHOR_WIDTH) maxima.push(running);
  }
  const deepest = g.op('Concat', maxima, { axis: 1 });
  const depthFactor = g.op('Sub', [g.scalar(1), g.op('Exp', [g.op('Mul', [deepest, g.scalar(-1 / DEPTH_SCALE)])])]);
  const objectness = g.op('Mul', [g.op('Clip', [fit, g.scalar(0), g.scalar(1)]), depthFactor]);

  // Flatten anchors: index = widthIndex · 256 + start column.
  const flatShape = g.ints([0, 1, -1]);
  const flat = (name: string): string => g.op('Reshape', [name, flatShape]);
  const depthFlat = flat(deepest);
  const objectnessFlat = flat(objectness);

  // 4a. Grade memberships [N,3,A]: 1 ≤ half the distance to the line < 2 ≤ the line < 3.
  const beyondHalf = g.op('Sigmoid', [
    g.op('Mul', [g.op('Sub', [depthFlat, g.scalar(marginToLine / 2)]), g.scalar(GRADE_STEEPNESS)]),
  ]);
  const beyondLine = g.op('Sigmoid', [
    g.op('Mul', [g.op('Sub', [depthFlat, g.scalar(marginToLine)]), g.scalar(GRADE_STEEPNESS)]),
  ]);
  const grades = g.op(
    'Concat',
    [g.op('Sub', [g.scalar(1), beyondHalf]), g.op('Sub', [beyondHalf, beyondLine]), beyondLine],
    { axis: 1 },
  );

  // 4b. Zone memberships [1,1,3,A], from each anchor's span [x0, x1) against the quarters of the intra-facet line.
  const x0 = g.floats(
    'anchor_x0',
    [1, 1, 1, size],
    Array.from({ length: size }, (_, x) => x),
  );
  const widths = g.floats('anchor_widths', [1, k, 1, 1], ANCHOR_WIDTHS);
  const x1 = g.op('Add', [x0, widths]);
  const overlap = (from: number, to: number): string =>
    g.op('Relu', [g.op('Sub', [g.op('Min', [x1, g.scalar(to)]), g.op('Max', [x0, g.scalar(from)])])]);
  const counts = (px: string): string =>
    g.op('Clip', [g.op('Sub', [px, g.scalar(ZONE_MIN_OVERLAP)]), g.scalar(0), g.scalar(1)]);
  const far = 1e4;
  const zoneA = counts(overlap(left + quarter, right - quarter));
  const zoneB = g.op('Max', [counts(overlap(left, left + quarter)), counts(overlap(right - quarter, right))]);
  const zoneC = g.op('Max', [counts(overlap(-far, left)), counts(overlap(right, far))]);
  const zoneShape = g.ints([1, 1, 1, -1]);
  const zones = g.op(
    'Concat',
    [zoneA, zoneB, zoneC].map((z) => g.op('Reshape', [z, zoneShape])),
    { axis: 2 },
  );

  // Class scores [N,9,A] = objectness · grade membership · zone membership.
  const graded = g.op('Reshape', [g.op('Mul', [objectnessFlat, grades]), g.ints([0, 3, 1, -1])]);
  const classes = g.op('Reshape', [g.op('Mul', [graded, zones]), g.ints([0, 9, -1])]);

  // Boxes [N,4,A] in input pixels: the anchor's columns, from the disc margin to the deepest material.
  const zero = g.op('Mul', [depthFlat, g.scalar(0)]); // [N,1,A] zeros, to broadcast constants over the batch
  const cx = g.op('Add', [zero, g.op('Reshape', [g.op('Add', [x0, g.op('Mul', [widths, g.scalar(0.5)])]), flatShape])]);
  const w = g.op('Add', [zero, g.op('Reshape', [g.op('Add', [g.op('Mul', [x0, g.scalar(0)]), widths]), flatShape])]);
  const cy = g.op('Add', [g.op('Mul', [depthFlat, g.scalar(0.5)]), g.scalar(discMarginY)]);
  g.op('Concat', [cx, cy, w, depthFlat, classes], { axis: 1 }, DETECTOR_OUTPUT);

  return g.toModel({
    inputs: [{ name: DETECTOR_INPUT, shape: ['batch', 1, size, size] }],
    outputs: [{ name: DETECTOR_OUTPUT, shape: ['batch', 4 + 9, ANCHOR_COUNT] }],
    graphName: 'msu_ldh_phantom_fixed_weight_detector',
    docString: 'Fixed-weight detector for the ldh-cds synthetic phantom only. Not trained. Not for clinical use.',
    producerVersion,
  });
}
