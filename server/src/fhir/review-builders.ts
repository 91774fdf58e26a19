/**
 * A clinician's review of an AI analysis → the FHIR resources of the signing (docs/fhir-mapping.md §Clinician review
 * tables every element):
 * - each level Observation: `final` when the signed reading is the AI's, `amended` when the clinician's reading differs
 *   (value and class components changed, the AI's reading kept beside it in `ai-…` components), `cancelled` when the
 *   AI finding was rejected (with the coded reason); the decision as a coded component, comment and rejection as notes
 *   by the clinician, the clinician as performer of a signed reading;
 * - the DiagnosticReport: `final`, or `amended` when it was already signed; the clinician as resultsInterpreter; the
 *   conclusion says what was signed, by whom and when;
 * - labels: AIAST stays (HL7 AI Transparency on FHIR 1.0.0: every AI-influenced resource SHALL be labelled), and a
 *   signed resource also carries CLINAST "clinician asserted"; a rejected Observation keeps AIAST alone;
 * - the signing Provenance: the report and every changed Observation as target, the clinician as verifier, the AI
 *   report version the clinician saw as entity `revision`, and a sentence per level of what changed.
 */
import type {
  Annotation,
  CodeableConcept,
  Coding,
  DiagnosticReport,
  Meta,
  Observation,
  ObservationComponent,
  Provenance,
  Reference,
} from 'fhir/r4';
import { type LevelReading, type LevelReviewInput, type ModelRef, type ReviewDecision } from '../findings/findings';
import { narrative } from './builders';
import {
  AI_ASSERTED,
  CLINICIAN_ASSERTED,
  COMPONENT_CODES,
  gradeCoding,
  LUMBAR_DISC_DISPLACEMENT,
  msuClassCoding,
  NO_HERNIATION,
  REJECTION_REASON_CODES,
  REVIEW_DECISION_CODES,
  REVIEW_TAG_SYSTEM,
  SIDE_CODES,
  UPDATE_ACTIVITY,
  VERIFIER_PARTICIPANT,
  VERIFY_ACTIVITY,
  zoneCoding,
} from './codes';
import {
  aiReadingOf,
  COMMENT_PREFIX,
  isClinicianNote,
  isConclusionLevelLine,
  levelOf,
  observationReading,
  readingToReportText,
  readingToText,
  REJECTION_PREFIX,
  reviewDecisionOf,
  sameReading,
} from './observation-reading';
import { isSignedReport } from './read-findings';

/** Who signs: the `fhirUser` of the SMART session, and the name the EHR gives, when it gives one. */
export interface Signer {
  /** `Practitioner/<id>` (relative to the FHIR base). */
  reference: string;
  display?: string;
}

export interface ReviewSigning {
  signer: Signer;
  /** FHIR instant of the signing. */
  signedAt: string;
  /** Names this review (REVIEW_TAG_SYSTEM): a retried save finds the report version and Provenance it produced. */
  reviewKey: string;
  /** The clinician's comment on the whole report. */
  comment?: string;
}

/** The analysis as read just before signing (each resource with the meta.versionId read). */
export interface ReviewedAnalysis {
  report: DiagnosticReport & { id: string };
  /** The report version the clinician saw and signs (the request's versionId). */
  baseVersionId: string;
  observations: (Observation & { id: string })[];
  model: ModelRef;
  /** One decision per assessed level (checked by the caller). */
  decisions: readonly LevelReviewInput[];
}

/** One level as signed. */
export interface SignedLevel {
  observation: Observation & { id: string };
  /** Whether the Observation changes (and so is written and named by the Provenance). */
  changed: boolean;
  /** The decision as stored: relative to the AI's reading, whatever the panel sent (see `signLevel`). */
  decision: ReviewDecision;
  /** The conclusion's line for the level. */
  line: string;
  /** The Provenance summary's sentence for the level. */
  summary: string;
}

export interface SignedAnalysis {
  report: DiagnosticReport & { id: string };
  levels: SignedLevel[];
  provenance: Provenance;
}

