import { describe, expect, it } from 'vitest';
import {
  findingsToRows,
  formatConfidence,
  levelFindingToMsu,
  keySliceLabel,
  levelFindingToRow,
  modelLabel,
} from './findings-rows';
import { aHerniation, aNormalLevel, someFindings } from './test-factories';

describe('findings rows', () => {
  it('when a level has a herniation, then the finding is the MSU grade-zone string', () => {
    expect(levelFindingToMsu(aHerniation({ grade: 2, zone: 'AB' }))).toBe('2-AB');
    expect(levelFindingToMsu(aHerniation({ grade: 3, zone: 'C' }))).toBe('3-C');
  });

  it('when a level has no herniation, then it reads "No herniation" with dashes for grade, zone and side', () => {
    const row = levelFindingToRow(aNormalLevel({ level: 'L5-S1', confidence: 0.97 }));
    expect(row).toMatchObject({
      level: 'L5-S1',
      finding: 'No herniation',
      grade: '—',
      zone: '—',
      side: '—',
      confidence: '97%',
    });
    expect(row.keySlice).toBe('—');
  });

  it('when a herniation row is built, then it shows grade, zone, capitalised side, percent and the key slice', () => {
    const row = levelFindingToRow(aHerniation());
    expect(row).toMatchObject({
      finding: '2-AB',
      grade: '2',
      zone: 'AB',
      side: 'Left',
      confidence: '93%',
    });
    expect(row.keySlice).toBe('Key slice');
    expect(row.keySliceFull).toBe('SOP Instance UID 1.2.826.0.1.3680043.8.498.10293847561.42, frame 1');
  });

  it('when the server sends levels out of order, missing or repeated, then the table still has L1-L2 … L5-S1 once each', () => {
    const rows = findingsToRows(
      someFindings({
        levels: [
          aNormalLevel({ level: 'L5-S1' }),
          aHerniation({ level: 'L4-L5', zone: 'B' }),
          aHerniation({ level: 'L4-L5', zone: 'C' }),
        ],
      }),
    );
    expect(rows.map((row) => row.level)).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1']);
    expect(rows.map((row) => row.finding)).toEqual([
      'Not assessed',
      'Not assessed',
      'Not assessed',
      '2-B',
      'No herniation',
    ]);
  });

  it('when confidence is outside 0..1 or not a number, then a dash is shown rather than a wrong percentage', () => {
    expect(formatConfidence(0)).toBe('0%');
    expect(formatConfidence(1)).toBe('100%');
    expect(formatConfidence(0.995)).toBe('100%');
    expect(formatConfidence(1.2)).toBe('—');
    expect(formatConfidence(Number.NaN)).toBe('—');
    expect(formatConfidence(undefined)).toBe('—');
  });

  it("when the level's stack is known, then the key slice is its position in the stack, never a UID", () => {
    const keySlice = { sopInstanceUid: '1.2.3.3', frame: 1 };
    const stack = {
      level: 'L4-L5' as const,
      slices: [1, 2, 3, 4].map((n) => ({ sopInstanceUid: `1.2.3.${n}`, frame: 1, position: n * 4 })),
    };
    expect(keySliceLabel(keySlice, stack)).toBe('Key slice 3 of 4');
    expect(keySliceLabel(keySlice)).toBe('Key slice');
    expect(keySliceLabel({ sopInstanceUid: '9.9', frame: 1 }, stack)).toBe('Key slice');
    expect(keySliceLabel(undefined, stack)).toBe('—');
    const rows = findingsToRows(someFindings({ levels: [aHerniation({ keySlice })] }), { levels: [stack] });
    expect(rows[3]?.keySlice).toBe('Key slice 3 of 4');
  });

  it('names the model by id and version', () => {
    expect(modelLabel(someFindings())).toBe('msu-ldh-phantom 0.1.0');
  });
});
