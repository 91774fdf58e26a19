import { describe, expect, it } from 'vitest';
import { TAGS, type DicomJson } from './dicom-json';
import { decideSeries, noQualifyingSeriesMessage, seriesFacts, weightingOf } from './select-series';
import { frameGeometries } from './geometry';

const AXIAL = [1, 0, 0, 0, 1, 0];
const SAGITTAL = [0, 1, 0, 0, 0, -1];

function series(uid: string, number: number, description: string, modality = 'MR'): DicomJson {
  return {
    [TAGS.SeriesInstanceUID]: { vr: 'UI', Value: [uid] },
    [TAGS.SeriesNumber]: { vr: 'IS', Value: [number] },
    [TAGS.SeriesDescription]: { vr: 'LO', Value: [description] },
    [TAGS.Modality]: { vr: 'CS', Value: [modality] },
  };
}

function instance(orientation: number[], z: number, timing: { te?: number; tr?: number } = {}): DicomJson {
  return {
    [TAGS.ImageOrientationPatient]: { vr: 'DS', Value: orientation },
    [TAGS.ImagePositionPatient]: { vr: 'DS', Value: [0, 0, z] },
    [TAGS.PixelSpacing]: { vr: 'DS', Value: [0.5, 0.5] },
    ...(timing.te ? { [TAGS.EchoTime]: { vr: 'DS', Value: [timing.te] } } : {}),
    ...(timing.tr ? { [TAGS.RepetitionTime]: { vr: 'DS', Value: [timing.tr] } } : {}),
  };
}

describe('series selection', () => {
  it('when a study has a localizer, a sagittal T2, an axial T1 and an axial T2, then the axial T2 wins and the others are refused with reasons', () => {
    const facts = [
      seriesFacts(series('1', 1, 'LOC'), [instance(SAGITTAL, 0)]),
      seriesFacts(series('2', 2, 'SAG T2 TSE'), [instance(SAGITTAL, 0), instance(SAGITTAL, 4)]),
      seriesFacts(series('3', 3, 'AX T1'), [instance(AXIAL, 0), instance(AXIAL, 4)]),
      seriesFacts(series('4', 4, 'AX T2 TSE'), [instance(AXIAL, 0), instance(AXIAL, 4)]),
      seriesFacts(series('5', 5, 'Dose report', 'SR'), []),
    ];
    const { chosen, refused } = decideSeries(facts);
    expect(chosen.map((d) => d.facts.seriesInstanceUid)).toEqual(['4']);
    const reasons = Object.fromEntries(refused.map((d) => [d.facts.seriesInstanceUid, d.refusals.join(', ')]));
    expect(reasons['2']).toMatch(/sagittal, not axial/);
    expect(reasons['3']).toMatch(/T1-weighted \(SeriesDescription 'AX T1'\)/);
    expect(reasons['5']).toMatch(/modality SR, not MR/);
  });

  it('when descriptions are uninformative, then TE/TR decide: T2 is preferred over STIR-like unknowns', () => {
    expect(weightingOf('SERIES 7', instance(AXIAL, 0, { te: 100, tr: 3500 })).weighting).toBe('T2');
    expect(weightingOf('SERIES 8', instance(AXIAL, 0, { te: 10, tr: 500 })).weighting).toBe('T1');
    expect(weightingOf('AX STIR', undefined).weighting).toBe('STIR');
    const stir = seriesFacts(series('s', 1, 'AX STIR'), [instance(AXIAL, 0)]);
    const t2 = seriesFacts(series('t', 2, 'SERIES 7'), [instance(AXIAL, 0, { te: 100, tr: 3500 })]);
    expect(decideSeries([stir, t2]).chosen.map((d) => d.facts.seriesInstanceUid)).toEqual(['t', 's']);
  });

  it('when nothing qualifies, then the message lists every series seen with why it was refused', () => {
    const { refused } = decideSeries([
      seriesFacts(series('1', 1, 'LOC'), [instance(SAGITTAL, 0)]),
      seriesFacts(series('2', 2, 'AX T1'), [instance(AXIAL, 0)]),
    ]);
    const message = noQualifyingSeriesMessage('1.2.3', refused);
    expect(message).toMatch(/No axial T2 MR series in study 1\.2\.3/);
    expect(message).toMatch(/series 1 'LOC' \(MR, 1 image\(s\)\): sagittal, not axial/);
    expect(message).toMatch(/series 2 'AX T1' .*T1-weighted/);
  });
});

describe('frameGeometries', () => {
  it('when an enhanced MR holds per-frame plane positions, then each frame gets its own position and the shared orientation', () => {
    const item = (values: DicomJson): DicomJson[] => [values];
    const meta: DicomJson = {
      [TAGS.NumberOfFrames]: { vr: 'IS', Value: [2] },
      '52009229': {
        vr: 'SQ',
        Value: item({
          '00209116': { vr: 'SQ', Value: item({ [TAGS.ImageOrientationPatient]: { vr: 'DS', Value: AXIAL } }) },
          '00289110': { vr: 'SQ', Value: item({ [TAGS.PixelSpacing]: { vr: 'DS', Value: [0.7, 0.7] } }) },
        }),
      },
      '52009230': {
        vr: 'SQ',
        Value: [5, 9].map((z) => ({
          '00209113': { vr: 'SQ', Value: item({ [TAGS.ImagePositionPatient]: { vr: 'DS', Value: [0, 0, z] } }) },
        })),
      },
    };
    const geometries = frameGeometries(meta);
    expect(geometries.map((g) => g.position[2])).toEqual([5, 9]);
    expect(geometries[1]?.normal).toEqual([0, 0, 1]);
    expect(geometries[0]?.pixelSpacing).toEqual([0.7, 0.7]);
  });
});