/** Reference types R4 allows as DiagnosticReport.resultsInterpreter, Observation.performer and Annotation.author. */
const INTERPRETER_TYPES = new Set(['Practitioner', 'PractitionerRole', 'Organization', 'CareTeam']);
const ANNOTATION_AUTHOR_TYPES = new Set(['Practitioner', 'Patient', 'RelatedPerson', 'Organization']);
const typeOf = (reference: string): string => reference.split('/')[0] ?? '';

const signerReference = (signer: Signer): Reference => ({
  reference: signer.reference,
  ...(signer.display ? { display: signer.display } : {}),
});
const signerName = (signer: Signer): string => signer.display ?? signer.reference;

/** `2025-06-01 14:03 UTC`: when, as the conclusion and the notes say it. */
export function signingTime(instant: string): string {
  return `${instant.slice(0, 10)} ${instant.slice(11, 16)} UTC`;
}

function clinicianNote(signing: ReviewSigning, text: string): Annotation {
  const author = ANNOTATION_AUTHOR_TYPES.has(typeOf(signing.signer.reference))
    ? { authorReference: signerReference(signing.signer) }
    : { authorString: signerName(signing.signer) };
  return { ...author, time: signing.signedAt, text };
}

const sameAuthor = (note: Annotation, signer: Signer): boolean =>
  note.authorReference?.reference === signer.reference || note.authorString === signerName(signer);

/** A rejection's coded reason: our concept when the clinician's words name one, else `other`; the words as text. */
export function rejectionReasonConcept(reason: string): CodeableConcept {
  const words = reason
    .toLowerCase()
    .replace(/[^a-z]+/g, ' ')
    .trim();
  const coding = /\bartefact|\bartifact/.test(words)
    ? REJECTION_REASON_CODES.artefact
    : /\bwrong (disc )?level\b/.test(words)
      ? REJECTION_REASON_CODES.wrongLevel
      : /\bmissed\b/.test(words)
        ? REJECTION_REASON_CODES.missedHerniation
        : /\bnot a herniation\b|\bno herniation\b/.test(words)
          ? REJECTION_REASON_CODES.notAHerniation
          : REJECTION_REASON_CODES.other;
  return { coding: [coding], text: reason };
}

/** The class components of a reading (msu-class, msu-grade, msu-zone, herniation-side, or their `ai-` twins). */
function readingComponents(value: LevelReading, ai: boolean): ObservationComponent[] {
  if (!value.herniation || value.grade === undefined || value.zone === undefined) return [];
  const side = value.side ?? 'central';
  const codes = ai
    ? [COMPONENT_CODES.aiMsuClass, COMPONENT_CODES.aiGrade, COMPONENT_CODES.aiZone, COMPONENT_CODES.aiSide]
    : [COMPONENT_CODES.msuClass, COMPONENT_CODES.grade, COMPONENT_CODES.zone, COMPONENT_CODES.side];
  const values: CodeableConcept[] = [
    { coding: [msuClassCoding(value.grade, value.zone)] },
    { coding: [gradeCoding(value.grade)] },
    { coding: [zoneCoding(value.zone)] },
    { coding: [SIDE_CODES[side]], text: side },
  ];
  return codes.map((code, index) => ({ code: { coding: [code] }, valueCodeableConcept: values[index] ?? {} }));
}

/** Components a signing rewrites; every other one (confidence, key image, SR, level assignment…) is kept. */
const REWRITTEN: readonly Coding[] = [
  COMPONENT_CODES.msuClass,
  COMPONENT_CODES.grade,
  COMPONENT_CODES.zone,
  COMPONENT_CODES.side,
  COMPONENT_CODES.reviewDecision,
  COMPONENT_CODES.rejectionReason,
  COMPONENT_CODES.aiFinding,
  COMPONENT_CODES.aiMsuClass,
  COMPONENT_CODES.aiGrade,
  COMPONENT_CODES.aiZone,
  COMPONENT_CODES.aiSide,
];
const isRewritten = (component: ObservationComponent): boolean =>
  REWRITTEN.some((coding) => component.code.coding?.some((c) => c.code === coding.code && c.system === coding.system));

