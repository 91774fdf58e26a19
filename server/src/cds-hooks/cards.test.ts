import { describe, expect, it } from 'vitest';
import { analysis, draftOrder, levels, lumbarMriStudy, signed, SNOMED } from '../../../test/support/cds-fixtures';
import { cardSource, findingsCard, findingsSummary, notAnalyzedCard, type CardSettings } from './cards';
import { levelsOf, lumbarMris, type LumbarMri, type OurReport } from './current-report';

const settings: CardSettings = {
  appBaseUrl: 'http://app',
  modelCardPath: '/api/model/card',
  model: { id: 'msu-ldh', version: '1.8.0', name: 'MSU lumbar disc herniation detector 1.8.0', bundled: true },
};
const study = lumbarMriStudy('st1', 'p1', '2026-05-01T08:00:00Z');

function shown(stored: ReturnType<typeof analysis>) {
  const [mri] = lumbarMris([study], [stored.report], () => true);
  if (!mri?.report) throw new Error('not analyzed');
  const rows = levelsOf(mri.report, new Map(stored.observations.map((o) => [`Observation/${o.id}`, o]))).levels;
  return { mri: mri as LumbarMri & { report: OurReport }, rows };
}

const preliminary = analysis({ study, reportId: 'r1', issued: '2026-05-02T10:00:00Z' });

