import { describe, expect, it } from 'vitest';
import type { AnalysisResult } from './api';
import {
  PRELIMINARY_STATUS_LINE,
  describeReportChanges,
  historyRows,
  isReviewable,
  isSigned,
  reportStatusLine,
} from './report-status';
import { aHerniation, someFindings } from './test-factories';

const dates = { locale: 'en-GB', timeZone: 'UTC' };
const signature = { by: 'Practitioner/p1', display: 'Dr Ada Lovelace', at: '2026-03-05T10:04:00Z' };

function aResult(overrides: Partial<AnalysisResult> = {}): AnalysisResult {
  return {
    findings: someFindings(),
    diagnosticReport: 'DiagnosticReport/dr1',
    observations: [],
    status: 'preliminary',
    versionId: '1',
    ...overrides,
  };
}

describe('report status line', () => {
  it('when the AI report awaits review, then it says preliminary and AI-generated, and the review form is offered', () => {
    expect(reportStatusLine(aResult())).toBe(PRELIMINARY_STATUS_LINE);
    expect(PRELIMINARY_STATUS_LINE).toBe('Preliminary — AI-generated, not yet reviewed');
    expect(isReviewable(aResult())).toBe(true);
    expect(isSigned(aResult())).toBe(false);
  });

  it('when a clinician signed, then it names them and the time in the user locale', () => {
    const signed = aResult({ status: 'final', findings: someFindings({ signature }) });
    expect(reportStatusLine(signed, dates)).toBe('Signed by Dr Ada Lovelace on 5 Mar 2026, 10:04');
    expect(isSigned(signed)).toBe(true);
    expect(isReviewable(signed)).toBe(false);
  });

  it('when the signed-in user signed it, then it says "you"', () => {
    const mine = aResult({
      status: 'final',
      findings: someFindings({ signature: { by: 'Practitioner/p1', at: signature.at } }),
    });
    expect(reportStatusLine(mine, dates, { fhirUser: 'Practitioner/p1' })).toBe('Signed by you on 5 Mar 2026, 10:04');
    expect(
      reportStatusLine(aResult({ status: 'final', findings: someFindings({ signature }) }), dates, {
        fhirUser: 'Practitioner/p1',
      }),
    ).toBe('Signed by you (Dr Ada Lovelace) on 5 Mar 2026, 10:04');
    expect(reportStatusLine(mine, dates, { fhirUser: 'Practitioner/p2' })).toBe(
      'Signed by Practitioner/p1 on 5 Mar 2026, 10:04',
    );
  });

  it('when the report was amended, then it says amended; a signer without a name shows the reference', () => {
    const amended = aResult({
      status: 'amended',
      findings: someFindings({ signature: { by: 'Practitioner/p9', at: '2026-03-06T08:00:00Z' } }),
    });
    expect(reportStatusLine(amended, dates)).toBe('Amended by Practitioner/p9 on 6 Mar 2026, 08:00');
  });

  it('when the report was withdrawn, then the line says so instead of looking preliminary', () => {
    expect(reportStatusLine(aResult({ status: 'cancelled' }))).toMatch(/^Withdrawn/);
    expect(isReviewable(aResult({ status: 'cancelled' }))).toBe(false);
  });
});

describe('history', () => {
  it('when the report has versions (newest first), then each row has its number, status in words, who and when', () => {
    expect(
      historyRows(
        [
          { versionId: 'c3', status: 'amended' },
          { versionId: 'b2', status: 'final', by: 'Dr Ada Lovelace', at: '2026-03-05T10:04:00Z' },
          { versionId: 'a1', status: 'preliminary', by: 'msu-ldh 1.8.0', at: '2026-03-05T09:00:00Z' },
        ],
        dates,
      ),
    ).toEqual([
      { versionId: 'c3', number: '3', status: 'Amended', by: '—', at: '—' },
      { versionId: 'b2', number: '2', status: 'Signed', by: 'Dr Ada Lovelace', at: '5 Mar 2026, 10:04' },
      { versionId: 'a1', number: '1', status: 'Preliminary (AI)', by: 'msu-ldh 1.8.0', at: '5 Mar 2026, 09:00' },
    ]);
    expect(
      historyRows([{ versionId: 'b2', status: 'final', by: 'Practitioner/p1' }], dates, {
        fhirUser: 'Practitioner/p1',
      }),
    ).toEqual([{ versionId: 'b2', number: '1', status: 'Signed', by: 'you', at: '—' }]);
  });
});

describe('what changed since the user loaded the report', () => {
  it('when someone else signed and edited a level, then each change is a sentence', () => {
    const before = aResult();
    const after = aResult({
      versionId: '2',
      status: 'final',
      findings: someFindings({
        signature,
        levels: [
          ...someFindings().levels.slice(0, 3),
          aHerniation({
            grade: 3,
            review: { decision: 'edit', ai: { herniation: true, grade: 2, zone: 'AB', side: 'left' } },
          }),
          ...someFindings().levels.slice(4),
        ],
      }),
    });
    expect(describeReportChanges(before, after, dates)).toEqual([
      'The report was saved again after you opened it.',
      'Its status changed from preliminary to final.',
      'Signed by Dr Ada Lovelace on 5 Mar 2026, 10:04.',
      'L4-L5 now reads 3-AB left (was 2-AB left).',
      'L4-L5 was edited by someone else.',
    ]);
  });

  it('when only the report text changed, then the user is told the findings are unchanged', () => {
    const history = [
      { versionId: '2', status: 'preliminary' },
      { versionId: '1', status: 'preliminary' },
    ];
    expect(describeReportChanges(aResult(), aResult({ versionId: '2', history }))).toEqual([
      'The report was saved again after you opened it (it now has 2 versions).',
      'The findings and status are unchanged: the report was edited elsewhere (for example its text).',
    ]);
  });

  it('when a newer analysis replaced the report, then that is said first', () => {
    const after = aResult({
      diagnosticReport: 'DiagnosticReport/dr2',
      findings: someFindings({ model: { id: 'msu-ldh', version: '1.9.0' } }),
    });
    expect(describeReportChanges(aResult(), after)).toEqual([
      'The study now has a different report: a newer analysis replaced the one you loaded.',
      'The analysis is now from model msu-ldh 1.9.0 (was msu-ldh-phantom 0.1.0).',
    ]);
  });
});