const findingConcept = (value: LevelReading, line: string): CodeableConcept => ({
  coding: [value.herniation ? LUMBAR_DISC_DISPLACEMENT : NO_HERNIATION],
  text: line,
});

/** Meta of a signed resource: AIAST kept, CLINAST added (or, rejected, AIAST alone); other labels and tags kept. */
function signedMeta(meta: Meta | undefined, clinicianAsserted: boolean, tag?: Coding): Meta {
  const ours = [AI_ASSERTED.code, CLINICIAN_ASSERTED.code];
  const otherSecurity = (meta?.security ?? []).filter(
    (label) => !(label.system === AI_ASSERTED.system && ours.includes(label.code)),
  );
  const otherTags = (meta?.tag ?? []).filter((existing) => existing.system !== REVIEW_TAG_SYSTEM);
  const tags = [...otherTags, ...(tag ? [tag] : [])];
  return {
    ...(meta?.profile ? { profile: meta.profile } : {}),
    security: [AI_ASSERTED, ...(clinicianAsserted ? [CLINICIAN_ASSERTED] : []), ...otherSecurity],
    ...(tags.length > 0 ? { tag: tags } : {}),
  };
}

/**
 * One level signed. The panel's `confirm` signs the reading the level holds now (the AI's, or an earlier signer's
 * edit), `edit` signs the clinician's `reading`, `reject` withdraws the AI finding. The decision stored is relative to
 * the AI's reading — `confirm` when the signed reading is the AI's, `edit` when it differs, `reject` — so that the
 * record says how the model fared, whichever signing it was. Status (R4 observation-status): `cancelled` when rejected;
 * `amended` when the signed reading is not the AI's, or when an earlier signing had changed it (a released result
 * modified); else `final`.
 */
