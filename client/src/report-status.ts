/**
 * The report's state in words: the status line above the findings, the version history once signed, and — after a
 * save refused because someone else changed the report — what changed between the version the user loaded and the
 * one the EHR holds now. Pure; dates go through `formatInstant` (the user's locale, never ISO).
 */
import type { AnalysisResult, ReportVersion } from './api';
import { formatInstant, type DateFormatOptions } from './format-date';
import { findingToReading, readingLabel, readingsEqual } from './review-state';

export const PRELIMINARY_STATUS_LINE = 'Preliminary — AI-generated, not yet reviewed';

/** A report a clinician has signed (or amended): it shows the signature and history, not the review form. */
export function isSigned(result: Pick<AnalysisResult, 'status' | 'findings'>): boolean {
  return result.findings.signature !== undefined || result.status === 'final' || result.status === 'amended';
}

/** The review form is offered for an unsigned AI report whose version the server told us. */
export function isReviewable(result: Pick<AnalysisResult, 'status' | 'findings' | 'versionId'>): boolean {
  return !isSigned(result) && (result.status === undefined || result.status === 'preliminary');
}

/** Who is looking: their `fhirUser`, so that what they signed says "you". */
export interface Viewer {
  fhirUser?: string;
}

function signerName(result: Pick<AnalysisResult, 'findings'>, viewer: Viewer): string {
  const signature = result.findings.signature;
  const name = signature?.display?.trim() || signature?.by || 'a clinician';
  if (signature && viewer.fhirUser && signature.by === viewer.fhirUser) {
    return signature.display?.trim() ? `you (${signature.display.trim()})` : 'you';
  }
  return name;
}

/**
 * `Preliminary — AI-generated, not yet reviewed`, `Signed by Dr Ada Lovelace on 5 Mar 2026, 10:04`,
 * `Amended by … on …`, `Withdrawn — …`; `Signed by you on …` for the signed-in user's own signature (the EHR may not
 * let the app read the signer's name: the reference is then all there is).
 */
export function reportStatusLine(
  result: Pick<AnalysisResult, 'status' | 'findings'>,
  dates: DateFormatOptions = {},
  viewer: Viewer = {},
): string {
  const signature = result.findings.signature;
  const when = signature?.at ? ` on ${formatInstant(signature.at, dates)}` : '';
  if (result.status === 'amended') return `Amended by ${signerName(result, viewer)}${when}`;
  if (signature || result.status === 'final') return `Signed by ${signerName(result, viewer)}${when}`;
  if (result.status === 'cancelled') return 'Withdrawn — a newer analysis replaced this AI report';
  if (result.status === 'entered-in-error') return 'Entered in error — do not use';
  if (result.status === undefined || result.status === 'preliminary') return PRELIMINARY_STATUS_LINE;
  return `Report ${result.status}`;
}

const STATUS_WORDS: Record<string, string> = {
  preliminary: 'Preliminary (AI)',
  final: 'Signed',
  amended: 'Amended',
  corrected: 'Corrected',
  cancelled: 'Withdrawn',
  'entered-in-error': 'Entered in error',
};

export function statusWord(status: string): string {
  return STATUS_WORDS[status] ?? status.charAt(0).toUpperCase() + status.slice(1);
}

export interface HistoryRow {
  versionId: string;
  /** `3`: the version's number counted from the AI's first (versionIds are the server's, often UUIDs). */
  number: string;
  status: string;
  by: string;
  at: string;
}

/** The history table's rows, in the server's order (newest first), dates in the user's locale. */
export function historyRows(
  history: readonly ReportVersion[],
  dates: DateFormatOptions = {},
  viewer: Viewer = {},
): HistoryRow[] {
  return history.map((version, index) => ({
    versionId: version.versionId,
    number: String(history.length - index),
    status: statusWord(version.status),
    by: version.by === undefined ? '—' : viewer.fhirUser === version.by ? 'you' : version.by,
    at: version.at ? formatInstant(version.at, dates) : '—',
  }));
}

/**
 * What changed between the analysis the user loaded and the one the EHR holds now, one sentence each. Always at
 * least one sentence, so "Reload" never looks as if nothing happened.
 */
export function describeReportChanges(
  before: AnalysisResult,
  after: AnalysisResult,
  dates: DateFormatOptions = {},
): string[] {
  const changes: string[] = [];
  if (after.diagnosticReport !== before.diagnosticReport) {
    changes.push('The study now has a different report: a newer analysis replaced the one you loaded.');
  }
  if (after.versionId !== before.versionId) {
    const count = after.history?.length;
    changes.push(`The report was saved again after you opened it${count ? ` (it now has ${count} versions)` : ''}.`);
  }
  if (after.status !== before.status) {
    changes.push(`Its status changed from ${before.status ?? 'unknown'} to ${after.status ?? 'unknown'}.`);
  }
  if (after.findings.signature && after.findings.signature.at !== before.findings.signature?.at) {
    changes.push(`${reportStatusLine(after, dates)}.`);
  }
  const beforeModel = `${before.findings.model.id} ${before.findings.model.version}`;
  const afterModel = `${after.findings.model.id} ${after.findings.model.version}`;
  if (beforeModel !== afterModel) changes.push(`The analysis is now from model ${afterModel} (was ${beforeModel}).`);
  for (const finding of after.findings.levels) {
    const previous = before.findings.levels.find((candidate) => candidate.level === finding.level);
    const now = findingToReading(finding);
    if (!previous) {
      changes.push(`${finding.level} is now assessed: ${readingLabel(now)}.`);
      continue;
    }
    const was = findingToReading(previous);
    if (!readingsEqual(now, was)) {
      changes.push(`${finding.level} now reads ${readingLabel(now)} (was ${readingLabel(was)}).`);
    }
    if (finding.review && finding.review.decision !== previous.review?.decision) {
      changes.push(`${finding.level} was ${pastTense(finding.review.decision)} by someone else.`);
    }
  }
  for (const warning of after.findings.warnings) {
    if (!before.findings.warnings.includes(warning)) changes.push(`New warning: ${warning}`);
  }
  if (
    changes.length <= 1 &&
    after.versionId !== before.versionId &&
    after.diagnosticReport === before.diagnosticReport
  ) {
    changes.push('The findings and status are unchanged: the report was edited elsewhere (for example its text).');
  }
  return changes;
}

function pastTense(decision: 'confirm' | 'edit' | 'reject'): string {
  return decision === 'confirm' ? 'confirmed' : decision === 'edit' ? 'edited' : 'rejected';
}
