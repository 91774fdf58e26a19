/**
 * Axial slices → stacks → disc levels. One lumbar axial series usually holds one short, angled stack per
 * disc; stacks are separated by gaps along the slice normal much larger than the slice spacing inside a
 * stack, or by a change of angle.
 */
import { DISC_LEVELS, type DiscLevel } from '../inference/findings';
import { dot, normalize, type SliceGeometry, type Vec3 } from './geometry';

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
  /** A change of slice angle above this (degrees) starts a new stack. */
  maxAngleDegrees?: number;
}

const angleDegrees = (a: Vec3, b: Vec3): number => (Math.acos(Math.min(1, Math.abs(dot(a, b)))) * 180) / Math.PI;

export function groupIntoStacks<T extends PositionedSlice>(slices: T[], options: StackingOptions = {}): Stack<T>[] {
  if (slices.length === 0) return [];
  const gapFactor = options.gapFactor ?? 2;
  const maxAngle = options.maxAngleDegrees ?? 3;
  // Order along the mean normal, oriented toward +z (superior), so "lowest" means most inferior.
  const sum = slices.reduce<Vec3>(
    (acc, s) => [acc[0] + s.geometry.normal[0], acc[1] + s.geometry.normal[1], acc[2] + s.geometry.normal[2]],
    [0, 0, 0],
  );
  const axis = normalize(sum[2] < 0 ? [-sum[0], -sum[1], -sum[2]] : sum);
  const ordered = slices
    .map((slice) => ({ slice, along: dot(slice.geometry.position, axis) }))
    .sort((a, b) => a.along - b.along);
  const gaps = ordered.slice(1).map((entry, i) => entry.along - (ordered[i]?.along ?? entry.along));
  const sortedGaps = [...gaps].sort((a, b) => a - b);
  // The median gap is the in-stack spacing as long as most slices sit inside stacks (≥ 2 slices per stack).
  const medianGap = sortedGaps[Math.floor((sortedGaps.length - 1) / 2)] ?? 0;
  const stacks: T[][] = [];
  let current: T[] = [];
  ordered.forEach((entry, i) => {
    const previous = ordered[i - 1];
    const gap = gaps[i - 1] ?? 0;
    const breaks =
      previous !== undefined &&
      ((medianGap > 0 && gap > gapFactor * medianGap) ||
        angleDegrees(previous.slice.geometry.normal, entry.slice.geometry.normal) > maxAngle);
    if (breaks && current.length > 0) {
      stacks.push(current);
      current = [];
    }
    current.push(entry.slice);
  });
  if (current.length > 0) stacks.push(current);
  return stacks
    .map((stackSlices) => ({
      slices: stackSlices,
      centreZ: stackSlices.reduce((acc, s) => acc + s.geometry.position[2], 0) / stackSlices.length,
    }))
    .sort((a, b) => a.centreZ - b.centreZ);
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