export function signLevel(
  observation: Observation & { id: string },
  input: LevelReviewInput,
  signing: ReviewSigning,
): SignedLevel {
  const level = levelOf(observation) ?? input.level;
  const ai = aiReadingOf(observation);
  const current = observationReading(observation);
  const signedReading = input.decision === 'edit' && input.reading ? input.reading : current;
  const decision: ReviewDecision =
    input.decision === 'reject' ? 'reject' : sameReading(signedReading, ai) ? 'confirm' : 'edit';
  const previous = reviewDecisionOf(observation);
  const changedBefore = observation.status === 'amended' || observation.status === 'corrected' || previous === 'reject';
  const status: Observation['status'] =
    decision === 'reject' ? 'cancelled' : decision === 'edit' || changedBefore ? 'amended' : 'final';
  const held = decision === 'reject' ? ai : signedReading;
  const reportLine = `${level}: ${readingToReportText(held)}`;
  const who = signerName(signing.signer);
  const when = signingTime(signing.signedAt);
  const reason = input.reason?.trim() ?? '';

  const line =
    decision === 'reject'
      ? `${level}: not reported (AI finding rejected: ${reason}; AI: ${readingToText(ai)})`
      : decision === 'edit'
        ? `${level}: ${readingToReportText(signedReading)} (AI: ${readingToText(ai)}, edited)`
        : `${level}: ${readingToReportText(signedReading)}`;
  const summary =
    decision === 'reject'
      ? `${level}: AI finding rejected (${reason}); the AI reported ${readingToText(ai)}.`
      : decision === 'edit'
        ? `${level}: edited; signed ${readingToText(signedReading)}, the AI reported ${readingToText(ai)}.`
        : `${level}: confirmed (${readingToText(signedReading)}).`;
  const narrativeLines =
    decision === 'reject'
      ? [`AI-generated finding rejected by ${who} on ${when}: ${reason}.`, `AI: ${reportLine}`]
      : decision === 'edit'
        ? [
            `Signed by ${who} on ${when}: ${reportLine}`,
            `Edited by the clinician; the AI reported ${readingToText(ai)}.`,
          ]
        : [`Signed by ${who} on ${when}: ${reportLine}`, 'AI-generated, confirmed by the clinician.'];

  const comment = input.comment?.trim();
  const clinicianTexts = [
    ...(decision === 'reject' ? [`${REJECTION_PREFIX}${reason}`] : []),
    ...(comment ? [`${COMMENT_PREFIX}${comment}`] : []),
  ];
  // The same words as the last signing's keep that signing's notes (and time): nothing new was said.
  const earlier = (observation.note ?? []).filter(isClinicianNote);
  const unchangedNotes =
    earlier.length === clinicianTexts.length &&
    earlier.every((note, index) => note.text === clinicianTexts[index] && sameAuthor(note, signing.signer));
  const notes = [
    ...(observation.note ?? []).filter((note) => !isClinicianNote(note)),
    ...(unchangedNotes ? earlier : clinicianTexts.map((text) => clinicianNote(signing, text))),
  ];
  const kept = (observation.component ?? []).filter((component) => !isRewritten(component));
  const classComponents = readingComponents(held, false);
  const aiComponents =
    decision === 'edit'
      ? [
          {
            code: { coding: [COMPONENT_CODES.aiFinding] },
            valueCodeableConcept: findingConcept(ai, `${level}: ${readingToReportText(ai)}`),
          },
          ...readingComponents(ai, true),
        ]
      : [];
  const reviewComponents: ObservationComponent[] = [
    {
      code: { coding: [COMPONENT_CODES.reviewDecision] },
      valueCodeableConcept: { coding: [REVIEW_DECISION_CODES[decision]] },
    },
    ...(decision === 'reject'
      ? [{ code: { coding: [COMPONENT_CODES.rejectionReason] }, valueCodeableConcept: rejectionReasonConcept(reason) }]
      : []),
  ];
  // The performer and notes are the signing's own (below); everything else the Observation says is kept.
  const rest: Observation & { id: string } = { ...observation };
  delete rest.performer;
  delete rest.note;
  const signerPerforms = decision !== 'reject' && INTERPRETER_TYPES.has(typeOf(signing.signer.reference));
  const signed: Observation & { id: string } = {
    ...rest,
    meta: signedMeta(observation.meta, decision !== 'reject'),
    text: narrative(narrativeLines),
    status,
    valueCodeableConcept: findingConcept(held, reportLine),
    ...(signerPerforms ? { performer: [signerReference(signing.signer)] } : {}),
    ...(notes.length > 0 ? { note: notes } : {}),
    component: [...classComponents, ...kept, ...aiComponents, ...reviewComponents],
  };
  return { observation: signed, changed: !sameContent(observation, signed), decision, line, summary };
}

/**
 * Equal apart from what the server manages (meta.versionId, meta.lastUpdated) and the narrative, which names the
 * signing time: a level signed again as it stands is not written again (its last signing still says when).
 */
