/**
 * CDS Hooks 2.0 cards (§Card Attributes) from the stored, structured results (current-report.ts): never by running
 * the model inside the hook call, never by reading the report's conclusion text.
 *
 * Every card has a `uuid` (feedback names it), a `summary` under 140 characters, an `indicator`, a markdown `detail`,
 * a `source` whose `topic` says what kind of card it is (ldh-cds ValueSet cds-card-kind, by which feedback is
 * counted) and whose label and link are the model's (its manifest's name, its model card), and a SMART link that opens
 * the app at the study (`appContext`). Cards at an order carry the suggestion to attach the report to the draft
 * order's `supportingInfo` (an `update` action) with `selectionBehavior`, and coded `overrideReasons`.
 */
import { randomUUID } from 'node:crypto';
import type { Coding, ServiceRequest } from 'fhir/r4';
import type { LevelReading, ModelRef } from '../findings/findings';
import { CDS_CARD_KIND_CODES, CDS_OVERRIDE_REASON_CODES, type CdsCardKind } from '../fhir/codes';
import { isSignedReport } from '../fhir/read-findings';
import { signatureOf, type LevelRow, type LumbarMri, type OurReport } from './current-report';

export interface CdsLink {
  label: string;
  url: string;
  type: 'absolute' | 'smart';
  appContext?: string;
}

export interface CdsAction {
  type: 'create' | 'update' | 'delete';
  description: string;
  resource?: ServiceRequest;
  resourceId?: string[];
}

export interface CdsSuggestion {
  label: string;
  uuid: string;
  isRecommended?: boolean;
  actions: CdsAction[];
}

export interface CdsCard {
  uuid: string;
  summary: string;
  detail: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; url?: string; topic: Coding };
  suggestions?: CdsSuggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: Coding[];
  links: CdsLink[];
}

/** What feedback on a card is counted by: its kind and the model whose results it showed. */
export interface CardMeta {
  kind: CdsCardKind;
  model?: ModelRef;
}

/** The model the app runs (pipeline/model-info.ts), as far as a card's source needs it. */
export interface ModelDescription {
  id: string;
  version: string;
  name: string;
  /** The repository's synthetic-trained demo model: the label says "not for clinical use". */
  bundled: boolean;
}

export interface CardSettings {
  appBaseUrl: string;
  /** The model MODEL_DIR holds, when it could be read. */
  model?: ModelDescription;
  /** Where its model card is served (GET /api/model/card). */
  modelCardPath: string;
}

const MAX_SUMMARY = 139; // CDS Hooks: "<140-character summary"

/** The card's source: the model's manifest name and its model card when the results are the running model's. */
export function cardSource(kind: CdsCardKind, model: ModelRef | undefined, settings: CardSettings): CdsCard['source'] {
  const topic = CDS_CARD_KIND_CODES[kind];
  const running = settings.model;
  if (running && (model === undefined || (running.id === model.id && running.version === model.version))) {
    const label = `ldh-cds AI: ${running.name}${running.bundled ? ' — not for clinical use' : ''}`;
    return { label, url: `${settings.appBaseUrl}${settings.modelCardPath}`, topic };
  }
  // Results of another model version than the one running: name it; its model card is not served here.
  return { label: model ? `ldh-cds AI: ${model.id} ${model.version}` : 'ldh-cds', topic };
}

/** `2025-06-01` of a FHIR date or dateTime. */
export function dateOf(value: string | undefined): string {
  return value?.slice(0, 10) ?? 'unknown date';
}

