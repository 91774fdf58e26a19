import type { Bundle, DiagnosticReport } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { buildCard, CARD_SOURCE_LABEL, hasSpineReferral, latestFindingsReport, parseConclusion } from './cards';

const report = (conclusion: string, issued: string): DiagnosticReport => ({
  resourceType: 'DiagnosticReport',
  status: 'preliminary',
  code: { coding: [{ system: 'http://loinc.org', code: '18748-4' }] },
  issued,
  conclusion,
  imagingStudy: [{ reference: 'ImagingStudy/s1' }],
});
const referral = (code: string, id = 'sr1'): Bundle => ({
  resourceType: 'Bundle',
  type: 'collection',
  entry: [
    {
      resource: {
        resourceType: 'ServiceRequest',
        id,
        status: 'draft',
        intent: 'order',
        subject: { reference: 'Patient/p' },
        code: { coding: [{ system: 'http://snomed.info/sct', code }] },
      },
    },
  ],
});

describe('hasSpineReferral', () => {
  it('when a draft ServiceRequest has a spine referral code, then it is a spine referral', () => {
    expect(hasSpineReferral(referral('308482002'))).toBe(true);
  });
  it('when the code is something else or not selected, then it is not', () => {
    expect(hasSpineReferral(referral('12345'))).toBe(false);
    expect(hasSpineReferral(referral('308482002'), ['ServiceRequest/other'])).toBe(false);
  });
});

describe('buildCard', () => {
  const lines = parseConclusion('L1-L2: no herniation\nL4-L5: 2-AB (left)\nL5-S1: 1-A (right)');
  const card = buildCard(report('', '2026-01-01'), lines, 'http://app');

  it('names the herniated levels in a summary under 140 characters', () => {
    expect(card.summary).toBe('Lumbar MRI (AI, preliminary): L4-L5 2-AB left; L5-S1 1-A right');
    expect(card.summary.length).toBeLessThan(140);
  });
  it('warns when any grade is ≥ 2, labels the source, and links to the SMART app', () => {
    expect(card.indicator).toBe('warning');
    expect(card.source.label).toBe(CARD_SOURCE_LABEL);
    expect(card.links[0]).toMatchObject({ label: 'Open ldh-cds', url: 'http://app/launch.html', type: 'smart' });
    expect(card.detail).toContain('AI-generated, preliminary until confirmed by a clinician');
    expect(card.detail).toContain('- L4-L5: MSU 2-AB (left)');
    expect(card.uuid).toMatch(/^[0-9a-f-]{36}$/);
  });
  it('is info when only grade 1 herniations are present', () => {
    expect(buildCard(report('', ''), parseConclusion('L5-S1: 1-A (right)'), 'http://app').indicator).toBe('info');
  });
});

describe('latestFindingsReport', () => {
  it('picks the newest report whose conclusion holds MSU lines', () => {
    const latest = latestFindingsReport([
      report('L5-S1: 1-A (right)', '2026-01-01'),
      report('L5-S1: 3-B (left)', '2026-03-01'),
      report('Free text', '2026-04-01'),
    ]);
    expect(latest?.lines).toEqual([{ level: 'L5-S1', herniation: true, grade: 3, zone: 'B', side: 'left' }]);
  });
});
