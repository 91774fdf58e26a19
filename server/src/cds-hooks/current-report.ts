/**
 * Which of the patient's lumbar MRIs and ldh-cds reports a card speaks of, from the FHIR resources the hook call
 * brought or fetched (patient-record.ts), and each level's reading from the report's structured Observations — never
 * from its conclusion text (docs/fhir-mapping.md §CDS Hooks).
 *
 * - Our reports only: those with our identifier system (`…/identifier/analysis-report`), whose value names the study
 *   and the model (read-findings.ts `analysisOfReport`).
 * - A report stands unless it is withdrawn (`cancelled`, `entered-in-error`) or superseded: another report of ours
 *   names it in the R4 core extension `diagnosticReport-replaces` (write-findings.ts writes that extension when a new
 *   model's analysis supersedes an unsigned one; the old one is also cancelled, but a report named as replaced is
 *   never shown, whatever its status says).
 * - Per study, the report that stands for it: a signed one (`final`, `amended`, `corrected`, `appended`) before a
 *   preliminary one, the newest by `issued` within each (read-findings.ts `currentReport`, the panel's rule).
 * - Across studies, the newest lumbar MRI wins (by `ImagingStudy.started`, else the report's `effectiveDateTime`, the
 *   acquisition): a signed report of an older MRI does not hide a newer MRI, analyzed or not.
 */
import type { DiagnosticReport, ImagingStudy, Observation } from 'fhir/r4';
import {
  DISC_LEVELS,
  type DiscLevel,
  type LevelReading,
  type ModelRef,
  type ReviewDecision,
} from '../findings/findings';
import { COMPONENT_CODES, DIAGNOSTIC_REPORT_REPLACES, REPORT_IDENTIFIER_SYSTEM } from '../fhir/codes';
import { aiReadingOf, componentOf, levelOf, observationReading, reviewDecisionOf } from '../fhir/observation-reading';
import { analysisOfReport, isSignedReport, isWithdrawnReport } from '../fhir/read-findings';

/** `Type/id` of a relative or absolute reference (a version suffix dropped); undefined when it is neither. */
export function relativeReference(reference: string | undefined): string | undefined {
  const match = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference ?? '');
  return match ? `${match[1] ?? ''}/${match[2] ?? ''}` : undefined;
}

/** One of our reports, with what it is of. */
export interface OurReport {
  report: DiagnosticReport & { id: string };
  /** `DiagnosticReport/<id>`. */
  reference: string;
  /** `ImagingStudy/<id>`, when the report names one. */
  imagingStudy?: string;
  model: ModelRef;
}

export function ourReports(reports: readonly DiagnosticReport[]): OurReport[] {
  return reports.flatMap((report) => {
    const analysis = analysisOfReport(report);
    const ours = report.identifier?.some((identifier) => identifier.system === REPORT_IDENTIFIER_SYSTEM) ?? false;
    if (!ours || !analysis || report.id === undefined) return [];
    const imagingStudy = relativeReference(report.imagingStudy?.[0]?.reference);
    return [
      {
        report: { ...report, id: report.id },
        reference: `DiagnosticReport/${report.id}`,
        ...(imagingStudy ? { imagingStudy } : {}),
        model: analysis.model,
      },
    ];
  });
}

/** The reports that another of ours replaces (R4 core extension diagnosticReport-replaces). */
function replacedReferences(reports: readonly OurReport[]): Set<string> {
  return new Set(
    reports.flatMap(({ report }) =>
      (report.extension ?? [])
        .filter((extension) => extension.url === DIAGNOSTIC_REPORT_REPLACES)
        .map((extension) => relativeReference(extension.valueReference?.reference))
        .filter((reference): reference is string => reference !== undefined),
    ),
  );
}

const STANDING_STATUSES = new Set<DiagnosticReport['status']>([
  'preliminary',
  'final',
  'amended',
  'corrected',
  'appended',
]);

/** Our reports that stand: not withdrawn, not superseded, released (preliminary or signed). */
export function standingReports(reports: readonly OurReport[]): OurReport[] {
  const replaced = replacedReferences(reports);
  return reports.filter(
    ({ report, reference }) =>
      !isWithdrawnReport(report) && STANDING_STATUSES.has(report.status) && !replaced.has(reference),
  );
}

const byIssuedDesc = (a: OurReport, b: OurReport): number =>
  (b.report.issued ?? '').localeCompare(a.report.issued ?? '');

