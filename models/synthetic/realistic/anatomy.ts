/**
 * The realistic generator's anatomy: one patient's body habitus and, per disc level, the cross-sectional anatomy
 * in that level's anatomical frame (mm; x to the patient's left, y posterior with 0 on the posterior disc margin,
 * z along the spine with 0 at the disc's mid-plane). Sizes follow adult lumbar morphometry: discs 40–55 mm wide and
 * 30–40 mm deep, 8–12 mm high; interfacet distance 16–26 mm; disc margin to intra-facet line 9–15 mm.
 */
import type { DiscLevel } from '../../../server/src/findings/findings';
import type { Rng } from '../prng';

export type FieldStrength = 1.5 | 3;

/** T2 TSE signal relative to CSF (1.0). */
export interface Contrast {
  csf: number;
  fat: number;
  muscle: number;
  nucleus: number;
  annulus: number;
  marrow: number;
  cortex: number;
  ligament: number;
  root: number;
  cord: number;
  flowVoid: number;
  facetFluid: number;
  cartilage: number;
  bowel: number;
  kidney: number;
  skin: number;
}

export function contrastFor(field: FieldStrength, rng: Rng): Contrast {
  const j = (value: number, spread = 0.08): number => value * (1 + rng.uniform(-spread, spread));
  return {
    csf: 1,
    fat: j(field === 3 ? 0.7 : 0.8),
    muscle: j(0.2),
    nucleus: j(0.78),
    annulus: j(0.17),
    marrow: j(field === 3 ? 0.5 : 0.58, 0.12),
    cortex: 0.05,
    ligament: j(0.14),
    root: j(0.26),
    cord: j(0.32),
    flowVoid: 0.04,
    facetFluid: j(0.75),
    cartilage: j(0.34),
    bowel: j(0.42, 0.2),
    kidney: j(0.55),
    skin: j(0.4),
  };
}

export interface HerniationGeometry {
  /** Lateral centre and half-width (mm, level frame) at the base of the dome on its key plane. */
  centreX: number;
  halfWidth: number;
  /** How far posterior of the disc margin the tip reaches on its key plane (mm). */
  depth: number;
  /** Lateral shift of the tip relative to the base centre (mm): extrusions lean to one side. */
  tipShift: number;
  /** Cranio-caudal centre and half-extent along the spine (mm, level frame). */
  centreZ: number;
  halfHeight: number;
  /** Signal relative to CSF. */
  signal: number;
}

export interface FacetGeometry {
  /** Centre of the facet complex, image-left side (patient right) mirrored for the other side. */
  centre: [number, number];
  semiAxes: [number, number];
  /** Joint orientation from sagittal, degrees: ~25° at L1-L2, ~50° at L5-S1. */
  angleDeg: number;
}

export interface LevelAnatomy {
  level: DiscLevel | 'T12-L1';
  /** 0 = L1-L2 … 4 = L5-S1; -1 for T12-L1 (sagittal only). */
  index: number;
  discHalfWidth: number;
  discDepth: number;
  discHalfHeight: number;
  /** Depth of the posterior concavity of the disc (mm). */
  discNotch: number;
  /** Superellipse exponent of the disc outline (2 = ellipse, larger = boxier). */
  discPower: number;
  /** 0 = healthy bright nucleus, 1 = black disc. */
  degeneration: number;
  /** Diffuse circumferential bulge beyond the vertebral margin (mm); not a herniation. */
  bulge: number;
  /** Medial edges of the facets: (±facetX, facetY); patient right at −facetX (image left). */
  facetX: number;
  facetY: number;
  facet: FacetGeometry;
  /** Thecal sac ellipse: centre y, half-width, half-depth. */
  sacY: number;
  sacHalfWidth: number;
  sacHalfDepth: number;
  /** Posterior apex of the canal (base of the spinous process). */
  laminaY: number;
  flavumThickness: number;
  spinousLength: number;
  /** Number of cauda equina roots drawn in the sac, and their positions (relative to the sac, unit disc). */
  roots: [number, number, number][];
  conus: boolean;
  psoas: { x: number; y: number; rx: number; ry: number };
  herniation?: HerniationGeometry;
}

export interface PatientAnatomy {
  /** Body outline (mm, level frame of each level; the same for all levels up to a taper). */
  bodyHalfWidth: number;
  anteriorSkinY: number;
  posteriorSkinY: number;
  fatLateral: number;
  fatPosterior: number;
  fatAnterior: number;
  paraspinalDepth: number;
  paraspinalHalfWidth: number;
  /** Fatty infiltration of the muscles, 0–1 (older patients more). */
  muscleFat: number;
  contrast: Contrast;
}

