import { describe, expect, it } from 'vitest';
import { analysis, levels, lumbarMriStudy, signed, superseded } from '../../../test/support/cds-fixtures';
import { levelsOf, lumbarMris, ourReports, relativeReference, standingReports } from './current-report';

const study = lumbarMriStudy('st1', 'p1', '2026-05-01T08:00:00Z');
const older = lumbarMriStudy('st0', 'p1', '2025-01-10T08:00:00Z');
const isLumbar = (): boolean => true;
const preliminary = analysis({ study, reportId: 'r1', issued: '2026-05-02T10:00:00Z' });

describe('relativeReference', () => {
  it('when a reference is relative, absolute or versioned, then it is Type/id', () => {
    expect(relativeReference('DiagnosticReport/1')).toBe('DiagnosticReport/1');
    expect(relativeReference('http://ehr/fhir/Observation/a-1/_history/3')).toBe('Observation/a-1');
    expect(relativeReference('#contained')).toBeUndefined();
  });
});

describe('the report a card speaks of', () => {
  it('when a study has a preliminary report, then that report stands for it', () => {
    const [mri] = lumbarMris([study], [preliminary.report], isLumbar);
    expect(mri).toMatchObject({ imagingStudy: 'ImagingStudy/st1', date: '2026-05-01T08:00:00Z' });
    expect(mri?.report?.reference).toBe('DiagnosticReport/r1');
  });

  it('when a study has a signed report and a newer preliminary one, then the signed one stands', () => {
    const signedOne = signed(preliminary, '2026-05-03T09:00:00Z');
    const newerModel = analysis({
      study,
      reportId: 'r2',
      issued: '2026-06-01T10:00:00Z',
      model: { id: 'msu-ldh', version: '1.9.0' },
    });
    const [mri] = lumbarMris([study], [newerModel.report, signedOne.report], isLumbar);
    expect(mri?.report?.reference).toBe('DiagnosticReport/r1');
    expect(mri?.report?.report.status).toBe('final');
  });

  it('when a report was superseded, then the one that replaces it stands, never the superseded one', () => {
    const old = superseded(preliminary);
    const replacing = analysis({
      study,
      reportId: 'r2',
      issued: '2026-06-01T10:00:00Z',
      replaces: 'DiagnosticReport/r1',
    });
    expect(lumbarMris([study], [old.report, replacing.report], isLumbar)[0]?.report?.reference).toBe(
      'DiagnosticReport/r2',
    );
    // Named as replaced, it never stands, whatever its status says (a server that did not cancel it).
    expect(standingReports(ourReports([preliminary.report, replacing.report])).map((r) => r.reference)).toEqual([
      'DiagnosticReport/r2',
    ]);
  });

  it('when the only report is entered-in-error or cancelled, then the study is not analyzed', () => {
    for (const status of ['entered-in-error', 'cancelled'] as const) {
      const [mri] = lumbarMris([study], [{ ...preliminary.report, status }], isLumbar);
      expect(mri?.report).toBeUndefined();
    }
  });

  it('when a report is not ours (another identifier system), then it is ignored', () => {
    const foreign = { ...preliminary.report, identifier: [{ system: 'urn:other', value: 'x' }] };
    expect(ourReports([foreign])).toEqual([]);
  });

  it('when a newer lumbar MRI was not analyzed, then it comes first, before the analyzed older one', () => {
    const oldAnalysis = analysis({ study: older, reportId: 'r0', issued: '2025-01-11T10:00:00Z' });
    const mris = lumbarMris([older, study], [oldAnalysis.report], isLumbar);
    expect(mris.map((mri) => [mri.imagingStudy, mri.report?.reference])).toEqual([
      ['ImagingStudy/st1', undefined],
      ['ImagingStudy/st0', 'DiagnosticReport/r0'],
    ]);
  });

  it('when a study is not a lumbar MRI and has no report of ours, then it is not listed', () => {
    expect(lumbarMris([study], [], () => false)).toEqual([]);
  });
});

describe('levelsOf', () => {
  const [ours] = ourReports([preliminary.report]);
  const all = new Map(preliminary.observations.map((o) => [`Observation/${o.id}`, o]));

  it('when every Observation is at hand, then each level has the reading it holds, in anatomical order', () => {
    if (!ours) throw new Error('no report');
    const { levels: rows, missing } = levelsOf(ours, all);
    expect(missing).toEqual([]);
    expect(rows.map((row) => row.level)).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1']);
    expect(rows[3]).toMatchObject({
      reading: { herniation: true, grade: 2, zone: 'AB', side: 'left' },
      confidence: 0.9,
    });
  });

  it('when some Observations are missing, then they are named', () => {
    if (!ours) throw new Error('no report');
    const some = new Map([...all].slice(0, 2));
    expect(levelsOf(ours, some).missing).toEqual(['Observation/r1-o2', 'Observation/r1-o3', 'Observation/r1-o4']);
  });

  it('when a signed report edited and rejected levels, then each row has the decision and the AI reading', () => {
    const signedOne = signed(
      analysis({ study, reportId: 'r9', issued: '2026-05-02T10:00:00Z', levels: levels() }),
      '2026-05-03T09:00:00Z',
      [
        { level: 'L1-L2', decision: 'confirm' },
        { level: 'L2-L3', decision: 'confirm' },
        { level: 'L3-L4', decision: 'confirm' },
        { level: 'L4-L5', decision: 'edit', reading: { herniation: true, grade: 3, zone: 'AB', side: 'left' } },
        { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
      ],
    );
    const [report] = ourReports([signedOne.report]);
    if (!report) throw new Error('no report');
    const rows = levelsOf(report, new Map(signedOne.observations.map((o) => [`Observation/${o.id}`, o]))).levels;
    expect(rows[3]).toMatchObject({ decision: 'edit', reading: { grade: 3 }, ai: { grade: 2 } });
    expect(rows[4]).toMatchObject({ decision: 'reject', ai: { grade: 1, zone: 'A' } });
  });
});
