import type { DiagnosticReport, Observation } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { validateFhir } from '../../../test/support/fhir-validation';
import { levelsOf, ourReports } from '../cds-hooks/current-report';
import type { Findings, LevelReviewInput } from '../findings/findings';
import { findingToObservation, findingsToDiagnosticReport, type AnalysisContext } from './builders';
import { aiReadingOf, observationReading, observationReview } from './observation-reading';
import { observationToLevelFinding } from './read-findings';
import { rejectionReasonConcept, signAnalysis, type ReviewSigning } from './review-builders';
import { signingToTransaction } from './write-review';

const findings: Findings = {
  studyInstanceUid: '1.2.3',
  seriesInstanceUid: '1.2.3.4',
  model: { id: 'msu-ldh-phantom', version: '0.1.0' },
  levels: [
    {
      level: 'L3-L4',
      herniation: false,
      confidence: 0.9,
      keySlice: { sopInstanceUid: '1.2.3.4.4', frame: 1 },
    },
    {
      level: 'L4-L5',
      herniation: true,
      grade: 2,
      zone: 'AB',
      side: 'left',
      confidence: 0.93,
      keySlice: { sopInstanceUid: '1.2.3.4.5', frame: 2 },
      box: [10, 20, 30, 40],
      warnings: ['L4-L5: 2-AB (left): the box and facet points measure 3-AB by the MSU rules — review the key slice'],
    },
    {
      level: 'L5-S1',
      herniation: true,
      grade: 1,
      zone: 'B',
      side: 'right',
      confidence: 0.61,
      keySlice: { sopInstanceUid: '1.2.3.4.6', frame: 1 },
      box: [1, 2, 3, 4],
    },
  ],
  levelAssignment: { method: 'sagittal-cross-reference', description: 'Levels assigned on the sagittal series.' },
  warnings: ['L4-L5: 2-AB (left): the box and facet points measure 3-AB by the MSU rules — review the key slice'],
};
const context: AnalysisContext = {
  subject: { reference: 'Patient/p1' },
  imagingStudy: { reference: 'ImagingStudy/s1' },
  issued: '2026-12-07T08:00:00.000Z',
};
const references = { device: { reference: 'Device/d1' } };
const observations = findings.levels.map((level, index) => ({
  ...findingToObservation(level, findings, context, references),
  id: `o${index}`,
  meta: { versionId: '1', security: findingToObservation(level, findings, context, references).meta?.security ?? [] },
})) as (Observation & { id: string })[];
const report: DiagnosticReport & { id: string } = {
  ...findingsToDiagnosticReport(findings, context, {
    ...references,
    observations: observations.map((o) => ({ reference: `Observation/${o.id}` })),
  }),
  id: 'r1',
  meta: {
    versionId: '1',
    security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'AIAST' }],
  },
};
const signing: ReviewSigning = {
  signer: { reference: 'Practitioner/dr1', display: 'Dr. Synthetic Clinician' },
  signedAt: '2026-12-08T09:30:00.000Z',
  reviewKey: 'k1',
  comment: 'Correlate with the clinical findings.',
};
const decisions: LevelReviewInput[] = [
  { level: 'L3-L4', decision: 'confirm' },
  {
    level: 'L4-L5',
    decision: 'edit',
    reading: { herniation: true, grade: 2, zone: 'A', side: 'left' },
    comment: 'Zone A.',
  },
  { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
];
const signed = signAnalysis({ report, baseVersionId: '1', observations, model: findings.model, decisions }, signing);
const level = (name: string) => signed.levels.find((l) => l.line.startsWith(name));
const labels = (resource: { meta?: { security?: { code?: string }[] } }) =>
  (resource.meta?.security ?? []).map((label) => label.code);

describe('signAnalysis', () => {
  it('when a review confirms, edits and rejects, then the report is final and says what was signed, by whom and when', () => {
    expect(signed.report.status).toBe('final');
    expect(signed.report.resultsInterpreter).toEqual([
      { reference: 'Practitioner/dr1', display: 'Dr. Synthetic Clinician' },
    ]);
    expect(signed.report.conclusion?.split('\n')).toEqual([
      'Clinician-verified AI analysis (msu-ldh-phantom 0.1.0). Signed by Dr. Synthetic Clinician on 2026-12-08 09:30 UTC.',
      'L3-L4: no herniation',
      'L4-L5: 2-A (left) (AI: 2-AB left, edited)',
      'L5-S1: not reported (AI finding rejected: artefact; AI: 1-B right)',
      'Comment: Correlate with the clinical findings.',
      'L4-L5: 2-AB (left): the box and facet points measure 3-AB by the MSU rules — review the key slice',
      'Levels assigned on the sagittal series.',
    ]);
    expect(signed.report.conclusionCode?.map((concept) => concept.coding?.[0]?.code)).toEqual(['2-A']);
    expect(labels(signed.report)).toEqual(['AIAST', 'CLINAST']);
    expect(signed.report.meta?.tag).toEqual([{ system: 'https://ldh-cds.org/fhir/tag/review', code: 'k1' }]);
    expect(validateFhir(signed.report)).toEqual([]);
    // The CDS Hooks card reads the signed readings from the Observations: the decision beside each, the AI's
    // reading beside an edited or rejected one.
    const [ours] = ourReports([signed.report]);
    const byReference = new Map(signed.levels.map((l) => [`Observation/${l.observation.id}`, l.observation]));
    expect(
      ours &&
        levelsOf(ours, byReference).levels.map(({ level, reading, decision, ai }) => ({
          level,
          reading,
          decision,
          ai,
        })),
    ).toEqual([
      { level: 'L3-L4', reading: { herniation: false }, decision: 'confirm', ai: undefined },
      {
        level: 'L4-L5',
        reading: { herniation: true, grade: 2, zone: 'A', side: 'left' },
        decision: 'edit',
        ai: { herniation: true, grade: 2, zone: 'AB', side: 'left' },
      },
      {
        level: 'L5-S1',
        reading: expect.objectContaining({ herniation: true }) as unknown,
        decision: 'reject',
        ai: { herniation: true, grade: 1, zone: 'B', side: 'right' },
      },
    ]);
  });

  it('when a level is confirmed, then its Observation is final, clinician-asserted and performed by the clinician', () => {
    const confirmed = level('L3-L4')?.observation;
    expect(confirmed?.status).toBe('final');
    expect(labels(confirmed ?? {})).toEqual(['AIAST', 'CLINAST']);
    expect(confirmed?.performer).toEqual([{ reference: 'Practitioner/dr1', display: 'Dr. Synthetic Clinician' }]);
    expect(observationReview(confirmed ?? ({} as Observation))).toEqual({
      decision: 'confirm',
      ai: { herniation: false },
    });
    expect(validateFhir(confirmed)).toEqual([]);
  });

  it("when a level is edited, then its Observation is amended to the clinician's reading with the AI's kept beside it", () => {
    const edited = level('L4-L5')?.observation ?? ({} as Observation);
    expect(edited.status).toBe('amended');
    expect(observationReading(edited)).toEqual({ herniation: true, grade: 2, zone: 'A', side: 'left' });
    expect(aiReadingOf(edited)).toEqual({ herniation: true, grade: 2, zone: 'AB', side: 'left' });
    expect(observationReview(edited)).toEqual({
      decision: 'edit',
      ai: { herniation: true, grade: 2, zone: 'AB', side: 'left' },
      comment: 'Zone A.',
    });
    expect(edited.note?.find((note) => note.authorReference)).toMatchObject({
      authorReference: { reference: 'Practitioner/dr1' },
      time: signing.signedAt,
      text: 'Comment: Zone A.',
    });
    // The AI's warning stays a warning; the clinician's comment is not one.
    expect(observationToLevelFinding(edited, {}, true)).toMatchObject({
      grade: 2,
      zone: 'A',
      warnings: [findings.warnings[0]],
      review: { decision: 'edit' },
    });
    expect(validateFhir(edited)).toEqual([]);
  });

  it('when a level is rejected, then its Observation is cancelled, keeps AIAST alone and the coded reason', () => {
    const rejected = level('L5-S1')?.observation ?? ({} as Observation);
    expect(rejected.status).toBe('cancelled');
    expect(labels(rejected)).toEqual(['AIAST']);
    expect(rejected.performer).toBeUndefined();
    expect(observationReading(rejected)).toEqual({ herniation: true, grade: 1, zone: 'B', side: 'right' });
    expect(observationReview(rejected)).toEqual({
      decision: 'reject',
      ai: { herniation: true, grade: 1, zone: 'B', side: 'right' },
      reason: 'artefact',
    });
    expect(validateFhir(rejected)).toEqual([]);
  });

  it('when the signing is written, then one transaction updates under If-Match and creates the Provenance once', () => {
    const bundle = signingToTransaction(
      signed,
      { report: '1', observations: new Map(observations.map((o) => [o.id, '1'])) },
      'k1',
    );
    expect(bundle.entry?.map((entry) => [entry.request?.method, entry.request?.url, entry.request?.ifMatch])).toEqual([
      ['PUT', 'DiagnosticReport/r1', 'W/"1"'],
      ['PUT', 'Observation/o0', 'W/"1"'],
      ['PUT', 'Observation/o1', 'W/"1"'],
      ['PUT', 'Observation/o2', 'W/"1"'],
      ['POST', 'Provenance', undefined],
    ]);
    expect(bundle.entry?.[4]?.request?.ifNoneExist).toBe('_tag=https%3A%2F%2Fldh-cds.org%2Ffhir%2Ftag%2Freview|k1');
    expect(signed.provenance).toMatchObject({
      target: [
        { reference: 'DiagnosticReport/r1' },
        { reference: 'Observation/o0' },
        { reference: 'Observation/o1' },
        { reference: 'Observation/o2' },
      ],
      agent: [
        {
          type: { coding: [{ code: 'verifier' }] },
          who: { reference: 'Practitioner/dr1', display: 'Dr. Synthetic Clinician' },
        },
      ],
      entity: [{ role: 'revision', what: { reference: 'DiagnosticReport/r1/_history/1' } }],
      activity: { coding: [{ code: 'VRF' }] },
      recorded: signing.signedAt,
    });
    expect(validateFhir(bundle)).toEqual([]);
  });

  it('when a signed report is signed again with a change, then it is amended and only changed Observations are written', () => {
    const again = signAnalysis(
      {
        report: { ...signed.report, meta: { ...signed.report.meta, versionId: '2' } },
        baseVersionId: '2',
        observations: signed.levels.map((l) => ({ ...l.observation, meta: { ...l.observation.meta, versionId: '2' } })),
        model: findings.model,
        decisions: [
          { level: 'L3-L4', decision: 'confirm' },
          { level: 'L4-L5', decision: 'edit', reading: { herniation: true, grade: 3, zone: 'A', side: 'left' } },
          { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
        ],
      },
      {
        ...signing,
        reviewKey: 'k2',
        signedAt: '2026-12-09T10:00:00.000Z',
        comment: 'Correlate with the clinical findings.',
      },
    );
    expect(again.report.status).toBe('amended');
    expect(again.levels.map((l) => [l.line.slice(0, 5), l.changed])).toEqual([
      ['L3-L4', false],
      ['L4-L5', true],
      ['L5-S1', false],
    ]);
    // The AI's reading survives a second edit.
    expect(aiReadingOf(again.levels[1]?.observation ?? ({} as Observation))).toEqual({
      herniation: true,
      grade: 2,
      zone: 'AB',
      side: 'left',
    });
    expect(again.provenance.activity?.coding?.[0]?.code).toBe('UPDATE');
    expect(again.report.meta?.tag).toEqual([{ system: 'https://ldh-cds.org/fhir/tag/review', code: 'k2' }]);
  });
});

describe('rejectionReasonConcept', () => {
  it.each([
    ['Artifact from motion', 'artefact'],
    ['wrong level', 'wrong-level'],
    ['Not a herniation: a facet cyst', 'not-a-herniation'],
    ['missed herniation at this level', 'missed-herniation'],
    ['the patient had surgery there', 'other'],
  ])('when the reason is "%s", then it is coded %s and keeps the words', (reason, code) => {
    expect(rejectionReasonConcept(reason)).toMatchObject({ coding: [{ code }], text: reason });
  });
});