/** `2025-06-03 09:12 UTC` of an instant (as it is, when it cannot be read). */
export function instantOf(value: string | undefined): string {
  if (!value) return 'an unknown time';
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? value : `${time.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const msuClass = (reading: LevelReading): string => `${reading.grade ?? '?'}-${reading.zone ?? '?'}`;

/** `2-AB left`, `1-A` (zone A is central: a central side adds nothing), or `no herniation`. */
export function readingText(reading: LevelReading): string {
  if (!reading.herniation) return 'no herniation';
  return reading.side && reading.side !== 'central' ? `${msuClass(reading)} ${reading.side}` : msuClass(reading);
}

/** The levels a summary names: herniated, not rejected, highest grade first when they do not all fit. */
const herniated = (levels: readonly LevelRow[]): LevelRow[] =>
  levels.filter((row) => row.reading.herniation && row.decision !== 'reject');

export const maxGrade = (levels: readonly LevelRow[]): number =>
  Math.max(0, ...herniated(levels).map((row) => row.reading.grade ?? 0));

/**
 * `AI (preliminary): L4-L5 MSU 2-AB left; L5-S1 1-A`, under 140 characters: whole levels, the highest grades kept
 * when they do not all fit (then `; +N more`), in anatomical order.
 */
export function findingsSummary(prefix: string, levels: readonly LevelRow[]): string {
  const shown = herniated(levels);
  if (shown.length === 0) {
    const assessed = levels.filter((row) => row.decision !== 'reject');
    const range =
      assessed.length > 0 ? ` (${assessed[0]?.level ?? ''} to ${assessed[assessed.length - 1]?.level ?? ''})` : '';
    return fit(`${prefix}no lumbar disc herniation${range}`);
  }
  const phrase = (rows: LevelRow[]): string =>
    rows.map((row, i) => `${row.level} ${i === 0 ? 'MSU ' : ''}${readingText(row.reading)}`).join('; ');
  const byImportance = [...shown].sort((a, b) => (b.reading.grade ?? 0) - (a.reading.grade ?? 0));
  for (let count = shown.length; count >= 1; count--) {
    const kept = new Set(byImportance.slice(0, count));
    const rows = shown.filter((row) => kept.has(row));
    const more = shown.length - count;
    const text = `${prefix}${phrase(rows)}${more > 0 ? `; +${more} more` : ''}`;
    if (text.length <= MAX_SUMMARY) return text;
  }
  return fit(`${prefix}${shown.length} herniated levels`);
}

const fit = (text: string): string => (text.length <= MAX_SUMMARY ? text : `${text.slice(0, MAX_SUMMARY - 1)}…`);

/** The status a card states: preliminary, or signed by whom and when. */
export function statusLine(report: OurReport): string {
  const signature = signatureOf(report.report);
  if (!signature)
    return `**AI-generated, preliminary — not yet reviewed by a clinician.** Report status: ${report.report.status}.`;
  return `**Signed by ${signature.by ?? 'a clinician'} on ${instantOf(signature.at)}** — AI-assisted report, status ${report.report.status}.`;
}

const DECISION_TEXT = { confirm: 'confirmed', edit: 'edited', reject: 'rejected' } as const;

/** The per-level table: the AI's reading while preliminary; the signed reading, the decision and the AI's once signed. */
export function levelTable(report: OurReport, levels: readonly LevelRow[]): string {
  const confidence = (row: LevelRow): string => (row.confidence !== undefined ? row.confidence.toFixed(2) : '—');
  if (!isSignedReport(report.report)) {
    return [
      '| Level | MSU (AI) | Confidence |',
      '| --- | --- | --- |',
      ...levels.map((row) => `| ${row.level} | ${bold(row)} | ${confidence(row)} |`),
    ].join('\n');
  }
  return [
    '| Level | Signed reading | Review | AI reading |',
    '| --- | --- | --- | --- |',
    ...levels.map((row) => {
      const signed = row.decision === 'reject' ? 'not reported' : bold(row);
      const decision = row.decision ? DECISION_TEXT[row.decision] : '—';
      return `| ${row.level} | ${signed} | ${decision} | ${readingText(row.ai ?? row.reading)} |`;
    }),
  ].join('\n');
}

const bold = (row: LevelRow): string =>
  row.reading.herniation && (row.reading.grade ?? 0) >= 2
    ? `**${readingText(row.reading)}**`
    : readingText(row.reading);

/**
 * The SMART link that opens the app at the study. CDS Hooks 2.0 Link `appContext` is a string the EHR hands to the
 * launched app unchanged, in the token response; ours is JSON the client reads (client/src/launch-study.ts):
 * `imagingStudy` (opened, instead of the patient's study list alone), the `diagnosticReport` the card showed, and
 * `analyze: true` on a study never analyzed — its link says "to analyze this study", so the app starts (or joins) the
 * analysis on opening (docs/fhir-mapping.md §Opening the app at a study).
 */
export function appLink(
  settings: CardSettings,
  label: string,
  imagingStudy: string,
  shows: { report: OurReport } | { analyze: true },
): CdsLink {
  const context = 'report' in shows ? { diagnosticReport: shows.report.reference } : { analyze: true };
  return {
    label,
    url: `${settings.appBaseUrl}/launch.html`,
    type: 'smart',
    appContext: JSON.stringify({ imagingStudy, ...context }),
  };
}

/** `update` each draft order to hold the report in `supportingInfo`; none when every draft already holds it. */
export function attachSuggestion(
  report: OurReport,
  mri: LumbarMri,
  drafts: readonly ServiceRequest[],
): CdsSuggestion[] {
  const display = `${isSignedReport(report.report) ? 'Signed' : 'Preliminary'} AI analysis of the lumbar MRI of ${dateOf(mri.date)} (ldh-cds)`;
  const holds = (draft: ServiceRequest): boolean =>
    (draft.supportingInfo ?? []).some(
      (info) => info.reference === report.reference || info.reference?.endsWith(`/${report.reference}`),
    );
  const toUpdate = drafts.filter((draft) => draft.id !== undefined && !holds(draft));
  if (toUpdate.length === 0) return [];
  return [
    {
      uuid: randomUUID(),
      label: 'Attach the lumbar MRI analysis to the order',
      isRecommended: true,
      actions: toUpdate.map((draft) => ({
        type: 'update',
        description: `Add ${report.reference} (${display}) to the supporting information of ${draft.code?.text ?? `ServiceRequest/${draft.id ?? ''}`}.`,
        resource: {
          ...draft,
          supportingInfo: [...(draft.supportingInfo ?? []), { reference: report.reference, display }],
        },
      })),
    },
  ];
}

const OVERRIDE_REASONS: Coding[] = [
  CDS_OVERRIDE_REASON_CODES.alreadyReviewed,
  CDS_OVERRIDE_REASON_CODES.notRelevant,
  CDS_OVERRIDE_REASON_CODES.disagree,
];

export interface BuiltCard {
  card: CdsCard;
  meta: CardMeta;
}

/**
 * The findings of the current report: at a referral (`findings`), at a lumbar MRI order (`priorMri`: "already
 * analyzed"), or compact when the chart opens (`patientSummary`: no table, no suggestion).
 */
export function findingsCard(
  kind: 'findings' | 'priorMri' | 'patientSummary',
  mri: LumbarMri & { report: OurReport },
  levels: readonly LevelRow[],
  settings: CardSettings,
  drafts: readonly ServiceRequest[] = [],
): BuiltCard {
  const { report } = mri;
  const signed = isSignedReport(report.report);
  const prefix =
    (kind === 'priorMri' ? `Lumbar MRI of ${dateOf(mri.date)} already analyzed — ` : '') +
    (signed ? 'Signed (AI-assisted): ' : 'AI (preliminary): ');
  const about = `Lumbar MRI of ${dateOf(mri.date)}, analyzed ${instantOf(report.report.issued)} by ${report.model.id} ${report.model.version}.`;
  const detail =
    kind === 'patientSummary'
      ? [statusLine(report), '', about].join('\n')
      : [
          statusLine(report),
          '',
          about,
          ...(kind === 'priorMri'
            ? ['', 'A recent lumbar MRI of this patient has already been analyzed; check whether a new one is needed.']
            : []),
          '',
          levelTable(report, levels),
          '',
          'MSU classification: size grade 1–3, zone A (central) to C (foraminal).',
        ].join('\n');
  const suggestions = kind === 'patientSummary' ? [] : attachSuggestion(report, mri, drafts);
  const card: CdsCard = {
    uuid: randomUUID(),
    summary: findingsSummary(prefix, levels),
    detail,
    indicator: maxGrade(levels) >= 2 ? 'warning' : 'info',
    source: cardSource(kind, report.model, settings),
    ...(suggestions.length > 0 ? { suggestions, selectionBehavior: 'at-most-one' as const } : {}),
    overrideReasons: OVERRIDE_REASONS,
    links: [appLink(settings, 'Open ldh-cds at this study', mri.imagingStudy, { report })],
  };
  return { card, meta: { kind, model: report.model } };
}

/** What happens about a study that was never analyzed: queued now, or the clinician opens the app. */
export type AnalysisRequestOutcome = { queued: true } | { queued: false; reason: string };

/** A lumbar MRI without an analysis: say so, offer the app at that study, and say whether it was queued. */
export function notAnalyzedCard(mri: LumbarMri, settings: CardSettings, outcome: AnalysisRequestOutcome): BuiltCard {
  const date = dateOf(mri.date);
  const card: CdsCard = {
    uuid: randomUUID(),
    summary: fit(
      `The lumbar MRI of ${date} has not been analyzed by ldh-cds${outcome.queued ? ': analysis queued' : ''}`,
    ),
    detail: [
      `No AI analysis of the lumbar MRI of ${date} is on file.`,
      '',
      outcome.queued
        ? 'Its analysis has been queued; the findings will be on the next card once it is done (usually within minutes).'
        : `Open ldh-cds at this study to analyze it (about a minute); the next card will show its findings. ${outcome.reason}`,
    ].join('\n'),
    indicator: 'info',
    source: cardSource('notAnalyzed', undefined, settings),
    overrideReasons: [CDS_OVERRIDE_REASON_CODES.notRelevant],
    links: [appLink(settings, 'Open ldh-cds to analyze this study', mri.imagingStudy, { analyze: true })],
  };
  return { card, meta: { kind: 'notAnalyzed' } };
}
