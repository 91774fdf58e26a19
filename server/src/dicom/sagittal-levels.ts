/**
 * Disc levels from the sagittal series (cross-reference geometry, PS3.3 §C.7.6.2): every axial stack is planned
 * on one disc, so its plane cuts the mid-sagittal image along that disc. Each stack's strip of the sagittal image
 * is a template of "a disc in this patient"; sliding the templates along the spine finds the discs the axial
 * series skipped — between stacks and, above all, below the lowest one — and the discs are then numbered up from
 * the lowest, L5-S1, as a radiologist counts up from the sacrum. Counting from the lowest axial stack alone
 * mislabels every level when the axial series does not start at L5-S1.
 *
 * The similarity is the normalized cross-correlation of intensity strips, so it needs no trained model and does
 * not care whether this patient's discs are bright (hydrated) or dark (desiccated) on T2. Its own calibration —
 * how alike two of this patient's known discs are, against a disc and a vertebral body — decides what counts as
 * a disc, and a decision close to that line is reported as uncertain.
 */
import { DISC_LEVELS, type DiscLevel, type LevelAssignment } from '../findings/findings';
import { dot, type SliceGeometry, type Vec3 } from './geometry';
import type { LevelStack, PositionedSlice, Stack } from './stacks';

export interface SagittalImage {
  geometry: SliceGeometry;
  width: number;
  height: number;
  /** Modality values, row-major. */
  pixels: Float32Array;
  /** For messages: "series 2 'SAG T2 TSE'". */
  label: string;
}

export class SagittalCrossReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SagittalCrossReferenceError';
  }
}

/** Strip sampled around a line on the sagittal image: ±HALF_LENGTH mm along the disc, ±HALF_HEIGHT mm across. */
const HALF_LENGTH_MM = 22;
const HALF_HEIGHT_MM = 7;
/** Adult lumbar disc-to-disc spacing when the stacks do not tell (about 35–40 mm, smaller in small patients). */
const DEFAULT_SPACING_MM = 36;
/**
 * Where a strip counts as a disc, on the scale from the typical vertebral body (0) to the typical known disc (1).
 * Low, because the lowest lumbar disc is the least like the others (wedge-shaped, steeply tilted) while what lies
 * below it — the sacrum — scores like a vertebral body; on 10 synthetic studies × 5 axial coverages the discs the
 * axial series skipped scored 0.15–2.3 and the bone below L5-S1 −1.4–0.02. Scores in DOUBT_BAND are reported as
 * uncertain. On 20 studies × 5 coverages (seeds 1–20): 87 of 100 right, 6 left to counting, and the 7 wrong — axial
 * series stopping above L5-S1 — all carried the uncertainty warning.
 */
const DISC_THRESHOLD = 0.12;
const DOUBT_BAND: [number, number] = [-0.1, 0.45];
/** Shifts tried up and down the spine, mm: the strip is 15 mm high and a disc about 10. */
const SHIFT_STEP_MM = 2;
/** A disc is looked for within ± this fraction of the spacing from where the spacing puts it. */
const SEARCH_SLACK = 0.25;

type Point = [number, number];

/** A strip's tilt (radians) and shift along the disc (mm) relative to its stack's line: the spine curves. */
interface Pose {
  angle: number;
  lateral: number;
}
const STRAIGHT: Pose = { angle: 0, lateral: 0 };
/** Poses tried for a disc the axial series skipped: lordosis tilts neighbouring discs by up to ~25° and a few mm. */
const SEARCH_POSES: Pose[] = [-24, -16, -8, 0, 8, 16, 24].flatMap((degrees) =>
  [-4, 0, 4].map((lateral) => ({ angle: (degrees * Math.PI) / 180, lateral })),
);

interface StackLine {
  /** Foot of the stack centre on the sagittal plane, in-plane mm (x along rows, y down columns). */
  foot: Point;
  /** Unit in-plane normal of the stack's plane, pointing superior. */
  up: Point;
  /** Unit in-plane direction along the disc, pointing anterior (perpendicular to `up`). */
  forward: Point;
}

