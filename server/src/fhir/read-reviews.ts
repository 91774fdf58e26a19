/**
 * Every signed ldh-cds review an EHR holds, level by level, for monitoring the model (`npm run eval -- --from-fhir`,
 * docs/fhir-mapping.md §Clinician review): what the AI reported, what the clinician signed, and the decision.
 *
 * Two searches, every page of each (R4 http.html#paging): our reports by identifier system and status final or
 * amended, and our level Observations by identifier system; joined through `DiagnosticReport.result`. A report signed
 * outside ldh-cds (no review recorded on its Observations) has no levels here.
 */
import type { DiagnosticReport, Observation } from 'fhir/r4';
import type { DiscLevel, LevelReading, ModelRef, ReviewDecision } from '../findings/findings';
import { COMPONENT_CODES, OBSERVATION_IDENTIFIER_SYSTEM, REPORT_IDENTIFIER_SYSTEM } from './codes';
import type { FhirClient } from './fhir-client';
import {
  aiReadingOf,
  componentOf,
  levelOf,
  observationReading,
  ourCodeOf,
  reviewDecisionOf,
} from './observation-reading';
import { analysisOfReport } from './read-findings';

export interface ReviewedLevel {
  level: DiscLevel;
  decision: ReviewDecision;
  /** What the AI model reported. */
  ai: LevelReading;
  /** What the clinician signed; none for a rejected finding. */
  signed?: LevelReading;
  /** A rejection's coded reason (ValueSet rejection-reason) and the clinician's words. */
  reasonCode?: string;
  reason?: string;
}

export interface SignedReview {
  /** `DiagnosticReport/<id>`. */
  report: string;
  status: DiagnosticReport['status'];
  studyInstanceUid: string;
  model: ModelRef;
  levels: ReviewedLevel[];
}

/** The statuses of a signed report that `--from-fhir` counts (R4 diagnostic-report-status). */
const SIGNED = new Set<DiagnosticReport['status']>(['final', 'amended']);
/** A site's whole record can be long: pages of 100, up to 100 000 resources per search. */
const MAX_PAGES = 1000;

function reviewedLevel(observation: Observation): ReviewedLevel | undefined {
  const level = levelOf(observation);
  const decision = reviewDecisionOf(observation);
  if (!level || !decision) return undefined;
  const reason = componentOf(observation, COMPONENT_CODES.rejectionReason);
  const reasonCode = ourCodeOf(reason);
  return {
    level,
    decision,
    ai: aiReadingOf(observation),
    ...(decision === 'reject' ? {} : { signed: observationReading(observation) }),
    ...(decision === 'reject' && reasonCode ? { reasonCode } : {}),
    ...(decision === 'reject' && reason?.valueCodeableConcept?.text
      ? { reason: reason.valueCodeableConcept.text }
      : {}),
  };
}

export async function readSignedReviews(client: FhirClient): Promise<SignedReview[]> {
  const [reports, observations] = await Promise.all([
    client.searchAll<DiagnosticReport>(
      'DiagnosticReport',
      { identifier: `${REPORT_IDENTIFIER_SYSTEM}|`, status: 'final,amended', _count: '100' },
      { maxPages: MAX_PAGES },
    ),
    client.searchAll<Observation>(
      'Observation',
      { identifier: `${OBSERVATION_IDENTIFIER_SYSTEM}|`, _count: '100' },
      { maxPages: MAX_PAGES },
    ),
  ]);
  const observationsById = new Map(
    observations.map((observation) => [`Observation/${observation.id ?? ''}`, observation]),
  );
  return reports
    .filter((report) => SIGNED.has(report.status))
    .flatMap((report) => {
      const analysis = analysisOfReport(report);
      if (!analysis || !report.id) return [];
      const levels = (report.result ?? [])
        .map((ref) => observationsById.get((ref.reference ?? '').replace(/\/_history\/.*$/, '')))
        .filter((observation): observation is Observation => observation !== undefined)
        .map(reviewedLevel)
        .filter((level): level is ReviewedLevel => level !== undefined);
      return [{ report: `DiagnosticReport/${report.id}`, status: report.status, ...analysis, levels }];
    })
    .sort((a, b) => a.report.localeCompare(b.report));
}
