/**
 * Axial slices → stacks → disc levels. One lumbar axial series usually holds one short, angled stack per
 * disc; stacks are separated by gaps along the slice normal much larger than the slice spacing inside a
 * stack, or by a change of angle.
 */
import { DISC_LEVELS, type DiscLevel } from '../findings/findings';
import { dot, type SliceGeometry, type Vec3 } from './geometry';

export interface PositionedSlice {
  geometry: SliceGeometry;
}

export interface Stack<T extends PositionedSlice> {
  slices: T[];
  /** Mean position of the slice centres' origins along patient z (+z superior), mm. */
  centreZ: number;
}

export class LevelAssignmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LevelAssignmentError';
  }
}

export interface StackingOptions {
  /** A neighbour gap larger than this multiple of the median gap starts a new stack. */
  gapFactor?: number;
  /** A change of slice angle above this (degrees; default 0.5) starts a new stack. */
  maxAngleDegrees?: number;
}

/**
 * Every slice of one prescribed stack shares its ImageOrientationPatient (PS3.3 C.7.6.2.1.1: the plane's direction
 * cosines), up to the rounding of its DS values; neighbouring per-disc stacks can differ by as little as 1–2° while
 * touching. Half a degree keeps the rounding in and those stacks apart.
 */
const MAX_IN_STACK_ANGLE_DEGREES = 0.5;

const angleDegrees = (a: Vec3, b: Vec3): number => (Math.acos(Math.min(1, Math.abs(dot(a, b)))) * 180) / Math.PI;

/**
 * Stacks are found in two steps, because lumbar axial stacks are tilted along each disc: slices are first grouped
 * by orientation (normals within `maxAngleDegrees`), then each group is ordered by its plane offset along its own
 * normal (n·P is the same for every point P of a plane, so the corner that ImagePositionPatient names does not
 * matter) and split where the gap exceeds `gapFactor` × the typical in-stack spacing. Stacks are ordered by the
 * height of their image centres (+z superior), so "lowest" means most inferior.
 */
export function groupIntoStacks<T extends PositionedSlice>(slices: T[], options: StackingOptions = {}): Stack<T>[] {
  if (slices.length === 0) return [];
  const gapFactor = options.gapFactor ?? 2;
  const maxAngle = options.maxAngleDegrees ?? MAX_IN_STACK_ANGLE_DEGREES;
  const orientations: { normal: Vec3; members: T[] }[] = [];
  for (const slice of slices) {
    const normal = slice.geometry.normal;
    const group = orientations.find((candidate) => angleDegrees(candidate.normal, normal) <= maxAngle);
    if (group) group.members.push(slice);
    else orientations.push({ normal, members: [slice] });
  }
  const ordered = orientations.map(({ normal, members }) => {
    const axis = normal[2] < 0 ? ([-normal[0], -normal[1], -normal[2]] as Vec3) : normal;
    const along = members
      .map((slice) => ({ slice, offset: dot(slice.geometry.position, axis) }))
      .sort((x, y) => x.offset - y.offset);
    return { along, gaps: along.slice(1).map((entry, i) => entry.offset - (along[i]?.offset ?? entry.offset)) };
  });
  // The typical in-stack spacing: the median of all gaps inside orientation groups, most of which are in-stack
  // (≥ 2 slices per stack); a group of two slices from neighbouring discs is still split against it.
  const allGaps = ordered.flatMap((group) => group.gaps).sort((x, y) => x - y);
  const spacing = allGaps[Math.floor((allGaps.length - 1) / 2)] ?? 0;
  const stacks: T[][] = [];
  for (const { along, gaps } of ordered) {
    let current: T[] = [];
    along.forEach((entry, i) => {
      const gap = i > 0 ? (gaps[i - 1] ?? 0) : 0;
      if (i > 0 && spacing > 0 && gap > gapFactor * spacing && current.length > 0) {
        stacks.push(current);
        current = [];
      }
      current.push(entry.slice);
    });
    if (current.length > 0) stacks.push(current);
  }
  const heightOf = (slice: T): number => (slice.geometry.centre ?? slice.geometry.position)[2];
  return stacks
    .map((stackSlices) => ({
      slices: stackSlices,
      centreZ: stackSlices.reduce((acc, s) => acc + heightOf(s), 0) / stackSlices.length,
    }))
    .sort((x, y) => x.centreZ - y.centreZ);
}

export interface LevelStack<T extends PositionedSlice> extends Stack<T> {
  level: DiscLevel;
}

export const LEVELS_BY_COUNTING_WARNING =
  'Disc levels were assigned by counting up from the lowest axial stack (L5-S1 = most inferior); check them against a sagittal image.';

/**
 * Assigns disc levels counting up from the most inferior stack (+z is superior in LPS): the lowest stack is
 * L5-S1. Refuses — rather than inventing a level — unless exactly one stack per expected level is found.
 */
export function assignLevels<T extends PositionedSlice>(
  stacks: Stack<T>[],
  expectedLevels: readonly DiscLevel[] = DISC_LEVELS,
): { stacks: LevelStack<T>[]; warnings: string[] } {
  if (stacks.length !== expectedLevels.length) {
    throw new LevelAssignmentError(
      `Found ${stacks.length} axial stack(s) but expected ${expectedLevels.length} (${expectedLevels.join(', ')}); cannot assign disc levels without guessing`,
    );
  }
  const bottomUp = [...stacks].sort((a, b) => a.centreZ - b.centreZ);
  const levelsBottomUp = [...expectedLevels].sort((a, b) => DISC_LEVELS.indexOf(b) - DISC_LEVELS.indexOf(a));
  return {
    stacks: bottomUp.map((stack, i) => ({ ...stack, level: levelsBottomUp[i] ?? 'L5-S1' })),
    warnings: [LEVELS_BY_COUNTING_WARNING],
  };
}