/** In-plane mm coordinates of the stack plane's intersection with the sagittal plane. */
function stackLine(normal: Vec3, centre: Vec3, sagittal: SliceGeometry): StackLine | undefined {
  const up3: Vec3 = normal[2] < 0 ? [-normal[0], -normal[1], -normal[2]] : normal;
  const a: Point = [dot(up3, sagittal.rowCosine), dot(up3, sagittal.columnCosine)];
  const length = Math.hypot(a[0], a[1]);
  // A stack plane parallel to the sagittal plane never crosses it in a line.
  if (length < 0.3) return undefined;
  const relative: Vec3 = [
    centre[0] - sagittal.position[0],
    centre[1] - sagittal.position[1],
    centre[2] - sagittal.position[2],
  ];
  const projected: Point = [dot(relative, sagittal.rowCosine), dot(relative, sagittal.columnCosine)];
  // Move the projected centre onto the line a·p = up3·relative.
  const excess = (a[0] * projected[0] + a[1] * projected[1] - dot(up3, relative)) / (length * length);
  const up: Point = [a[0] / length, a[1] / length];
  // Patient anterior is −y in LPS; orient the disc direction toward it so every strip runs the same way.
  const anterior: Point = [-sagittal.rowCosine[1], -sagittal.columnCosine[1]];
  const along: Point = [-up[1], up[0]];
  const sign = along[0] * anterior[0] + along[1] * anterior[1] < 0 ? -1 : 1;
  return {
    foot: [projected[0] - excess * a[0], projected[1] - excess * a[1]],
    up,
    forward: [sign * along[0], sign * along[1]],
  };
}

/** The line `shift` mm up the spine from `line`, turned and moved along the disc by `pose`. */
function lineAt(line: StackLine, shift: number, pose: Pose): StackLine {
  const cos = Math.cos(pose.angle);
  const sin = Math.sin(pose.angle);
  const turn = (v: Point): Point => [cos * v[0] - sin * v[1], sin * v[0] + cos * v[1]];
  return {
    foot: [
      line.foot[0] + shift * line.up[0] + pose.lateral * line.forward[0],
      line.foot[1] + shift * line.up[1] + pose.lateral * line.forward[1],
    ],
    up: turn(line.up),
    forward: turn(line.forward),
  };
}

/**
 * The strip centred `shift` mm up the spine from the line's foot, on a 1 mm grid, undefined when it leaves the image.
 * Each line of the strip that runs up the spine is centred on its own mean, so that structures running along the
 * spine (the CSF column, the anterior and posterior walls) cancel and what remains is what changes from disc to
 * vertebral body.
 */
