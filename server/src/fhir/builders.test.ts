import type { DiagnosticReport, DocumentReference, Observation, Provenance } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { validateFhir } from '../../../test/support/fhir-validation';
import type { Findings } from '../findings/findings';
import {
  findingToObservation,
  findingsToDiagnosticReport,
  modelToDevice,
  structuredReportToDocumentReference,
  type AnalysisContext,
} from './builders';
import { observationToLevelFinding } from './read-findings';
import { findingsToTransaction, type SupersededAnalysis } from './write-findings';

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
      keySlice: { sopInstanceUid: '1.2.3.4.5', frame: 2 },
      box: [10, 20, 30, 40],
      intraFacetLine: [
        [5, 50],
        [60, 52],
      ],
      warnings: ['L4-L5: 2-AB (left): the box and facet points measure 3-AB by the MSU rules — review the key slice'],
      disagreement: { measuredBy: 'geometry', grade: 3, zone: 'AB' },
    },
    { level: 'L5-S1', herniation: false, confidence: 0.97, keySlice: { sopInstanceUid: '1.2.3.4.6', frame: 1 } },
  ],
  levelAssignment: { method: 'sagittal-cross-reference', description: 'Levels assigned on the sagittal series.' },
  acquisitionDateTime: '2026-11-03T10:14:55+01:00',
  warnings: ['L4-L5: 2-AB (left): the box and facet points measure 3-AB by the MSU rules — review the key slice'],
};
const model = { ...findings.model, name: 'Phantom', intendedUse: 'not for clinical use', digest: 'sha256:abc' };
const structuredReport = {
  sopInstanceUid: '2.25.1',
  seriesInstanceUid: '2.25.2',
  trackingUids: { 'L4-L5': '2.25.3', 'L5-S1': '2.25.4' },
  part10: new Uint8Array([1, 2, 3]),
};
const context: AnalysisContext = {
  subject: { reference: 'Patient/p1' },
  imagingStudy: { reference: 'ImagingStudy/s1' },
  issued: '2026-12-07T08:00:00.000Z',
  procedureCode: [{ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '72148' }] }],
  structuredReport,
};
const normalLevel = findings.levels[1] ?? findings.levels[0] ?? { level: 'L5-S1', herniation: false, confidence: 1 };
const references = { device: { reference: 'Device/d1' }, document: { reference: 'DocumentReference/sr1' } };
const componentCodes = (observation: Observation): (string | undefined)[] =>
  (observation.component ?? []).map((c) => c.code.coding?.[0]?.code);
const componentOf = (observation: Observation, code: string) =>
  observation.component?.find((c) => c.code.coding?.[0]?.code === code);

describe('findingToObservation', () => {
  const [herniated, normal] = findings.levels.map((level) =>
    findingToObservation(level, findings, context, references),
  ) as [Observation, Observation];

  it('when a level has a herniation, then the Observation is coded "Finding" with the herniated-disc finding as value', () => {
    expect(herniated.status).toBe('preliminary');
    expect(herniated.code.coding).toEqual([
      { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '121071', display: 'Finding' },
    ]);
    expect(herniated.valueCodeableConcept?.coding?.[0]).toMatchObject({
      system: 'http://snomed.info/sct',
      code: '202708005',
    });
    expect(herniated.bodySite?.coding?.[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '84020006' });
    expect(herniated.meta?.security?.[0]?.code).toBe('AIAST');
    expect(validateFhir(herniated)).toEqual([]);
  });

  it('when a level has no herniation, then its Observation still says "Finding" and its value is the explicit absent finding', () => {
    expect(normal.code.coding?.[0]?.code).toBe('121071');
    expect(normal.valueCodeableConcept?.coding?.[0]).toMatchObject({
      system: 'https://ldh-cds.org/fhir/CodeSystem/ldh-cds',
      code: 'no-herniation',
    });
    expect(componentCodes(normal)).not.toContain('msu-grade');
    expect(validateFhir(normal)).toEqual([]);
  });

  it('when the study was acquired earlier, then effective is the acquisition time and issued the analysis time', () => {
    expect(herniated.effectiveDateTime).toBe('2026-11-03T10:14:55+01:00');
    expect(herniated.issued).toBe('2026-12-07T08:00:00.000Z');
  });

  it('then grade, zone, side and class are coded components and confidence a quantity, with no JSON string anywhere', () => {
    expect(componentOf(herniated, 'msu-grade')?.valueCodeableConcept?.coding?.[0]?.code).toBe('grade-2');
    expect(componentOf(herniated, 'msu-zone')?.valueCodeableConcept?.coding?.[0]?.code).toBe('zone-AB');
    expect(componentOf(herniated, 'msu-class')?.valueCodeableConcept?.coding?.[0]?.code).toBe('2-AB');
    expect(componentOf(herniated, 'herniation-side')?.valueCodeableConcept?.coding?.[0]?.code).toBe('7771000');
    expect(componentOf(herniated, 'model-confidence')?.valueQuantity).toMatchObject({ value: 0.93, code: '1' });
    expect(JSON.stringify(herniated)).not.toMatch(/\[10,20,30,40\]|bounding-box/);
  });

  it('then the key slice is referenced by study, series, SOP instance and frame, and the SR group by its tracking UID', () => {
    expect(componentOf(herniated, 'key-image-study-uid')?.valueString).toBe('1.2.3');
    expect(componentOf(herniated, 'key-image-series-uid')?.valueString).toBe('1.2.3.4');
    expect(componentOf(herniated, 'key-image-sop-instance-uid')?.valueString).toBe('1.2.3.4.5');
    expect(componentOf(herniated, 'key-image-frame')?.valueInteger).toBe(2);
    expect(componentOf(herniated, 'sr-instance-uid')?.valueString).toBe('2.25.1');
    expect(componentOf(herniated, '112040')?.valueString).toBe('2.25.3');
    expect(herniated.derivedFrom).toEqual([{ reference: 'ImagingStudy/s1' }, { reference: 'DocumentReference/sr1' }]);
  });

  it('when the box geometry disagrees with the classifier, then a coded component and a note say so', () => {
    const disagreement = componentOf(herniated, 'geometry-disagreement');
    expect(disagreement?.valueCodeableConcept?.coding?.[0]?.code).toBe('3-AB');
    expect(herniated.note?.[0]?.text).toContain('measure 3-AB');
    expect(normal.note).toBeUndefined();
  });

  it('when read back with its SR geometry, then the level finding is the one written', () => {
    const [first] = findings.levels;
    expect(observationToLevelFinding(herniated, { 'L4-L5': first })).toEqual(first);
    expect(observationToLevelFinding(normal)).toEqual(findings.levels[1]);
  });
});

