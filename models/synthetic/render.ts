/**
 * Draws one axial T2 slice of the phantom (see anatomy.ts for the coordinate frame). Shapes have hard edges on
 * purpose: no partial-volume greys appear where the detector looks for disc material.
 */
import { PHANTOM_IMAGE_SIZE, T2_INTENSITY, type PhantomGeometry } from './anatomy';
import type { HerniationShape } from './herniation-shape';
import type { Rng } from './prng';

export type SliceKind = 'disc' | 'endplate';

export interface RenderedSlice {
  /** Row-major 12-bit modality values. */
  pixels: Uint16Array;
  /** 1 where herniated material was drawn posterior to the disc margin (the ground truth's pixels). */
  herniationMask: Uint8Array;
}

const NOISE_SIGMA = 30;

type Canvas = Float32Array;

function inEllipse(x: number, y: number, cx: number, cy: number, rx: number, ry: number): boolean {
  const dx = (x - cx) / rx;
  const dy = (y - cy) / ry;
  return dx * dx + dy * dy <= 1;
}

function fill(canvas: Canvas, value: number, inside: (x: number, y: number) => boolean): void {
  const size = PHANTOM_IMAGE_SIZE;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (inside(c + 0.5, r + 0.5)) canvas[r * size + c] = value;
    }
  }
}

function drawBody(canvas: Canvas): void {
  const cx = 128;
  const cy = 128;
  fill(canvas, T2_INTENSITY.fat, (x, y) => inEllipse(x, y, cx, cy, 122, 112));
  fill(canvas, T2_INTENSITY.softTissue, (x, y) => inEllipse(x, y, cx, cy, 110, 100));
  // Psoas beside the disc, paraspinal muscles (erector spinae) either side of the spinous process.
  fill(canvas, T2_INTENSITY.muscle, (x, y) => inEllipse(x, y, 70, 112, 15, 20) || inEllipse(x, y, 186, 112, 15, 20));
  fill(canvas, T2_INTENSITY.muscle, (x, y) => inEllipse(x, y, 100, 202, 27, 22) || inEllipse(x, y, 156, 202, 27, 22));
}

function drawPosteriorElements(canvas: Canvas, geometry: PhantomGeometry): void {
  const { discMarginY, facetMedialEdges, searchRegion } = geometry;
  const [[lx, facetY], [rx]] = facetMedialEdges;
  const midX = (lx + rx) / 2;
  // Epidural and foraminal fat fill the whole search region first, so nothing intermediate is left there.
  fill(
    canvas,
    T2_INTENSITY.fat,
    (x, y) => x >= searchRegion.x0 && x < searchRegion.x1 && y >= searchRegion.y0 - 6 && y < searchRegion.y1 + 4,
  );
  // Thecal sac: CSF inside a thin dark dura, narrowing posteriorly towards the lamina.
  const canalBottom = searchRegion.y1 - 3;
  const inSac = (x: number, y: number, inset: number): boolean => {
    if (y < discMarginY - 5 + inset || y >= canalBottom - inset) return false;
    const halfWidth = (rx - lx) / 2 - 1 - 10 * ((y - discMarginY) / (canalBottom - discMarginY));
    return Math.abs(x - midX) < halfWidth - inset;
  };
  fill(canvas, T2_INTENSITY.ligament, (x, y) => inSac(x, y, 0));
  fill(canvas, T2_INTENSITY.csf, (x, y) => inSac(x, y, 1));
  // Facet joints: bone with a thin fluid-filled joint line; their medial edges are the intra-facet line's ends.
  for (const [edgeX, sign] of [
    [lx, -1],
    [rx, 1],
  ] as const) {
    const cx = edgeX + sign * 11;
    fill(canvas, T2_INTENSITY.bone, (x, y) => inEllipse(x, y, cx, facetY, 11, 8));
    fill(canvas, T2_INTENSITY.facetFluid, (x, y) => inEllipse(x, y, cx, facetY, 9, 6) && Math.abs(x - cx) < 1);
  }
  // Ligamenta flava, lamina and spinous process behind the canal.
  fill(
    canvas,
    T2_INTENSITY.ligament,
    (x, y) =>
      y >= facetY &&
      y < canalBottom &&
      Math.abs(x - midX) > (rx - lx) / 2 - 10 - (y - facetY) * 0.3 &&
      Math.abs(x - midX) < (rx - lx) / 2,
  );
  fill(canvas, T2_INTENSITY.bone, (x, y) => y >= canalBottom && y < canalBottom + 8 && Math.abs(x - midX) < 30);
  fill(canvas, T2_INTENSITY.bone, (x, y) => y >= canalBottom && y < 222 && Math.abs(x - midX) < 4);
}