export function samplePatient(rng: Rng, field: FieldStrength, ageYears: number, sex: 'M' | 'F'): PatientAnatomy {
  const big = sex === 'M' ? 1.06 : 0.95;
  const habitus = rng.uniform(0, 1); // 0 = slim, 1 = obese
  return {
    bodyHalfWidth: (130 + 60 * habitus) * big,
    anteriorSkinY: -(110 + 110 * habitus) * big,
    posteriorSkinY: 0, // set from the posterior elements per level
    fatLateral: 8 + 40 * habitus,
    fatPosterior: 6 + 38 * habitus * rng.uniform(0.7, 1.2),
    fatAnterior: 10 + 50 * habitus,
    paraspinalDepth: rng.uniform(30, 44) * big,
    paraspinalHalfWidth: rng.uniform(42, 56) * big,
    muscleFat: Math.min(1, Math.max(0, (ageYears - 30) / 60 + rng.uniform(-0.15, 0.15))),
    contrast: contrastFor(field, rng),
  };
}

const LEVEL_NAMES = ['T12-L1', 'L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'] as const;

/** Anatomy of one level; index -1 is T12-L1 (drawn only on the sagittal series). */
export function sampleLevel(rng: Rng, index: number, ageYears: number, sizeFactor: number): LevelAnatomy {
  const caudal = (index + 1) / 5; // 0.2 at L1-L2 … 1 at L5-S1
  const facetX = rng.uniform(8, 12.5) * (0.95 + 0.1 * caudal);
  const facetY = rng.uniform(9.5, 14.5);
  const sacHalfWidth = facetX - rng.uniform(0.3, 2.2);
  const sacHalfDepth = rng.uniform(6.5, 9.5);
  const laminaY = facetY + rng.uniform(8, 12);
  const ageDegeneration = Math.max(0, (ageYears - 25) / 60) * (0.4 + 0.8 * caudal);
  const degeneration = Math.min(1, Math.max(0, ageDegeneration + rng.uniform(-0.35, 0.35)));
  const rootCount = Math.round(16 - 8 * caudal + rng.uniform(-2, 2));
  const roots: [number, number, number][] = [];
  for (let i = 0; i < rootCount; i++) {
    // Supine: the cauda equina lies dependent, in the posterior half of the sac, in a loose crescent.
    const t = rng.uniform(-1, 1);
    roots.push([t * 0.75, 0.3 + 0.45 * (1 - t * t) * rng.uniform(0.4, 1), rng.uniform(0.7, 1.3)]);
  }
  const psoasR = 5 + 12 * caudal ** 1.2;
  const discHalfWidth = rng.uniform(21, 27) * sizeFactor * (0.93 + 0.12 * caudal);
  return {
    level: LEVEL_NAMES[index + 1] ?? 'L4-L5',
    index,
    discHalfWidth,
    discDepth: rng.uniform(31, 39) * sizeFactor,
    discHalfHeight: rng.uniform(4, 5.8) * (1 - 0.35 * Math.max(0, degeneration - 0.5)),
    discNotch: rng.uniform(1.5, 4),
    discPower: rng.uniform(2.1, 2.8),
    degeneration,
    bulge: 0,
    facetX,
    facetY,
    facet: facetWithMedialEdge(
      facetX,
      facetY,
      [rng.uniform(5.5, 7.5), rng.uniform(9, 12)],
      20 + 35 * caudal + rng.uniform(-6, 6),
    ),
    sacY: sacHalfDepth + rng.uniform(0.4, 1.6),
    sacHalfWidth,
    sacHalfDepth,
    laminaY,
    flavumThickness: rng.uniform(2.2, 3.5) + 2 * degeneration * rng.uniform(0, 1),
    spinousLength: rng.uniform(20, 28),
    roots,
    conus: index === 0 || index === -1,
    psoas: {
      x: discHalfWidth + psoasR * 0.75 - 2,
      y: -rng.uniform(7, 12) - psoasR * 0.15,
      rx: psoasR * rng.uniform(0.95, 1.15),
      ry: psoasR * rng.uniform(1.05, 1.3) + 6,
    },
  };
}

/**
 * Places the facet complex (an ellipse whose long axis runs along the joint, anteromedial → posterolateral, at
 * angleDeg from sagittal) so that its most medial point is exactly (facetX, facetY): the intra-facet line's end.
 */
export function facetWithMedialEdge(
  facetX: number,
  facetY: number,
  semiAxes: [number, number],
  angleDeg: number,
): FacetGeometry {
  const [a, b] = semiAxes;
  const phi = (angleDeg * Math.PI) / 180;
  const reach = Math.sqrt(a * a * Math.cos(phi) ** 2 + b * b * Math.sin(phi) ** 2);
  const medialDy = ((a * a - b * b) * Math.sin(phi) * Math.cos(phi)) / reach;
  return { centre: [facetX + reach, facetY - medialDy], semiAxes, angleDeg };
}