describe('findingsToDiagnosticReport', () => {
  const report: DiagnosticReport = findingsToDiagnosticReport(findings, context, {
    device: references.device,
    observations: [{ reference: 'Observation/o1' }, { reference: 'Observation/o2' }],
  });

  it('then it is a preliminary RAD report with LOINC 18748-4 and the study procedure code, valid R4', () => {
    expect(report.status).toBe('preliminary');
    expect(report.category?.[0]?.coding?.[0]).toMatchObject({ code: 'RAD' });
    expect(report.code.coding?.map((c) => c.code)).toEqual(['18748-4', '72148']);
    expect(report.effectiveDateTime).toBe('2026-11-03T10:14:55+01:00');
    expect(report.issued).toBe('2026-12-07T08:00:00.000Z');
    expect(validateFhir(report)).toEqual([]);
  });

  it('then the conclusion reads one line per level, the warnings and how the levels were found', () => {
    expect(report.conclusion?.split('\n')).toEqual([
      'AI-generated, preliminary (msu-ldh-phantom 0.1.0).',
      'L4-L5: 2-AB (left)',
      'L5-S1: no herniation',
      findings.warnings[0],
      'Levels assigned on the sagittal series.',
    ]);
    expect(report.conclusionCode?.[0]?.coding?.[0]?.code).toBe('2-AB');
  });

  it('then the model is the performer through the core alternate-reference extension', () => {
    expect(report.performer?.[0]?.extension?.[0]).toEqual({
      url: 'http://hl7.org/fhir/StructureDefinition/alternate-reference',
      valueReference: { reference: 'Device/d1' },
    });
  });
});

describe('modelToDevice and the SR DocumentReference', () => {
  it('then the Device is an AI Device carrying name, version and digest, valid R4', () => {
    const device = modelToDevice(model);
    expect(device.type?.coding?.[0]?.code).toBe('Artificial-Intelligence');
    expect(device.identifier?.[0]).toEqual({
      system: 'https://ldh-cds.org/fhir/identifier/model-digest',
      value: 'sha256:abc',
    });
    expect(device.version?.map((version) => version.value)).toEqual(['0.1.0', 'sha256:abc']);
    expect(validateFhir(device)).toEqual([]);
  });

  it('then the SR travels as an application/dicom attachment identified by its SOP Instance UID', () => {
    const document: DocumentReference = structuredReportToDocumentReference(
      structuredReport,
      findings,
      context,
      references,
    );
    expect(document.content[0]?.attachment).toMatchObject({ contentType: 'application/dicom', data: 'AQID' });
    expect(document.identifier).toContainEqual({ system: 'urn:dicom:uid', value: 'urn:oid:2.25.1' });
    expect(validateFhir(document)).toEqual([]);
  });
});