function strip(image: SagittalImage, line: StackLine, shift: number, pose: Pose = STRAIGHT): Float32Array | undefined {
  // Centred on the stack centre's foot: the technologist centres the axial field of view on the disc and canal.
  const { foot: centre, up, forward: along } = lineAt(line, shift, pose);
  const length = 2 * HALF_LENGTH_MM + 1;
  const height = 2 * HALF_HEIGHT_MM + 1;
  // Work in pixel units: one step along the disc / up the spine, in columns and rows.
  const perColumn = 1 / image.geometry.pixelSpacing[1];
  const perRow = 1 / image.geometry.pixelSpacing[0];
  const alongStep: Point = [along[0] * perColumn, along[1] * perRow];
  const upStep: Point = [up[0] * perColumn, up[1] * perRow];
  const origin: Point = [
    centre[0] * perColumn - HALF_LENGTH_MM * alongStep[0] - HALF_HEIGHT_MM * upStep[0],
    centre[1] * perRow - HALF_LENGTH_MM * alongStep[1] - HALF_HEIGHT_MM * upStep[1],
  ];
  // The strip is a parallelogram: inside the image when its four corners are.
  for (const [t, d] of [
    [0, 0],
    [length - 1, 0],
    [0, height - 1],
    [length - 1, height - 1],
  ] as const) {
    const column = origin[0] + t * alongStep[0] + d * upStep[0];
    const row = origin[1] + t * alongStep[1] + d * upStep[1];
    if (column < 0 || row < 0 || column > image.width - 1 || row > image.height - 1) return undefined;
  }
  const { pixels, width } = image;
  const lastColumn = image.width - 1;
  const lastRow = image.height - 1;
  const out = new Float32Array(length * height);
  for (let t = 0; t < length; t++) {
    let mean = 0;
    for (let d = 0; d < height; d++) {
      const column = origin[0] + t * alongStep[0] + d * upStep[0];
      const row = origin[1] + t * alongStep[1] + d * upStep[1];
      const c0 = Math.min(Math.floor(column), lastColumn - 1);
      const r0 = Math.min(Math.floor(row), lastRow - 1);
      const fc = column - c0;
      const fr = row - r0;
      const i = r0 * width + c0;
      const top = (pixels[i] as number) * (1 - fc) + (pixels[i + 1] as number) * fc;
      const bottom = (pixels[i + width] as number) * (1 - fc) + (pixels[i + width + 1] as number) * fc;
      const value = top * (1 - fr) + bottom * fr;
      out[d * length + t] = value;
      mean += value;
    }
    mean /= height;
    for (let d = 0; d < height; d++) out[d * length + t] = (out[d * length + t] as number) - mean;
  }
  return out;
}

function normalizedCrossCorrelation(a: Float32Array, b: Float32Array): number {
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < a.length; i++) {
    meanA += a[i] ?? 0;
    meanB += b[i] ?? 0;
  }
  meanA /= a.length;
  meanB /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = (a[i] ?? 0) - meanA;
    const db = (b[i] ?? 0) - meanB;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

interface DiscMatch {
  score: number;
  shift: number;
  pose: Pose;
}

interface DiscMatcher {
  /** Mean similarity of the strip `shift` mm up from `line` to the discs of the stacks, best within ±slack mm. */
  score(line: StackLine, shift: number, slack: number, exclude?: number): DiscMatch | undefined;
  threshold: number;
  /** Scores in this range are reported as uncertain, on either side of the threshold. */
  doubtful: [number, number];
  /** Disc-to-disc minus disc-to-body similarity: how well this image separates the two. */
  contrast: number;
}

/** The mean of the strips (all known discs, or all but one): averaging keeps the disc and loses the noise. */
function meanTemplate(templates: (Float32Array | undefined)[], exclude?: number): Float32Array | undefined {
  const chosen = templates.filter((template, k): template is Float32Array => !!template && k !== exclude);
  const first = chosen[0];
  if (!first) return undefined;
  const mean = new Float32Array(first.length);
  for (const template of chosen) for (let i = 0; i < mean.length; i++) mean[i] = (mean[i] ?? 0) + (template[i] ?? 0);
  return mean;
}

