import { describe, expect, it } from 'vitest';
import { normalize, type SliceGeometry, type Vec3 } from './geometry';
import { assignLevels, groupIntoStacks, LevelAssignmentError, LEVELS_BY_COUNTING_WARNING } from './stacks';

/** An axial slice at height z, tilted by `tiltDegrees` about the x axis (as lumbar axials follow each disc). */
function slice(z: number, tiltDegrees = 0, name = `z${z}`): { name: string; geometry: SliceGeometry } {
  const t = (tiltDegrees * Math.PI) / 180;
  const columnCosine: Vec3 = [0, Math.cos(t), -Math.sin(t)];
  const normal = normalize([0, Math.sin(t), Math.cos(t)]);
  return {
    name,
    geometry: { rowCosine: [1, 0, 0], columnCosine, normal, position: [-100, -100, z], pixelSpacing: [0.5, 0.5] },
  };
}

/** Five 3-slice stacks, 4 mm apart inside, 35 mm between discs; the lowest at z = 0. */
function lumbarSeries(): ReturnType<typeof slice>[] {
  return [0, 1, 2, 3, 4].flatMap((disc) => [0, 4, 8].map((dz) => slice(disc * 35 + dz, disc * 3, `disc${disc}-${dz}`)));
}

/**
 * A 256 × 256 slice (1 mm pixels) whose image centre is at `centre`, tilted about x. ImagePositionPatient names the
 * top-left corner, 127.5 mm from the centre along both in-plane axes — tens of mm off in z when tilted.
 */
function centredSlice(centre: Vec3, tiltDegrees: number, name: string): { name: string; geometry: SliceGeometry } {
  const t = (tiltDegrees * Math.PI) / 180;
  const rowCosine: Vec3 = [1, 0, 0];
  const columnCosine: Vec3 = [0, Math.cos(t), -Math.sin(t)];
  const half = 127.5;
  const position = [0, 1, 2].map(
    (i) => (centre[i] ?? 0) - (rowCosine[i] ?? 0) * half - (columnCosine[i] ?? 0) * half,
  ) as Vec3;
  return {
    name,
    geometry: {
      rowCosine,
      columnCosine,
      normal: normalize([0, Math.sin(t), Math.cos(t)]),
      position,
      pixelSpacing: [1, 1],
      centre,
    },
  };
}

describe('groupIntoStacks', () => {
  it('when stacks are tilted along lordotic discs so their corners interleave in z, then each disc is still one stack in order', () => {
    const tilts = [-12, 8, -6, 10, -14];
    const series = tilts.flatMap((tilt, disc) => {
      const t = (tilt * Math.PI) / 180;
      return [-4, 0, 4].map((d) =>
        centredSlice(
          [0, d * Math.sin(t), disc * 35 + d * Math.cos(t)],
          tilt,
          `disc${disc}${d > 0 ? '+' : d < 0 ? '-' : '0'}`,
        ),
      );
    });
    const stacks = groupIntoStacks([...series].reverse());
    expect(stacks.map((stack) => stack.slices.map((s) => s.name))).toEqual(
      [0, 1, 2, 3, 4].map((disc) => [`disc${disc}-`, `disc${disc}0`, `disc${disc}+`]),
    );
  });

  it('when slices come in shuffled, then gaps along the normal split them into stacks ordered inferior → superior', () => {
    const stacks = groupIntoStacks([...lumbarSeries()].reverse());
    expect(stacks).toHaveLength(5);
    expect(stacks.map((s) => s.slices.length)).toEqual([3, 3, 3, 3, 3]);
    expect(stacks[0]?.slices.map((s) => s.name)).toEqual(['disc0-0', 'disc0-4', 'disc0-8']);
  });

  it('when two adjacent stacks touch but differ in angle, then the angle change splits them', () => {
    const stacks = groupIntoStacks([slice(0, 0), slice(4, 0), slice(8, 0), slice(12, 10), slice(16, 10)]);
    expect(stacks.map((s) => s.slices.length)).toEqual([3, 2]);
  });

  // Seen in a generated study (seed 953065): the L4-L5 and L5-S1 stacks 2.1° apart and 7.3 mm apart at 5.3 mm
  // spacing were one stack under a 3° tolerance, so four stacks were found and the study was refused.
  it('when two adjacent stacks touch and differ by only 2°, then they are still two stacks', () => {
    const stacks = groupIntoStacks([slice(0, 0), slice(4, 0), slice(8, 0), slice(13, 2), slice(17, 2)]);
    expect(stacks.map((s) => s.slices.length)).toEqual([3, 2]);
  });

  it('when the slices of one stack differ in orientation only by DS rounding, then they stay one stack', () => {
    const stacks = groupIntoStacks([slice(0, 5), slice(4, 5.00001), slice(8, 4.99999)]);
    expect(stacks.map((s) => s.slices.length)).toEqual([3]);
  });
});

describe('assignLevels', () => {
  it('when five stacks are found, then the most inferior is L5-S1 and a warning says levels were counted', () => {
    const { stacks, warnings } = assignLevels(groupIntoStacks(lumbarSeries()));
    expect(stacks.map((s) => s.level)).toEqual(['L5-S1', 'L4-L5', 'L3-L4', 'L2-L3', 'L1-L2']);
    expect(stacks[0]?.slices[0]?.name).toBe('disc0-0');
    expect(warnings).toEqual([LEVELS_BY_COUNTING_WARNING]);
  });

  it('when the stack count differs from the expected levels, then it refuses instead of inventing a level', () => {
    const fourStacks = groupIntoStacks(lumbarSeries().filter((s) => !s.name.startsWith('disc4')));
    expect(() => assignLevels(fourStacks)).toThrow(LevelAssignmentError);
    expect(() => assignLevels(fourStacks)).toThrow(/Found 4 axial stack\(s\) but expected 5/);
  });

  it('when only some levels are expected, then they are assigned from the bottom', () => {
    const twoStacks = groupIntoStacks([slice(0), slice(4), slice(40), slice(44)]);
    expect(assignLevels(twoStacks, ['L4-L5', 'L5-S1']).stacks.map((s) => s.level)).toEqual(['L5-S1', 'L4-L5']);
  });
});
