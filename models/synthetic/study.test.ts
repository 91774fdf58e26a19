import { describe, expect, it } from 'vitest';
import type { DiscLevel } from '../../server/src/findings/findings';
import { readPart10 } from './dcmjs';
import type { PlannedHerniation } from './realistic/herniation';
import type { GeneratedStudy, PhantomStudyOptions } from './phantom';
import { generateSyntheticStudy } from './study';

// The mock EHR seeds itself through (options: PhantomStudyOptions) => GeneratedStudy: the realistic generator must
// drop in with a one-line change, so this must keep compiling.
const dropIn: (options: PhantomStudyOptions) => GeneratedStudy = generateSyntheticStudy;

const fast = { matrix: 256, slicesPerLevel: 3, axialOnly: true } as const;

/** Five planned classes per study, one per level: three studies cover every grade × zone. */
const PLANS: Partial<Record<DiscLevel, PlannedHerniation>>[] = [
  {
    'L1-L2': { grade: 1, zone: 'A', side: 'central' },
    'L2-L3': { grade: 2, zone: 'B', side: 'left' },
    'L3-L4': { grade: 3, zone: 'C', side: 'right' },
    'L4-L5': { grade: 1, zone: 'AB', side: 'left' },
    'L5-S1': { grade: 2, zone: 'BC', side: 'right' },
  },
  {
    'L1-L2': { grade: 2, zone: 'A', side: 'left' },
    'L2-L3': { grade: 3, zone: 'B', side: 'right' },
    'L3-L4': { grade: 1, zone: 'C', side: 'left' },
    'L4-L5': { grade: 2, zone: 'AB', side: 'central' },
    'L5-S1': { grade: 3, zone: 'BC', side: 'left' },
  },
  {
    'L1-L2': { grade: 3, zone: 'A', side: 'central' },
    'L2-L3': { grade: 1, zone: 'B', side: 'right' },
    'L3-L4': { grade: 2, zone: 'C', side: 'right' },
    'L4-L5': { grade: 3, zone: 'AB', side: 'right' },
    'L5-S1': { grade: 1, zone: 'BC', side: 'left' },
  },
];