function discMatcher(image: SagittalImage, lines: StackLine[], spacing: number): DiscMatcher {
  const strips = lines.map((line) => strip(image, line, 0));
  const all = meanTemplate(strips);
  const allButOne = strips.map((_, k) => meanTemplate(strips, k));
  const score: DiscMatcher['score'] = (line, shift, slack, exclude) => {
    const template = exclude === undefined ? all : allButOne[exclude];
    if (!template) return undefined;
    let best: DiscMatch | undefined;
    for (let s = Math.round(shift - slack); s <= Math.round(shift + slack); s += SHIFT_STEP_MM) {
      for (const pose of SEARCH_POSES) {
        const candidate = strip(image, line, s, pose);
        if (!candidate) continue;
        const similarity = normalizedCrossCorrelation(template, candidate);
        if (!best || similarity > best.score) best = { score: similarity, shift: s, pose };
      }
    }
    return best;
  };
  // Calibration on this image: each known disc against the others, and against the vertebral bodies beside it.
  const discScores: number[] = [];
  const bodyScores: number[] = [];
  lines.forEach((line, k) => {
    const disc = lines.length > 1 ? score(line, 0, SEARCH_SLACK * spacing, k) : undefined;
    if (disc) discScores.push(disc.score);
    for (const side of [-1, 1]) {
      const body = score(line, (side * spacing) / 2, SEARCH_SLACK * spacing);
      if (body) bodyScores.push(body.score);
    }
  });
  // One stack has no second disc to compare with; its own template scores 1 at its own place, so use the
  // correlation expected of two different discs in the same patient.
  const disc = discScores.length ? median(discScores) : 0.6;
  const body = bodyScores.length ? median(bodyScores) : 0;
  const contrast = disc - body;
  return {
    score,
    contrast,
    threshold: body + DISC_THRESHOLD * contrast,
    doubtful: [body + DOUBT_BAND[0] * contrast, body + DOUBT_BAND[1] * contrast],
  };
}

/** Spacing between adjacent discs along the spine, from the stacks when two of them are one disc apart. */
function discSpacing(lines: StackLine[]): number {
  const gaps = lines
    .slice(1)
    .map((line, i) => {
      const below = lines[i];
      return below ? Math.hypot(line.foot[0] - below.foot[0], line.foot[1] - below.foot[1]) : 0;
    })
    .filter((gap) => gap > 0);
  const single = gaps.filter((gap) => gap >= 22 && gap <= 52);
  if (single.length) return median(single);
  // Only gaps of two or more levels: take the one that divides best into a plausible spacing.
  const smallest = Math.min(...gaps, Infinity);
  return Number.isFinite(smallest)
    ? smallest / Math.max(1, Math.round(smallest / DEFAULT_SPACING_MM))
    : DEFAULT_SPACING_MM;
}

export interface SagittalLevels<T extends PositionedSlice> {
  stacks: LevelStack<T>[];
  warnings: string[];
  assignment: LevelAssignment;
}

const MAX_DISCS_BELOW = 5;

/**
 * Numbers the stacks' discs on the sagittal image. Throws SagittalCrossReferenceError when the sagittal image
 * cannot be used (no stack crosses it, or it does not tell discs from vertebral bodies): the caller then falls
 * back to counting and says why.
 */