/** The report that stands for one study: signed before preliminary, newest first within each. */
export function reportForStudy(reports: readonly OurReport[]): OurReport | undefined {
  const sorted = [...reports].sort(byIssuedDesc);
  return sorted.find(({ report }) => isSignedReport(report)) ?? sorted[0];
}

export interface LumbarMri {
  /** `ImagingStudy/<id>`. */
  imagingStudy: string;
  /** When the images were acquired (ImagingStudy.started, else the report's effectiveDateTime). */
  date?: string;
  /** The report that stands for it, when it has been analyzed. */
  report?: OurReport;
}

/**
 * The patient's lumbar MRIs, newest first: every lumbar MR ImagingStudy (`isLumbarMri`), each with the report that
 * stands for it, and the studies our standing reports name that the record did not list.
 */
export function lumbarMris(
  studies: readonly ImagingStudy[],
  reports: readonly DiagnosticReport[],
  isLumbarMri: (study: ImagingStudy) => boolean,
): LumbarMri[] {
  const standing = standingReports(ourReports(reports));
  const byStudy = new Map<string, OurReport[]>();
  for (const report of standing) {
    if (!report.imagingStudy) continue;
    byStudy.set(report.imagingStudy, [...(byStudy.get(report.imagingStudy) ?? []), report]);
  }
  const mris = new Map<string, LumbarMri>();
  for (const study of studies) {
    if (!study.id || study.status === 'cancelled' || study.status === 'entered-in-error') continue;
    const reference = `ImagingStudy/${study.id}`;
    const forStudy = byStudy.get(reference);
    if (!isLumbarMri(study) && !forStudy) continue;
    const report = forStudy ? reportForStudy(forStudy) : undefined;
    const date = study.started ?? report?.report.effectiveDateTime;
    mris.set(reference, { imagingStudy: reference, ...(date ? { date } : {}), ...(report ? { report } : {}) });
  }
  for (const [reference, forStudy] of byStudy) {
    if (mris.has(reference)) continue;
    const report = reportForStudy(forStudy);
    const date = report?.report.effectiveDateTime ?? report?.report.issued;
    mris.set(reference, { imagingStudy: reference, ...(date ? { date } : {}), ...(report ? { report } : {}) });
  }
  return [...mris.values()].sort((a, b) => (b.date ?? '').localeCompare(a.date ?? ''));
}

/** One disc level as the card shows it. */
export interface LevelRow {
  level: DiscLevel;
  /** The reading the Observation holds: the AI's while unreviewed, the signed one once reviewed. */
  reading: LevelReading;
  confidence?: number;
  /** The clinician's decision on a signed report. */
  decision?: ReviewDecision;
  /** The AI's own reading, when the clinician edited or rejected it. */
  ai?: LevelReading;
}

/** The report's levels from its Observations (`result`), in anatomical order; `missing` names those not at hand. */
export function levelsOf(
  report: OurReport,
  observations: ReadonlyMap<string, Observation>,
): { levels: LevelRow[]; missing: string[] } {
  const references = (report.report.result ?? [])
    .map((result) => relativeReference(result.reference))
    .filter((reference): reference is string => reference?.startsWith('Observation/') ?? false);
  const missing = references.filter((reference) => !observations.has(reference));
  const signed = isSignedReport(report.report);
  const levels = references
    .map((reference) => observations.get(reference))
    .filter((observation): observation is Observation => observation !== undefined)
    .filter((observation) => observation.status !== 'entered-in-error')
    .flatMap((observation): LevelRow[] => {
      const level = levelOf(observation);
      if (!level) return [];
      const confidence = componentOf(observation, COMPONENT_CODES.confidence)?.valueQuantity?.value;
      const decision = signed ? reviewDecisionOf(observation) : undefined;
      return [
        {
          level,
          reading: observationReading(observation),
          ...(confidence !== undefined ? { confidence } : {}),
          ...(decision ? { decision } : {}),
          ...(decision === 'edit' || decision === 'reject' ? { ai: aiReadingOf(observation) } : {}),
        },
      ];
    })
    .sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level));
  return { levels, missing };
}

/** Who signed a signed report and when: its resultsInterpreter, and the time this version was stored. */
export function signatureOf(report: DiagnosticReport): { by?: string; at?: string } | undefined {
  if (!isSignedReport(report)) return undefined;
  const interpreter = report.resultsInterpreter?.[0];
  const by = interpreter?.display ?? interpreter?.reference;
  const at = report.meta?.lastUpdated;
  return { ...(by ? { by } : {}), ...(at ? { at } : {}) };
}
