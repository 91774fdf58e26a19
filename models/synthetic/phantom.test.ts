import { describe, expect, it } from 'vitest';
import { DISC_LEVELS, type HerniationLevelFinding } from '../../server/src/findings/findings';
import { PHANTOM_GEOMETRY, PHANTOM_IMAGE_SIZE } from './anatomy';
import { readPart10, type NaturalDataset } from './dcmjs';
import { classifyMsu, measureBox } from '../../server/src/inference/msu-geometry';
import { generatePhantomStudy, type GeneratedStudy } from './phantom';

function pixelsOf(dataset: NaturalDataset): Uint16Array {
  const frames = dataset.PixelData as ArrayBuffer[];
  const first = frames[0];
  if (!first) throw new Error('no PixelData');
  return new Uint16Array(first);
}

function herniatedLevels(study: GeneratedStudy): HerniationLevelFinding[] {
  return study.groundTruth.levels.filter((level): level is HerniationLevelFinding => level.herniation);
}

/**
 * The intermediate-signal pixels behind the disc margin of a slice: what a reader would call herniated material.
 * Measured on the image itself (not the generator's mask), so a drawing bug cannot hide behind its own bookkeeping.
 */
function measureMaterial(pixels: Uint16Array): [number, number, number, number] | undefined {
  const { x0, y0, x1, y1 } = PHANTOM_GEOMETRY.searchRegion;
  let box: [number, number, number, number] | undefined;
  for (let r = y0; r < y1; r++) {
    for (let c = x0; c < x1; c++) {
      const value = pixels[r * PHANTOM_IMAGE_SIZE + c] ?? 0;
      if (value < 1200 || value > 2200) continue;
      box = box ? [Math.min(box[0], c), y0, Math.max(box[2], c + 1), Math.max(box[3], r + 1)] : [c, y0, c + 1, r + 1];
    }
  }
  return box;
}

describe('generatePhantomStudy', () => {
  it('when called twice with one seed, then the studies are byte-identical', () => {
    const a = generatePhantomStudy({ seed: 11, patientId: 'p1' });
    const b = generatePhantomStudy({ seed: 11, patientId: 'p1' });
    expect(a.groundTruth).toEqual(b.groundTruth);
    expect(a.instances.map((i) => Buffer.from(i.part10).toString('base64'))).toEqual(
      b.instances.map((i) => Buffer.from(i.part10).toString('base64')),
    );
    const c = generatePhantomStudy({ seed: 12, patientId: 'p1' });
    expect(c.studyInstanceUid).not.toBe(a.studyInstanceUid);
  });

  it('when written, then dcmjs reads back an explicit-VR-LE MR axial T2 series with 15 ordered slices', () => {
    const study = generatePhantomStudy({
      seed: 3,
      patientId: 'PAT-3',
      patientName: 'Doe^Jane',
      birthDate: '19700101',
      sex: 'F',
      studyDate: '20250102',
    });
    expect(study.instances).toHaveLength(15);
    const datasets = study.instances.map((instance) => readPart10(instance.part10));
    const zs = datasets.map((d) => (d.ImagePositionPatient as number[])[2] ?? NaN);
    expect(zs).toEqual([...zs].sort((a, b) => a - b)); // InstanceNumber order = inferior → superior
    const first = datasets[0];
    if (!first) throw new Error('no dataset');
    expect((first._meta as NaturalDataset).TransferSyntaxUID).toBe('1.2.840.10008.1.2.1');
    expect(first).toMatchObject({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.4',
      Modality: 'MR',
      PatientID: 'PAT-3',
      PatientBirthDate: '19700101',
      PatientSex: 'F',
      StudyDate: '20250102',
      StudyInstanceUID: study.studyInstanceUid,
      SeriesInstanceUID: study.seriesInstanceUid,
      SeriesDescription: 'AX T2 TSE',
      ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
      PixelSpacing: [0.8, 0.8],
      SliceThickness: 4,
      Rows: 256,
      Columns: 256,
      BitsAllocated: 16,
      BitsStored: 12,
      HighBit: 11,
      PixelRepresentation: 0,
      PhotometricInterpretation: 'MONOCHROME2',
      EchoTime: 100,
      RepetitionTime: 3500,
      MagneticFieldStrength: 1.5,
      ScanningSequence: 'SE',
      InstanceNumber: 1,
    });
    expect(JSON.stringify(first.PatientName)).toContain('Doe^Jane');
    expect(pixelsOf(first)).toHaveLength(256 * 256);
    // Levels 35 mm apart, slices 4 mm apart, L5-S1 lowest.
    expect(zs.slice(0, 4)).toEqual([-104, -100, -96, -69]);
    const l5s1 = study.groundTruth.levels.find((l) => l.level === 'L5-S1');
    expect(l5s1?.keySlice?.sopInstanceUid).toBe(study.instances[1]?.sopInstanceUid);
  });

  it('when herniations are given, then the ground truth lists every level and the drawn material matches its class', () => {
    const study = generatePhantomStudy({
      seed: 5,
      patientId: 'p5',
      herniations: {
        'L5-S1': { grade: 1, zone: 'A', side: 'central' },
        'L4-L5': { grade: 2, zone: 'AB', side: 'left' },
        'L3-L4': { grade: 3, zone: 'BC', side: 'right' },
        'L2-L3': { grade: 2, zone: 'C', side: 'left' },
        'L1-L2': { grade: 3, zone: 'B', side: 'right' },
      },
    });
    expect(study.groundTruth.levels.map((l) => l.level)).toEqual([...DISC_LEVELS]);
    for (const finding of herniatedLevels(study)) {
      const key = study.instances.find((i) => i.sopInstanceUid === finding.keySlice.sopInstanceUid);
      if (!key) throw new Error('key slice missing');
      const measured = measureMaterial(pixelsOf(readPart10(key.part10)));
      expect(measured, finding.level).toEqual(finding.box);
      const line = finding.intraFacetLine;
      if (!line) throw new Error('no line');
      const recomputed = classifyMsu(measureBox(finding.box, PHANTOM_GEOMETRY.discMarginY, line));
      expect(recomputed, finding.level).toEqual({ grade: finding.grade, zone: finding.zone, side: finding.side });
    }
  });

  it('when many seeds are drawn, then every default herniation is self-consistent and normal key slices hold no material', () => {
    let herniated = 0;
    for (let seed = 100; seed < 112; seed++) {
      const study = generatePhantomStudy({ seed, patientId: `p${seed}` });
      for (const finding of study.groundTruth.levels) {
        const key = study.instances.find((i) => i.sopInstanceUid === finding.keySlice?.sopInstanceUid);
        if (!key) throw new Error('key slice missing');
        const measured = measureMaterial(pixelsOf(readPart10(key.part10)));
        if (!finding.herniation) {
          expect(measured, `${seed} ${finding.level}`).toBeUndefined();
          continue;
        }
        herniated++;
        expect(
          classifyMsu(measureBox(finding.box, PHANTOM_GEOMETRY.discMarginY, PHANTOM_GEOMETRY.facetMedialEdges)),
        ).toEqual({
          grade: finding.grade,
          zone: finding.zone,
          side: finding.side,
        });
      }
    }
    expect(herniated).toBeGreaterThan(6);
  });

  it('when generating, then one study takes well under a second (2 s bound for loaded CI)', () => {
    const start = performance.now();
    generatePhantomStudy({ seed: 9, patientId: 'p9' });
    expect(performance.now() - start).toBeLessThan(2000);
  });
});
