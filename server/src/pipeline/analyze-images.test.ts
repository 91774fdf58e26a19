/**
 * The imaging pipeline on sources built in memory: an Enhanced-MR-style multi-frame object (per-frame plane
 * positions in functional groups) gives the same findings as the single-frame study it was built from, with
 * key slices named by frame; a study without an axial T2 is refused with every series' reason.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy, generateSyntheticStudy } from '../../../models/synthetic';
import { TAGS, type DicomJson } from '../dicom/dicom-json';
import { readPart10 } from '../dicom/part10';
import type { RetrievedFrame } from '../dicomweb/dicomweb-retriever';
import { createDetectorSession, type DetectorSession } from '../inference/detector-session';
import { levelFindingToReportLine, type DiscLevel } from '../findings/findings';
import { analyzeImages, type StudySource } from './analyze-images';
import { part10StudySource } from './folder-source';

let detector: DetectorSession;
beforeAll(async () => {
  detector = await createDetectorSession('models/msu-ldh-phantom/0.1.0', undefined, { executionProvider: 'cpu' });
});

const item = (values: DicomJson): DicomJson[] => [values];

function multiFrameSource(seed: number): { source: StudySource; study: ReturnType<typeof generatePhantomStudy> } {
  const study = generatePhantomStudy({ seed, patientId: 'MF' });
  const objects = study.instances.map((instance) => readPart10(instance.part10));
  const first = objects[0]?.dataset ?? {};
  const sop = '2.25.1234567';
  const orientation = first[TAGS.ImageOrientationPatient];
  const spacing = first[TAGS.PixelSpacing];
  // Enhanced MR keeps plane geometry only in the functional groups.
  const base = Object.fromEntries(
    Object.entries(first).filter(([tag]) => tag !== TAGS.ImagePositionPatient && tag !== TAGS.ImageOrientationPatient),
  );
  const meta: DicomJson = {
    ...base,
    [TAGS.SOPInstanceUID]: { vr: 'UI', Value: [sop] },
    [TAGS.NumberOfFrames]: { vr: 'IS', Value: [objects.length] },
    '52009229': {
      vr: 'SQ',
      Value: item({
        '00209116': { vr: 'SQ', Value: item({ [TAGS.ImageOrientationPatient]: orientation }) },
        '00289110': { vr: 'SQ', Value: item({ [TAGS.PixelSpacing]: spacing }) },
      }),
    },
    '52009230': {
      vr: 'SQ',
      Value: objects.map((o) => ({
        '00209113': { vr: 'SQ', Value: item({ [TAGS.ImagePositionPatient]: o.dataset[TAGS.ImagePositionPatient] }) },
      })),
    },
  };
  const series: DicomJson = {
    [TAGS.SeriesInstanceUID]: { vr: 'UI', Value: [study.seriesInstanceUid] },
    [TAGS.Modality]: { vr: 'CS', Value: ['MR'] },
    [TAGS.SeriesDescription]: { vr: 'LO', Value: ['AX T2 ENHANCED'] },
  };
  const source: StudySource = {
    searchForSeries: () => Promise.resolve([series]),
    retrieveSeriesMetadata: () => Promise.resolve([meta]),
    retrieveFrames: (_s, _se, frames) =>
      Promise.resolve(
        frames.map(({ sopInstanceUid, frame }): RetrievedFrame => ({
          sopInstanceUid,
          frame,
          bytes: objects[frame - 1]?.frames[0] ?? new Uint8Array(),
          transferSyntaxUid: objects[frame - 1]?.transferSyntaxUid ?? '',
          contentType: 'application/octet-stream',
        })),
      ),
  };
  return { source, study };
}

describe('analyzeImages', () => {
  it('when the axial T2 is one multi-frame object, then findings equal the ground truth and key slices name frames', async () => {
    const { source, study } = multiFrameSource(4);
    const { findings } = await analyzeImages(source, study.studyInstanceUid, detector);
    expect(findings.levels.map(levelFindingToReportLine)).toEqual(
      study.groundTruth.levels.map(levelFindingToReportLine),
    );
    const herniated = findings.levels.find((level) => level.herniation);
    const truth = study.groundTruth.levels.find((level) => level.level === herniated?.level);
    const truthInstance = study.instances.find((i) => i.sopInstanceUid === truth?.keySlice?.sopInstanceUid);
    expect(herniated?.keySlice).toEqual({ sopInstanceUid: '2.25.1234567', frame: truthInstance?.instanceNumber });
  });

  it('when the study has only a sagittal series, then the refusal names it and why', async () => {
    const { source, study } = multiFrameSource(4);
    const sagittal: StudySource = {
      ...source,
      retrieveSeriesMetadata: async (...args) =>
        (await source.retrieveSeriesMetadata(...args)).map((meta) => ({
          ...meta,
          '52009229': {
            vr: 'SQ',
            Value: item({
              '00209116': {
                vr: 'SQ',
                Value: item({ [TAGS.ImageOrientationPatient]: { vr: 'DS', Value: [0, 1, 0, 0, 0, -1] } }),
              },
              '00289110': { vr: 'SQ', Value: item({ [TAGS.PixelSpacing]: { vr: 'DS', Value: [1, 1] } }) },
            }),
          },
        })),
    };
    await expect(analyzeImages(sagittal, study.studyInstanceUid, detector)).rejects.toThrow(
      /No axial T2 MR series .*'AX T2 ENHANCED' \(MR, 15 image\(s\)\): sagittal, not axial/,
    );
  });

  describe('when a realistic study has a sagittal T2 series', () => {
    const study = generateSyntheticStudy({ seed: 1, patientId: 'levels' });
    const levelOf = new Map(
      study.groundTruth.levels.flatMap((level) => level.sopInstanceUids.map((uid) => [uid, level.level] as const)),
    );
    const objects = (drop: readonly DiscLevel[]) =>
      study.instances
        .filter((instance) => {
          const level = levelOf.get(instance.sopInstanceUid);
          return !level || !drop.includes(level);
        })
        .map((instance) => readPart10(instance.part10));

    it('then an axial series without L5-S1 is labelled L1-L2 … L4-L5 on the sagittal, and the findings say so', async () => {
      const { findings } = await analyzeImages(part10StudySource(objects(['L5-S1'])), study.studyInstanceUid, detector);
      expect(findings.levels.map((level) => level.level)).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5']);
      for (const level of findings.levels) expect(levelOf.get(level.keySlice?.sopInstanceUid ?? '')).toBe(level.level);
      expect(findings.levelAssignment?.method).toBe('sagittal-cross-reference');
      expect(findings.levelAssignment?.description).toMatch(/1 disc\(s\) below the lowest axial stack/);
    });

    it('then a sagittal series in another frame of reference is not used, and the warning says why', async () => {
      const parts = objects([]);
      for (const object of parts) {
        if (object.dataset[TAGS.SeriesInstanceUID]?.Value?.[0] !== study.seriesInstanceUid)
          object.dataset[TAGS.FrameOfReferenceUID] = { vr: 'UI', Value: ['2.25.424242'] };
      }
      const { findings } = await analyzeImages(part10StudySource(parts), study.studyInstanceUid, detector);
      expect(findings.levels).toHaveLength(5);
      expect(findings.levelAssignment?.method).toBe('counted-from-lowest-stack');
      expect(findings.warnings.join(' ')).toMatch(/another FrameOfReferenceUID \(0020,0052\)/);
    });
  });
});