describe('a findings card from a preliminary report', () => {
  const { mri, rows } = shown(preliminary);
  const referral = draftOrder('sr1', 'p1', SNOMED, '308482002', 'Referral to neurosurgeon');
  const { card, meta } = findingsCard('findings', mri, rows, settings, [referral]);

  it('then the summary names the herniated levels in under 140 characters and says preliminary', () => {
    expect(card.summary).toBe('AI (preliminary): L4-L5 MSU 2-AB left; L5-S1 1-A');
  });

  it('then it warns (grade ≥ 2), states the status and tables every level in markdown', () => {
    expect(card.indicator).toBe('warning');
    expect(card.detail).toContain('**AI-generated, preliminary — not yet reviewed by a clinician.**');
    expect(card.detail).toContain('Lumbar MRI of 2026-05-01, analyzed 2026-05-02 10:00 UTC by msu-ldh 1.8.0.');
    expect(card.detail).toContain('| Level | MSU (AI) | Confidence |\n| --- | --- | --- |');
    expect(card.detail).toContain('| L4-L5 | **2-AB left** | 0.90 |');
    expect(card.detail).toContain('| L1-L2 | no herniation | 0.95 |');
  });

  it('then its source is the model (manifest name, model card) with the card kind as topic', () => {
    expect(card.source).toEqual({
      label: 'ldh-cds AI: MSU lumbar disc herniation detector 1.8.0 — not for clinical use',
      url: 'http://app/api/model/card',
      topic: {
        system: 'https://ldh-cds.org/fhir/CodeSystem/ldh-cds',
        code: 'cds-findings',
        display: 'Lumbar MRI findings card',
      },
    });
    expect(meta).toEqual({ kind: 'findings', model: { id: 'msu-ldh', version: '1.8.0' } });
  });

  it('then it offers to attach the report to the draft order (update, selectionBehavior) and coded override reasons', () => {
    expect(card.selectionBehavior).toBe('at-most-one');
    const [suggestion] = card.suggestions ?? [];
    expect(suggestion?.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(suggestion?.actions).toHaveLength(1);
    const action = suggestion?.actions[0];
    expect(action?.type).toBe('update');
    expect(action?.description).toContain('DiagnosticReport/r1');
    expect(action?.resource).toMatchObject({
      resourceType: 'ServiceRequest',
      id: 'sr1',
      status: 'draft',
      supportingInfo: [{ reference: 'DiagnosticReport/r1' }],
    });
    expect(card.overrideReasons?.map((reason) => [reason.code, reason.display])).toEqual([
      ['already-reviewed', 'Already reviewed'],
      ['not-relevant', 'Not relevant to this order'],
      ['disagree-with-finding', 'Disagree with the finding'],
    ]);
  });

  it('then its SMART link opens the app at that study', () => {
    expect(card.links).toEqual([
      {
        label: 'Open ldh-cds at this study',
        url: 'http://app/launch.html',
        type: 'smart',
        appContext: '{"imagingStudy":"ImagingStudy/st1","diagnosticReport":"DiagnosticReport/r1"}',
      },
    ]);
  });

  it('when the draft already holds the report, then there is no suggestion and no selectionBehavior', () => {
    const holding = { ...referral, supportingInfo: [{ reference: 'DiagnosticReport/r1' }] };
    const again = findingsCard('findings', mri, rows, settings, [holding]).card;
    expect(again.suggestions).toBeUndefined();
    expect(again.selectionBehavior).toBeUndefined();
  });
});

describe('a findings card from a signed report', () => {
  const signedOne = signed(preliminary, '2026-05-03T09:15:00Z', [
    { level: 'L1-L2', decision: 'confirm' },
    { level: 'L2-L3', decision: 'confirm' },
    { level: 'L3-L4', decision: 'confirm' },
    { level: 'L4-L5', decision: 'edit', reading: { herniation: true, grade: 1, zone: 'A', side: 'left' } },
    { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
  ]);
  const { mri, rows } = shown(signedOne);
  const { card } = findingsCard('findings', mri, rows, settings, []);

  it('then the summary is the signed reading, the status names the signer and the time, the table each decision', () => {
    expect(card.summary).toBe('Signed (AI-assisted): L4-L5 MSU 1-A left');
    expect(card.indicator).toBe('info');
    expect(card.detail).toContain(
      '**Signed by Dr. Synthetic Clinician on 2026-05-03 09:15 UTC** — AI-assisted report, status final.',
    );
    expect(card.detail).toContain('| L4-L5 | 1-A left | edited | 2-AB left |');
    expect(card.detail).toContain('| L5-S1 | not reported | rejected | 1-A |');
    expect(card.detail).toContain('| L3-L4 | no herniation | confirmed | no herniation |');
  });
});

describe('findingsSummary', () => {
  it('when every level is herniated and the names do not fit, then the highest grades are kept with "+N more", under 140', () => {
    const stored = analysis({
      study,
      reportId: 'r3',
      issued: '2026-05-02T10:00:00Z',
      levels: levels({
        'L1-L2': { grade: 1, zone: 'BC', side: 'right' },
        'L2-L3': { grade: 1, zone: 'AB', side: 'right' },
        'L3-L4': { grade: 3, zone: 'BC', side: 'left' },
        'L4-L5': { grade: 2, zone: 'AB', side: 'right' },
        'L5-S1': { grade: 3, zone: 'B', side: 'left' },
      }),
    });
    const { rows } = shown(stored);
    const prefix = 'Lumbar MRI of 2026-05-01 already analyzed — AI (preliminary): ';
    const summary = findingsSummary(prefix, rows);
    expect(summary.length).toBeLessThan(140);
    expect(summary).toBe(`${prefix}L3-L4 MSU 3-BC left; L4-L5 2-AB right; L5-S1 3-B left; +2 more`);
  });

  it('when no level is herniated, then it says so with the range assessed', () => {
    const { rows } = shown(analysis({ study, reportId: 'r4', issued: '2026-05-02T10:00:00Z', levels: levels({}) }));
    expect(findingsSummary('AI (preliminary): ', rows)).toBe(
      'AI (preliminary): no lumbar disc herniation (L1-L2 to L5-S1)',
    );
  });
});

describe('other cards', () => {
  it('when the card is the patient-view summary, then it is compact: no table, no suggestion', () => {
    const { mri, rows } = shown(preliminary);
    const { card, meta } = findingsCard('patientSummary', mri, rows, settings, []);
    expect(meta.kind).toBe('patientSummary');
    expect(card.detail).not.toContain('| Level');
    expect(card.suggestions).toBeUndefined();
    expect(card.source.topic.code).toBe('cds-patient-summary');
  });

  it('when the card is for a lumbar MRI order, then the summary says the recent MRI was already analyzed', () => {
    const { mri, rows } = shown(preliminary);
    expect(findingsCard('priorMri', mri, rows, settings, []).card.summary).toBe(
      'Lumbar MRI of 2026-05-01 already analyzed — AI (preliminary): L4-L5 MSU 2-AB left; L5-S1 1-A',
    );
  });

  it('when a lumbar MRI was never analyzed, then an info card says so and offers the app at that study', () => {
    const mri: LumbarMri = { imagingStudy: 'ImagingStudy/st1', date: '2026-05-01T08:00:00Z' };
    const { card, meta } = notAnalyzedCard(mri, settings, { queued: false, reason: 'No worker credentials.' });
    expect(card.summary).toBe('The lumbar MRI of 2026-05-01 has not been analyzed by ldh-cds');
    expect(card.indicator).toBe('info');
    expect(card.detail).toContain('No worker credentials.');
    expect(card.links[0]).toMatchObject({
      type: 'smart',
      appContext: '{"imagingStudy":"ImagingStudy/st1","analyze":true}',
    });
    expect(meta).toEqual({ kind: 'notAnalyzed' });
    const queued = notAnalyzedCard(mri, settings, { queued: true }).card;
    expect(queued.summary).toBe('The lumbar MRI of 2026-05-01 has not been analyzed by ldh-cds: analysis queued');
  });

  it('when the report is of another model version than the one running, then the source names it without a card link', () => {
    expect(cardSource('findings', { id: 'msu-ldh', version: '1.7.0' }, settings)).toEqual({
      label: 'ldh-cds AI: msu-ldh 1.7.0',
      topic: expect.objectContaining({ code: 'cds-findings' }) as unknown,
    });
  });
});