function drawDisc(canvas: Canvas, geometry: PhantomGeometry, kind: SliceKind): void {
  const { discMarginY } = geometry;
  const cx = 128;
  const cy = discMarginY - 21;
  // Kidney shape: an ellipse cut flat at the posterior margin with a shallow central notch.
  const notch = (x: number): number => 2 * Math.exp(-(((x - cx) / 10) ** 2));
  const inDisc = (x: number, y: number): boolean => inEllipse(x, y, cx, cy, 42, 24) && y < discMarginY - notch(x);
  if (kind === 'endplate') {
    // Off the disc the slice cuts the vertebral body: marrow inside a dark cortical rim.
    fill(canvas, T2_INTENSITY.bone, inDisc);
    fill(
      canvas,
      T2_INTENSITY.vertebralBody,
      (x, y) => inEllipse(x, y, cx, cy, 40, 22) && y < discMarginY - 2 - notch(x),
    );
    return;
  }
  fill(canvas, T2_INTENSITY.annulus, inDisc);
  fill(canvas, T2_INTENSITY.nucleus, (x, y) => inEllipse(x, y, cx, cy - 1, 27, 13));
}

/** Dome-shaped material from the disc margin backwards; returns the mask of its pixels behind the margin. */
function drawHerniation(canvas: Canvas, geometry: PhantomGeometry, shape: HerniationShape): Uint8Array {
  const size = PHANTOM_IMAGE_SIZE;
  const mask = new Uint8Array(size * size);
  const centre = (shape.x0 + shape.x1) / 2;
  const half = (shape.x1 - shape.x0) / 2;
  for (let c = 0; c < size; c++) {
    const u = (c + 0.5 - centre) / half;
    if (Math.abs(u) > 1) continue;
    // A flat-topped dome (|u|^6): steep flanks keep the drawn span equal to the planned one.
    const reach = geometry.discMarginY + shape.depth * Math.sqrt(1 - u ** 6);
    // Start a little inside the disc so the material is continuous with it.
    for (let r = Math.floor(geometry.discMarginY) - 3; r < size && r + 0.5 < reach; r++) {
      canvas[r * size + c] = T2_INTENSITY.herniation;
      if (r >= geometry.discMarginY) mask[r * size + c] = 1;
    }
  }
  return mask;
}

/** Magnitude of a complex signal with Gaussian noise on both channels: Rician, as in MR magnitude images. */
function addRicianNoise(canvas: Canvas, rng: Rng): Uint16Array {
  const out = new Uint16Array(canvas.length);
  for (let i = 0; i < canvas.length; i++) {
    const real = (canvas[i] ?? 0) + NOISE_SIGMA * rng.normal();
    const imaginary = NOISE_SIGMA * rng.normal();
    out[i] = Math.min(4095, Math.round(Math.hypot(real, imaginary)));
  }
  return out;
}

/** The noise-free anatomy is the same for every slice of a kind, so draw it once per geometry and kind. */
const anatomyCache = new WeakMap<PhantomGeometry, Map<SliceKind, Float32Array>>();

function anatomyCanvas(geometry: PhantomGeometry, kind: SliceKind): Float32Array {
  let byKind = anatomyCache.get(geometry);
  if (!byKind) {
    byKind = new Map();
    anatomyCache.set(geometry, byKind);
  }
  let canvas = byKind.get(kind);
  if (!canvas) {
    canvas = new Float32Array(PHANTOM_IMAGE_SIZE * PHANTOM_IMAGE_SIZE).fill(T2_INTENSITY.air);
    drawBody(canvas);
    drawPosteriorElements(canvas, geometry);
    drawDisc(canvas, geometry, kind);
    byKind.set(kind, canvas);
  }
  return canvas;
}

export function renderSlice(
  geometry: PhantomGeometry,
  kind: SliceKind,
  herniation: HerniationShape | undefined,
  rng: Rng,
): RenderedSlice {
  const canvas: Canvas = Float32Array.from(anatomyCanvas(geometry, kind));
  const herniationMask = herniation ? drawHerniation(canvas, geometry, herniation) : new Uint8Array(canvas.length);
  return { pixels: addRicianNoise(canvas, rng), herniationMask };
}