describe('generateSyntheticStudy', () => {
  it('when used where the phantom generator was, then it returns the same shape with the axial series first', () => {
    // Seed 1 draws the smallest protocol (256², 3 slices per level), to keep the test fast.
    const study = dropIn({ seed: 1, patientId: 'P1', herniations: {} });
    expect(study.instances[0]?.seriesInstanceUid).toBe(study.seriesInstanceUid);
    expect(study.groundTruth.seriesInstanceUid).toBe(study.seriesInstanceUid);
  });

  it('when called twice with the same options, then every file and the truth are byte-identical', () => {
    const a = generateSyntheticStudy({ seed: 5, patientId: 'P5', ...fast });
    const b = generateSyntheticStudy({ seed: 5, patientId: 'P5', ...fast });
    expect(a.instances.map((i) => Buffer.from(i.part10).toString('base64'))).toEqual(
      b.instances.map((i) => Buffer.from(i.part10).toString('base64')),
    );
    expect(a.groundTruth).toEqual(b.groundTruth);
    const c = generateSyntheticStudy({ seed: 6, patientId: 'P5', ...fast });
    expect(Buffer.from(c.instances[0]?.part10 ?? []).equals(Buffer.from(a.instances[0]?.part10 ?? []))).toBe(false);
  });

  it.each(PLANS.map((plan, index) => [index, plan] as const))(
    'when herniations of planned MSU classes are drawn (set %i), then the truth measured on the key slice gives those classes',
    (index, plan) => {
      const study = generateSyntheticStudy({ seed: 100 + index, patientId: 'P', herniations: plan, ...fast });
      for (const level of study.groundTruth.levels) {
        const planned = plan[level.level];
        expect(level.herniation, level.level).toBe(true);
        if (!level.herniation || !planned) continue;
        expect({ level: level.level, grade: level.grade, zone: level.zone, side: level.side }).toEqual({
          level: level.level,
          ...planned,
        });
        // The key slice is the slice with the largest herniation, and its box is the one reported.
        const slices = level.herniationSlices ?? [];
        const largest = slices.reduce((best, slice) => (slice.pixels > best.pixels ? slice : best));
        expect(level.keySlice.sopInstanceUid).toBe(largest.sopInstanceUid);
        expect(level.box).toEqual(largest.box);
        // The box lies posterior to the disc margin, between the image edges.
        const [x0, y0, x1, y1] = level.box;
        expect(x1).toBeGreaterThan(x0);
        expect(y1).toBeGreaterThan(y0);
        expect(x1).toBeLessThanOrEqual(256);
      }
    },
  );

  it('when no herniations are asked for, then every level is normal and still has a key slice and intra-facet line', () => {
    const study = generateSyntheticStudy({ seed: 9, patientId: 'P9', herniations: {}, ...fast });
    expect(study.groundTruth.levels.map((level) => level.level)).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1']);
    for (const level of study.groundTruth.levels) {
      expect(level.herniation).toBe(false);
      expect(level.keySlice).toBeDefined();
      expect(level.intraFacetLine).toHaveLength(2);
    }
  });

  it('when a study has both series, then each axial stack is planar, evenly spaced along its normal, and the sagittal series is sagittal', () => {
    const study = generateSyntheticStudy({
      seed: 21,
      patientId: 'P21',
      matrix: 256,
      slicesPerLevel: 4,
      herniations: {},
    });
    expect(study.series.map((series) => series.description)).toEqual(['AX T2 TSE', 'SAG T2 TSE']);
    const axial = (study.series[0]?.instances ?? []).map((instance) => readPart10(instance.part10));
    expect(axial).toHaveLength(20);
    for (let stack = 0; stack < 5; stack++) {
      const slices = axial.slice(stack * 4, stack * 4 + 4);
      const orientation = slices[0]?.ImageOrientationPatient as number[];
      const row = orientation.slice(0, 3);
      const column = orientation.slice(3, 6);
      const normal = [
        (row[1] ?? 0) * (column[2] ?? 0) - (row[2] ?? 0) * (column[1] ?? 0),
        (row[2] ?? 0) * (column[0] ?? 0) - (row[0] ?? 0) * (column[2] ?? 0),
        (row[0] ?? 0) * (column[1] ?? 0) - (row[1] ?? 0) * (column[0] ?? 0),
      ];
      expect(normal[2]).toBeGreaterThan(0.9); // axial, superior normal
      const along = slices.map((slice) => {
        expect(slice.ImageOrientationPatient).toEqual(orientation);
        const position = slice.ImagePositionPatient as number[];
        return position.reduce((sum, value, axis) => sum + value * (normal[axis] ?? 0), 0);
      });
      const spacing = Number(slices[0]?.SpacingBetweenSlices);
      for (let k = 1; k < along.length; k++) expect((along[k] ?? 0) - (along[k - 1] ?? 0)).toBeCloseTo(spacing, 2);
      expect(slices[0]?.SliceThickness).toBeGreaterThanOrEqual(3);
    }
    const sagittal = readPart10(study.series[1]?.instances[0]?.part10 ?? new Uint8Array());
    expect(sagittal.ImageOrientationPatient).toEqual([0, 1, 0, 0, 0, -1]);
    expect(study.fhir.imagingStudy.numberOfInstances).toBe(study.instances.length);
    expect(study.fhir.imagingStudy.series?.map((series) => series.uid)).toEqual(
      study.series.map((s) => s.seriesInstanceUid),
    );
    expect(study.fhir.imagingStudy.subject.reference).toBe(`Patient/${study.fhir.patient.id}`);
  });

  it('when the herniated level is rendered, then its key slice shows intermediate disc material where the box is', () => {
    const study = generateSyntheticStudy({
      seed: 31,
      patientId: 'P31',
      herniations: { 'L4-L5': { grade: 3, zone: 'A', side: 'central' } },
      snr: 'high',
      ...fast,
    });
    const level = study.groundTruth.levels.find((entry) => entry.level === 'L4-L5');
    if (!level?.herniation) throw new Error('expected a herniation at L4-L5');
    const slice = study.axialPixels.find((entry) => entry.sopInstanceUid === level.keySlice.sopInstanceUid);
    if (!slice) throw new Error('key slice missing');
    const [x0, y0, x1, y1] = level.box;
    const cx = Math.floor((x0 + x1) / 2);
    const cy = Math.floor((y0 + y1) / 2);
    const inside = slice.pixels[cy * slice.columns + cx] ?? 0;
    // CSF is the brightest tissue: the herniation (≤ 0.65 of CSF) must be clearly darker than the canal's brightest.
    let brightest = 0;
    for (let r = y0 - 15; r < y1 + 15; r++)
      for (let c = x0 - 15; c < x1 + 15; c++) brightest = Math.max(brightest, slice.pixels[r * slice.columns + c] ?? 0);
    expect(inside).toBeLessThan(brightest * 0.75);
    expect(inside).toBeGreaterThan(brightest * 0.15);
  });
});
