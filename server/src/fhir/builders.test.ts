import type { DiagnosticReport, Observation } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import type { Findings } from '../findings/findings';
import { findingToObservation, findingsToDiagnosticReport, modelToDevice } from './builders';
import { levelAssignmentOf, observationToLevelFinding } from './read-findings';
import { findingsToTransaction } from './write-findings';

const findings: Findings = {
  studyInstanceUid: '1.2.3',
  seriesInstanceUid: '1.2.3.4',
  model: { id: 'msu-ldh-phantom', version: '0.1.0' },
  levels: [
    {
      level: 'L4-L5',
      herniation: true,
      grade: 2,
      zone: 'AB',
      side: 'left',
      confidence: 0.93,
      keySlice: { sopInstanceUid: '1.2.3.4.5', frame: 1 },
      box: [10, 20, 30, 40],
    },
    { level: 'L5-S1', herniation: false, confidence: 0.97, keySlice: { sopInstanceUid: '1.2.3.4.6', frame: 1 } },
  ],
  warnings: [],
};
const model = { ...findings.model, name: 'Phantom', intendedUse: 'not for clinical use' };
const context = {
  subject: { reference: 'Patient/p1' },
  imagingStudy: { reference: 'ImagingStudy/s1' },
  device: { reference: 'Device/d1' },
  issued: '2026-01-01T00:00:00Z',
  procedureCode: [{ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '72148' }] }],
};

describe('findingToObservation', () => {
  const [herniated, normal] = findings.levels.map((level) => findingToObservation(level, findings, context)) as [
    Observation,
    Observation,
  ];

  it('builds a preliminary, AI-labelled imaging Observation with SNOMED code and disc bodySite', () => {
    expect(herniated.status).toBe('preliminary');
    expect(herniated.category?.[0]?.coding?.[0]).toMatchObject({ code: 'imaging' });
    expect(herniated.code.coding?.map((c) => c.code)).toContain('202708005');
    expect(herniated.bodySite?.coding?.[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '84020006' });
    expect(herniated.meta?.security?.[0]?.code).toBe('AIAST');
    expect(herniated.text?.div).toContain('AI-generated, preliminary');
    expect(herniated.subject).toEqual({ reference: 'Patient/p1' });
    expect(herniated.derivedFrom).toEqual([{ reference: 'ImagingStudy/s1' }]);
    expect(herniated.device).toEqual({ reference: 'Device/d1' });
  });

  it('carries the MSU class as value and grade/zone/side/confidence/key slice/box as components', () => {
    expect(herniated.valueCodeableConcept?.coding?.[0]?.code).toBe('2-AB');
    const codes = herniated.component?.map((c) => c.code.coding?.[0]?.code);
    expect(codes).toEqual(
      expect.arrayContaining([
        'msu-grade',
        'msu-zone',
        'herniation-side',
        'model-confidence',
        'key-sop-instance-uid',
        'key-frame-number',
        'bounding-box',
      ]),
    );
  });

  it('when the level is normal, then the value is the absent-finding concept and L5-S1 has its SNOMED disc code', () => {
    expect(normal.valueCodeableConcept?.coding?.[0]?.code).toBe('no-herniation');
    expect(normal.bodySite?.coding?.[0]?.code).toBe('715056000');
  });

  it('round-trips through observationToLevelFinding', () => {
    expect(observationToLevelFinding(herniated)).toEqual(findings.levels[0]);
    expect(observationToLevelFinding(normal)).toEqual(findings.levels[1]);
  });
});

describe('findingsToDiagnosticReport', () => {
  const report: DiagnosticReport = findingsToDiagnosticReport(findings, context, [{ reference: 'Observation/o1' }]);
  it('builds a preliminary RAD report with LOINC 18748-4 + CPT, results and a one-line-per-level conclusion', () => {
    expect(report.status).toBe('preliminary');
    expect(report.category?.[0]?.coding?.[0]).toMatchObject({
      system: 'http://terminology.hl7.org/CodeSystem/v2-0074',
      code: 'RAD',
    });
    expect(report.code.coding?.map((c) => c.code)).toEqual(['18748-4', '72148']);
    expect(report.imagingStudy).toEqual([{ reference: 'ImagingStudy/s1' }]);
    expect(report.result).toEqual([{ reference: 'Observation/o1' }]);
    expect(report.conclusion).toBe('L4-L5: 2-AB (left)\nL5-S1: no herniation');
    expect(report.issued).toBe('2026-01-01T00:00:00Z');
  });

  it('when the findings say how the levels were assigned, then the conclusion ends with it and it reads back', () => {
    const levelAssignment = {
      method: 'sagittal-cross-reference' as const,
      description: "Disc levels were assigned on the sagittal series 2 'SAG T2'.",
    };
    const withAssignment = findingsToDiagnosticReport({ ...findings, levelAssignment }, context, []);
    expect(withAssignment.conclusion?.split('\n').at(-1)).toBe(levelAssignment.description);
    expect(levelAssignmentOf(withAssignment)).toEqual({ levelAssignment });
    expect(levelAssignmentOf(report)).toEqual({});
  });
});

describe('modelToDevice', () => {
  it('names the model and its version, identified by id@version', () => {
    const device = modelToDevice(model);
    expect(device.version?.[0]?.value).toBe('0.1.0');
    expect(device.identifier?.[0]?.value).toBe('msu-ldh-phantom@0.1.0');
  });
});

describe('findingsToTransaction', () => {
  const bundle = findingsToTransaction(findings, model, {
    subject: context.subject,
    imagingStudy: context.imagingStudy,
    issued: context.issued,
  });
  it('is one transaction of conditional creates linked by urn:uuid fullUrls', () => {
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry?.map((e) => e.resource?.resourceType)).toEqual([
      'Device',
      'Observation',
      'Observation',
      'DiagnosticReport',
    ]);
    for (const entry of bundle.entry ?? []) {
      expect(entry.fullUrl).toMatch(/^urn:uuid:/);
      expect(entry.request?.method).toBe('POST');
      expect(entry.request?.ifNoneExist).toMatch(/^identifier=.+\|.+/);
    }
    const [device, obs1, obs2, report] = bundle.entry ?? [];
    expect((obs1?.resource as Observation).device?.reference).toBe(device?.fullUrl);
    expect((report?.resource as DiagnosticReport).result?.map((r) => r.reference)).toEqual([
      obs1?.fullUrl,
      obs2?.fullUrl,
    ]);
  });

  it('derives the same conditional identifiers on a second analysis, so the server creates no duplicates', () => {
    const again = findingsToTransaction(findings, model, {
      subject: context.subject,
      imagingStudy: context.imagingStudy,
      issued: '2026-02-02T00:00:00Z',
    });
    expect(again.entry?.map((e) => e.request?.ifNoneExist)).toEqual(bundle.entry?.map((e) => e.request?.ifNoneExist));
  });
});