function sameContent(a: Observation, b: Observation): boolean {
  const strip = (observation: Observation): unknown => {
    const rest: Observation = { ...observation };
    delete rest.text;
    const { meta } = observation;
    return { ...rest, meta: { security: meta?.security, tag: meta?.tag, profile: meta?.profile } };
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

/** JSON with object keys sorted: servers store a resource's elements in an order of their own. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => a.localeCompare(b)))
      : item,
  );
}

/** The report's lines that are neither level lines nor a comment: the warnings and how the levels were assigned. */
function conclusionNotes(conclusion: string | undefined): string[] {
  return (conclusion ?? '')
    .split('\n')
    .slice(1)
    .filter((line) => line.length > 0 && !isConclusionLevelLine(line) && !line.startsWith(COMMENT_PREFIX));
}

/**
 * What the clinician signed, as the EHR shows it: who and when, one line per level (the signed reading; an edit with
 * the AI's reading beside it; a rejection with its reason), the comment, then the warnings and the level assignment.
 */
export function signedConclusion(
  report: DiagnosticReport,
  model: ModelRef,
  levels: readonly SignedLevel[],
  signing: ReviewSigning,
): string {
  const header =
    `Clinician-verified AI analysis (${model.id} ${model.version}). Signed by ${signerName(signing.signer)} on ` +
    `${signingTime(signing.signedAt)}.`;
  const comment = signing.comment?.trim();
  return [
    header,
    ...levels.map((level) => level.line),
    ...(comment ? [`${COMMENT_PREFIX}${comment}`] : []),
    ...conclusionNotes(report.conclusion),
  ].join('\n');
}

export function signAnalysis(reviewed: ReviewedAnalysis, signing: ReviewSigning): SignedAnalysis {
  const { report, model } = reviewed;
  const decisions = new Map(reviewed.decisions.map((decision) => [decision.level, decision]));
  const levels = reviewed.observations
    .map((observation) => ({ observation, input: decisions.get(levelOf(observation) ?? 'L1-L2') }))
    .filter((item): item is { observation: Observation & { id: string }; input: LevelReviewInput } => !!item.input)
    .map(({ observation, input }) => signLevel(observation, input, signing))
    .sort((a, b) => a.line.localeCompare(b.line));
  const amending = isSignedReport(report);
  const reviewTag: Coding = { system: REVIEW_TAG_SYSTEM, code: signing.reviewKey };
  const conclusion = signedConclusion(report, model, levels, signing);
  const signedHerniated = levels.filter(
    (level) => level.decision !== 'reject' && observationReading(level.observation).herniation,
  );
  // The conclusion codes and the interpreter are the signing's own (below).
  const rest: DiagnosticReport & { id: string } = { ...report };
  delete rest.conclusionCode;
  delete rest.resultsInterpreter;
  const interpreter = INTERPRETER_TYPES.has(typeOf(signing.signer.reference));
  const signedReport: DiagnosticReport & { id: string } = {
    ...rest,
    meta: signedMeta(report.meta, true, reviewTag),
    text: narrative(conclusion.split('\n')),
    status: amending ? 'amended' : 'final',
    ...(interpreter ? { resultsInterpreter: [signerReference(signing.signer)] } : {}),
    conclusion,
    ...(signedHerniated.length > 0
      ? {
          conclusionCode: signedHerniated.map((level) => {
            const value = observationReading(level.observation);
            return {
              coding: [msuClassCoding(value.grade ?? 1, value.zone ?? 'A')],
              text: `${levelOf(level.observation) ?? ''}: ${readingToReportText(value)}`,
            };
          }),
        }
      : {}),
  };
  const changed = levels.filter((level) => level.changed);
  const who = signerName(signing.signer);
  const summary = [
    `${who} ${amending ? 'amended and signed' : 'signed'} the ${model.id} ${model.version} AI analysis on ` +
      `${signingTime(signing.signedAt)}: report ${report.status} → ${signedReport.status}.`,
    ...levels.map((level) => level.summary),
    ...(signing.comment?.trim() ? [`${COMMENT_PREFIX}${signing.comment.trim()}`] : []),
  ];
  const provenance: Provenance = {
    resourceType: 'Provenance',
    meta: { tag: [reviewTag] },
    text: narrative(summary),
    target: [
      { reference: `DiagnosticReport/${report.id}` },
      ...changed.map((level) => ({ reference: `Observation/${level.observation.id}` })),
    ],
    occurredDateTime: signing.signedAt,
    recorded: signing.signedAt,
    activity: {
      coding: [amending ? UPDATE_ACTIVITY : VERIFY_ACTIVITY],
      text: amending ? 'signed report changed and signed again' : 'AI analysis verified and signed',
    },
    agent: [{ type: { coding: [VERIFIER_PARTICIPANT] }, who: signerReference(signing.signer) }],
    entity: [
      {
        role: 'revision',
        what: {
          reference: `DiagnosticReport/${report.id}/_history/${reviewed.baseVersionId}`,
          display: 'the report version the clinician reviewed',
        },
      },
    ],
  };
  return { report: signedReport, levels, provenance };
}