export function assignLevelsFromSagittal<T extends PositionedSlice>(
  stacks: Stack<T>[],
  sagittal: SagittalImage,
): SagittalLevels<T> {
  const bottomUp = [...stacks].sort((a, b) => a.centreZ - b.centreZ);
  const lines = bottomUp.map((stack) => {
    const count = stack.slices.length;
    const normal = stack.slices[0]?.geometry.normal ?? ([0, 0, 1] as Vec3);
    const centre = stack.slices
      .map((slice) => slice.geometry.centre ?? slice.geometry.position)
      .reduce<Vec3>((sum, p) => [sum[0] + p[0] / count, sum[1] + p[1] / count, sum[2] + p[2] / count], [0, 0, 0]);
    return stackLine(normal, centre, sagittal.geometry);
  });
  if (lines.some((line) => !line || !strip(sagittal, line, 0))) {
    throw new SagittalCrossReferenceError(
      `the axial stacks do not all cross the sagittal ${sagittal.label} inside its field of view`,
    );
  }
  const known = lines as StackLine[];
  const spacing = discSpacing(known);
  const matcher = discMatcher(sagittal, known, spacing);
  if (matcher.contrast < 0.15) {
    throw new SagittalCrossReferenceError(
      `discs and vertebral bodies are not distinguishable on the sagittal ${sagittal.label} (similarity contrast ${matcher.contrast.toFixed(2)})`,
    );
  }
  const warnings: string[] = [];
  const doubts: string[] = [];

  // Discs below the lowest stack: step down one spacing at a time while the strip there looks like a disc.
  let lowestDisc = known[0] as StackLine;
  let below = 0;
  // How many of the discs counted below scored only in the doubtful band (the lowest ones come last).
  let doubtfulBelow = 0;
  for (;;) {
    const found = matcher.score(lowestDisc, -spacing, SEARCH_SLACK * spacing);
    if (!found) {
      if (below === 0)
        doubts.push(`the sagittal ${sagittal.label} does not reach one disc below the lowest axial stack`);
      break;
    }
    if (found.score > matcher.doubtful[0] && found.score < matcher.doubtful[1])
      doubts.push(`the image ${Math.round(-found.shift)} mm below the lowest disc found looks partly like a disc`);
    if (found.score < matcher.threshold || below === MAX_DISCS_BELOW) break;
    below++;
    doubtfulBelow = found.score < matcher.doubtful[1] ? doubtfulBelow + 1 : 0;
    // Follow the lordotic curve: the next disc down is looked for along this one's tilt.
    lowestDisc = lineAt(lowestDisc, found.shift, found.pose);
  }

  // Discs between stacks: how many spacings fit in each gap, each checked on the image.
  const discIndex: number[] = [below];
  for (let k = 1; k < known.length; k++) {
    const line = known[k] as StackLine;
    const previous = known[k - 1] as StackLine;
    const gap = Math.hypot(line.foot[0] - previous.foot[0], line.foot[1] - previous.foot[1]);
    const skipped = Math.max(0, Math.round(gap / spacing) - 1);
    for (let j = 1; j <= skipped; j++) {
      const found = matcher.score(previous, (gap * j) / (skipped + 1), SEARCH_SLACK * spacing);
      if (!found || found.score < matcher.doubtful[1])
        doubts.push(`no clear disc where one should lie between two axial stacks ${Math.round(gap)} mm apart`);
    }
    discIndex.push((discIndex[k - 1] ?? 0) + 1 + skipped);
  }

  // Five lumbar discs: a doubtful disc counted below that would push an axial stack above L1-L2 is more likely the
  // sacrum (or S1-S2) than a sixth disc, since a lumbar axial series seldom covers T12-L1 yet skips L5-S1.
  const excess = Math.min(
    doubtfulBelow,
    Math.max(0, (discIndex[discIndex.length - 1] ?? 0) - (DISC_LEVELS.length - 1)),
  );
  if (excess > 0) {
    below -= excess;
    for (let k = 0; k < discIndex.length; k++) discIndex[k] = (discIndex[k] ?? 0) - excess;
    doubts.push(
      `${excess} doubtful disc(s) below the lowest axial stack were not counted, as counting them would put an axial stack above L1-L2`,
    );
  }

  const levelsBottomUp = [...DISC_LEVELS].reverse();
  const assigned: LevelStack<T>[] = [];
  bottomUp.forEach((stack, k) => {
    const level: DiscLevel | undefined = levelsBottomUp[discIndex[k] ?? 0];
    if (level) assigned.push({ ...stack, level });
    else
      warnings.push(
        `An axial stack lies above L1-L2 on the sagittal ${sagittal.label} (disc ${(discIndex[k] ?? 0) + 1} counted up from L5-S1) and was not analyzed.`,
      );
  });
  if (assigned.length === 0) {
    throw new SagittalCrossReferenceError(`no axial stack lies at L1-L2 … L5-S1 on the sagittal ${sagittal.label}`);
  }
  if (doubts.length) {
    warnings.push(
      `Disc levels are uncertain: ${doubts.join('; ')}. Check the levels against the sagittal ${sagittal.label}.`,
    );
  }
  const skippedBelow = below ? `; ${below} disc(s) below the lowest axial stack have no axial images` : '';
  return {
    stacks: assigned,
    warnings,
    assignment: {
      method: 'sagittal-cross-reference',
      description: `Disc levels were assigned on the sagittal ${sagittal.label}: each axial stack was located on it and the discs counted up from the lowest (L5-S1)${skippedBelow}.`,
    },
  };
}