describe('findingsToTransaction', () => {
  it('then every entry is a conditional create and the whole Bundle is valid R4 against our definitions', () => {
    const bundle = findingsToTransaction(findings, model, context);
    expect(bundle.entry?.map((entry) => entry.resource?.resourceType)).toEqual([
      'Device',
      'DocumentReference',
      'Observation',
      'Observation',
      'DiagnosticReport',
      'Provenance',
    ]);
    for (const entry of bundle.entry ?? []) expect(entry.request?.ifNoneExist).toBeTruthy();
    expect(validateFhir(bundle)).toEqual([]);
  });

  it('when a level was not imaged, then no Observation is written for it', () => {
    const bundle = findingsToTransaction({ ...findings, levels: findings.levels.slice(0, 1) }, model, context);
    const observations = (bundle.entry ?? []).filter((entry) => entry.resource?.resourceType === 'Observation');
    expect(observations).toHaveLength(1);
  });

  it('then the Provenance names the model as AI author, the study as source and every written resource as target', () => {
    const bundle = findingsToTransaction(findings, model, context);
    const provenance = bundle.entry?.find((entry) => entry.resource?.resourceType === 'Provenance')
      ?.resource as Provenance;
    const fullUrls = (bundle.entry ?? []).map((entry) => entry.fullUrl);
    expect(provenance.agent[0]).toMatchObject({
      type: { coding: [{ code: 'author' }] },
      who: { reference: fullUrls[0] },
    });
    expect(provenance.entity).toEqual([{ role: 'source', what: { reference: 'ImagingStudy/s1' } }]);
    expect(provenance.target.map((target) => target.reference).sort()).toEqual(
      [fullUrls[1], fullUrls[2], fullUrls[3], fullUrls[4]].sort(),
    );
    expect(provenance.meta?.security?.[0]?.code).toBe('AIAST');
  });

  it('when the analysis names who asked for it, then the Provenance has that user as enterer beside the AI author', () => {
    const bundle = findingsToTransaction(findings, model, {
      ...context,
      requestedBy: { reference: 'Practitioner/pr1' },
    });
    const provenance = bundle.entry?.find((entry) => entry.resource?.resourceType === 'Provenance')
      ?.resource as Provenance;
    expect(provenance.agent).toHaveLength(2);
    expect(provenance.agent[0]?.type?.coding?.[0]?.code).toBe('author');
    expect(provenance.agent[1]).toEqual({
      type: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
            code: 'enterer',
            display: 'Enterer',
          },
        ],
      },
      who: { reference: 'Practitioner/pr1' },
    });
  });

  it('when an earlier AI report is superseded, then it is cancelled under If-Match and the new report replaces it', () => {
    const superseded: SupersededAnalysis = {
      report: {
        ...findingsToDiagnosticReport(findings, context, { device: references.device, observations: [] }),
        id: 'old',
        meta: { versionId: '3' },
      },
      observations: [
        {
          ...findingToObservation(normalLevel, findings, context, references),
          id: 'oldobs',
          meta: { versionId: '1' },
        },
      ],
      document: {
        ...structuredReportToDocumentReference(structuredReport, findings, context, references),
        id: 'olddoc',
        meta: { versionId: '1' },
      },
    };
    const bundle = findingsToTransaction(
      { ...findings, model: { id: 'msu-ldh-phantom', version: '0.2.0' } },
      model,
      context,
      superseded,
    );
    const updates = (bundle.entry ?? []).filter((entry) => entry.request?.method === 'PUT');
    expect(updates.map((entry) => [entry.request?.url, entry.request?.ifMatch])).toEqual([
      ['DiagnosticReport/old', 'W/"3"'],
      ['Observation/oldobs', 'W/"1"'],
      ['DocumentReference/olddoc', 'W/"1"'],
    ]);
    expect((updates[0]?.resource as DiagnosticReport).status).toBe('cancelled');
    expect((updates[0]?.resource as DiagnosticReport).conclusion).toMatch(
      /^Superseded on 2026-12-07 by the msu-ldh-phantom 0\.2\.0/,
    );
    expect((updates[1]?.resource as Observation).status).toBe('cancelled');
    expect((updates[2]?.resource as DocumentReference).status).toBe('superseded');
    const report = bundle.entry?.find(
      (entry) => entry.request?.method === 'POST' && entry.resource?.resourceType === 'DiagnosticReport',
    )?.resource as DiagnosticReport;
    expect(report.extension).toEqual([
      {
        url: 'http://hl7.org/fhir/StructureDefinition/diagnosticReport-replaces',
        valueReference: { reference: 'DiagnosticReport/old' },
      },
    ]);
    const document = bundle.entry?.find(
      (entry) => entry.request?.method === 'POST' && entry.resource?.resourceType === 'DocumentReference',
    )?.resource as DocumentReference;
    expect(document.relatesTo).toEqual([{ code: 'replaces', target: { reference: 'DocumentReference/olddoc' } }]);
    const provenance = bundle.entry?.find((entry) => entry.resource?.resourceType === 'Provenance')
      ?.resource as Provenance;
    expect(provenance.entity).toContainEqual({ role: 'revision', what: { reference: 'DiagnosticReport/old' } });
    expect(validateFhir(bundle)).toEqual([]);
  });
});
