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

describe('groupIntoStacks', () => {
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
