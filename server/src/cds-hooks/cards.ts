/**
 * Stored findings → a CDS Hooks card (CDS Hooks 2.0 §Card attributes). Cards are built from the stored
 * DiagnosticReport's conclusion (one MSU line per level, `L4-L5: 2-AB (left)`), never by running the model
 * inside the hook call.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, DiagnosticReport, FhirResource, ServiceRequest } from 'fhir/r4';
import { SNOMED } from '../fhir/codes';
import { DISC_LEVELS, type DiscLevel } from '../findings/findings';

/**
 * SNOMED referral codes of a spine referral (docs/fhir-mapping.md §CDS Hooks; not yet confirmed against SNOMED CT):
 * orthopedic surgeon, neurosurgeon, pain management, physiotherapist.
 */
export const SPINE_REFERRAL_CODES = new Set(['308481009', '308482002', '306265007', '308447003']);

export interface CdsCard {
  uuid: string;
  summary: string;
  detail: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; url: string };
  links: { label: string; url: string; type: 'absolute' | 'smart'; appContext?: string }[];
}

export interface ConclusionLine {
  level: DiscLevel;
  herniation: boolean;
  grade?: number;
  zone?: string;
  side?: string;
}

/** A level's MSU line; a signed report may add the AI's reading after an edit (`… (AI: 2-AB left, edited)`). */
const LINE =
  /^\s*(L1-L2|L2-L3|L3-L4|L4-L5|L5-S1):\s*(?:([123])-(A|B|C|AB|BC)\s*\((left|right|central)\)|no herniation)(?:\s+\(AI: [^()]*\))?\s*$/;

export function parseConclusion(conclusion: string | undefined): ConclusionLine[] {
  return (conclusion ?? '')
    .split('\n')
    .map((line) => LINE.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) =>
      match[2]
        ? {
            level: match[1] as DiscLevel,
            herniation: true,
            grade: Number(match[2]),
            zone: match[3] ?? '',
            side: match[4] ?? '',
          }
        : { level: match[1] as DiscLevel, herniation: false },
    )
    .sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level));
}

const isSpineCode = (concept: ServiceRequest['code']): boolean =>
  (concept?.coding ?? []).some(
    (coding) =>
      (coding.system === undefined || coding.system === SNOMED) && SPINE_REFERRAL_CODES.has(coding.code ?? ''),
  );

export function isSpineReferral(resource: FhirResource): boolean {
  if (resource.resourceType !== 'ServiceRequest') return false;
  return isSpineCode(resource.code) || (resource.performerType !== undefined && isSpineCode(resource.performerType));
}

/**
 * The draft orders the hook is about: for order-select only the `selections` (when listed), for order-sign
 * all draft orders (CDS Hooks order-select / order-sign context).
 */
export function hasSpineReferral(draftOrders: Bundle | undefined, selections?: string[]): boolean {
  const resources = (draftOrders?.entry ?? [])
    .map((entry) => entry.resource)
    .filter((r): r is FhirResource => r !== undefined);
  const selected =
    selections && selections.length > 0
      ? resources.filter((r) => selections.includes(`${r.resourceType}/${r.id ?? ''}`))
      : resources;
  return selected.some(isSpineReferral);
}

/** The newest report whose conclusion holds MSU lines; ldh-cds reports first. */
export function latestFindingsReport(
  reports: DiagnosticReport[],
): { report: DiagnosticReport; lines: ConclusionLine[] } | undefined {
  return reports
    .map((report) => ({ report, lines: parseConclusion(report.conclusion) }))
    .filter(({ lines }) => lines.length > 0)
    .sort((a, b) =>
      (b.report.issued ?? b.report.effectiveDateTime ?? '').localeCompare(
        a.report.issued ?? a.report.effectiveDateTime ?? '',
      ),
    )[0];
}

export const CARD_SOURCE_LABEL = 'ldh-cds — not for clinical use — synthetic-trained demo model';
const SUMMARY_PREFIX = 'Lumbar MRI (AI, preliminary): ';
const MAX_SUMMARY = 139;

function summaryOf(lines: ConclusionLine[]): string {
  const herniated = lines.filter((line) => line.herniation);
  if (herniated.length === 0)
    return `${SUMMARY_PREFIX}no disc herniation at ${lines.map((l) => l.level).join(', ')}`.slice(0, MAX_SUMMARY);
  let summary = SUMMARY_PREFIX;
  herniated.forEach((line, i) => {
    const part = `${i > 0 ? '; ' : ''}${line.level} ${line.grade ?? ''}-${line.zone ?? ''} ${line.side ?? ''}`;
    // CDS Hooks: summary SHALL be < 140 characters; drop whole levels, never cut one in half.
    if (summary.length + part.length <= MAX_SUMMARY - 4) summary += part;
    else if (!summary.endsWith('…')) summary += '; …';
  });
  return summary;
}

export function buildCard(report: DiagnosticReport, lines: ConclusionLine[], appBaseUrl: string): CdsCard {
  const detail = [
    `**AI-generated, preliminary until confirmed by a clinician** (MSU classification, report status: ${report.status}${report.issued ? `, ${report.issued}` : ''})`,
    '',
    ...lines.map((line) =>
      line.herniation
        ? `- ${line.level}: MSU ${line.grade ?? ''}-${line.zone ?? ''} (${line.side ?? ''})`
        : `- ${line.level}: no herniation`,
    ),
  ].join('\n');
  const imagingStudy = report.imagingStudy?.[0]?.reference;
  return {
    uuid: randomUUID(),
    summary: summaryOf(lines),
    detail,
    indicator: lines.some((line) => (line.grade ?? 0) >= 2) ? 'warning' : 'info',
    source: { label: CARD_SOURCE_LABEL, url: appBaseUrl },
    links: [
      {
        label: 'Open ldh-cds',
        url: `${appBaseUrl}/launch.html`,
        type: 'smart',
        ...(imagingStudy ? { appContext: JSON.stringify({ imagingStudy }) } : {}),
      },
    ],
  };
}

/** For a spine referral without any stored analysis: say so and offer the app. */
export function buildNoAnalysisCard(appBaseUrl: string): CdsCard {
  return {
    uuid: randomUUID(),
    summary: 'No AI analysis of a lumbar MRI on file: open ldh-cds to grade disc herniation (MSU)',
    detail:
      'ldh-cds found no stored MSU analysis for this patient. Open the app to analyze the latest lumbar MRI (AI-generated, preliminary).',
    indicator: 'info',
    source: { label: CARD_SOURCE_LABEL, url: appBaseUrl },
    links: [{ label: 'Open ldh-cds', url: `${appBaseUrl}/launch.html`, type: 'smart' }],
  };
}
