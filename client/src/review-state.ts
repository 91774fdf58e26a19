/**
 * The clinician's review of one AI analysis, as a pure reducer: per level confirm, edit or reject (with a reason),
 * "confirm all remaining", what is ready to sign, and the AI-versus-clinician wording the panel shows. The wire
 * shapes are the findings contract's (`ReviewRequest`, `LevelReviewInput`, `LevelReading`); the panel sends
 * `POST /api/analyses/review` with `toReviewRequest` (docs/fhir-mapping.md §Clinician review).
 */
import type {
  DiscLevel,
  Findings,
  HerniationSide,
  LevelFinding,
  LevelReading,
  LevelReview,
  LevelReviewInput,
  MsuGrade,
  MsuZone,
  ReviewDecision,
  ReviewRequest,
} from '../../server/src/findings/findings';
import { HERNIATION_SIDES, MSU_GRADES, MSU_ZONES } from './msu-rules';

/**
 * The common reasons a clinician rejects an AI finding; `other` needs the free text. The values are the words the
 * server codes (server/src/fhir/review-builders.ts `rejectionReasonConcept`: artefact, wrong level, not a herniation,
 * missed herniation; anything else is `other` with the words as text).
 */
export const REJECT_REASONS = [
  { id: 'artefact', label: 'Artefact (motion, wrap-around, susceptibility)', value: 'artefact' },
  { id: 'wrong-level', label: 'Wrong disc level', value: 'wrong level' },
  { id: 'not-herniation', label: 'Not a herniation (bulge, osteophyte, other structure)', value: 'not a herniation' },
  { id: 'missed-herniation', label: 'Missed herniation (the AI reported none)', value: 'missed herniation' },
  { id: 'image-quality', label: 'Image quality too poor to grade', value: 'image quality too poor to grade' },
  { id: 'other', label: 'Other (describe below)', value: '' },
] as const;
export type RejectReasonId = (typeof REJECT_REASONS)[number]['id'];

/** An edited reading while it is being entered: any part may still be missing. */
export interface DraftReading {
  herniation?: boolean;
  grade?: MsuGrade;
  zone?: MsuZone;
  side?: HerniationSide;
}

/** One level's decision as the form holds it (incomplete until `levelProblem` says nothing). */
export interface LevelDraft {
  decision: ReviewDecision;
  /** `edit`: the clinician's reading; starts as the AI's. */
  reading?: DraftReading;
  /** `reject`: one of REJECT_REASONS, and free text (required with `other`). */
  reasonId?: RejectReasonId;
  reasonText?: string;
  comment?: string;
}

export interface ReviewState {
  /** The AI's reading of every assessed level, in anatomical order (levels the series missed are not reviewed). */
  ai: { level: DiscLevel; reading: LevelReading }[];
  levels: Partial<Record<DiscLevel, LevelDraft>>;
  /** Free text added to the report's conclusion. */
  comment: string;
}

/** What the user can do to the draft. */
export type ReviewAction =
  | { type: 'decide'; level: DiscLevel; decision: ReviewDecision }
  | { type: 'undecide'; level: DiscLevel }
  | { type: 'set-reading'; level: DiscLevel; reading: DraftReading }
  | { type: 'set-reason'; level: DiscLevel; reasonId?: RejectReasonId; reasonText?: string }
  | { type: 'set-level-comment'; level: DiscLevel; comment: string }
  | { type: 'confirm-all-remaining' }
  | { type: 'set-comment'; comment: string }
  | { type: 'restore'; draft: ReviewDraft };

/** The part of the state that is the user's work: what is kept in sessionStorage and re-applied on request. */
export interface ReviewDraft {
  levels: Partial<Record<DiscLevel, LevelDraft>>;
  comment: string;
}

const LEVEL_ORDER: readonly DiscLevel[] = ['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'];

/** The AI's reading of a level: the finding itself, or, once signed, what the stored review kept of it. */
export function aiReadingOf(finding: LevelFinding): LevelReading {
  if (finding.review) return finding.review.ai;
  return findingToReading(finding);
}

/** What a finding says now (after signing: what the clinician signed). */
export function findingToReading(finding: LevelFinding): LevelReading {
  if (!finding.herniation) return { herniation: false };
  return { herniation: true, grade: finding.grade, zone: finding.zone, side: finding.side };
}

export function initialReviewState(findings: Pick<Findings, 'levels'>): ReviewState {
  const ai = LEVEL_ORDER.flatMap((level) => {
    const finding = findings.levels.find((candidate) => candidate.level === level);
    return finding ? [{ level, reading: aiReadingOf(finding) }] : [];
  });
  return { ai, levels: {}, comment: '' };
}

function aiOf(state: ReviewState, level: DiscLevel): LevelReading | undefined {
  return state.ai.find((entry) => entry.level === level)?.reading;
}

function withLevel(state: ReviewState, level: DiscLevel, update: (draft: LevelDraft) => LevelDraft): ReviewState {
  const current = state.levels[level];
  if (!current || !aiOf(state, level)) return state;
  return { ...state, levels: { ...state.levels, [level]: update(current) } };
}

export function reviewReducer(state: ReviewState, action: ReviewAction): ReviewState {
  switch (action.type) {
    case 'decide': {
      const ai = aiOf(state, action.level);
      if (!ai) return state;
      const previous = state.levels[action.level];
      const draft: LevelDraft = {
        decision: action.decision,
        ...(previous?.comment ? { comment: previous.comment } : {}),
      };
      // Edit starts from the AI's reading (or the edit already entered), so one change is one click.
      if (action.decision === 'edit') draft.reading = previous?.reading ?? { ...ai };
      if (action.decision === 'reject') {
        if (previous?.reasonId) draft.reasonId = previous.reasonId;
        if (previous?.reasonText) draft.reasonText = previous.reasonText;
      }
      return { ...state, levels: { ...state.levels, [action.level]: draft } };
    }
    case 'undecide': {
      const levels = Object.fromEntries(Object.entries(state.levels).filter(([level]) => level !== action.level));
      return { ...state, levels };
    }
    case 'set-reading':
      return withLevel(state, action.level, (draft) => {
        // "No herniation" carries no grade, zone or side; choosing a grade, zone or side again means a herniation.
        const reading: DraftReading =
          action.reading.herniation === false
            ? { herniation: false }
            : { ...(draft.reading?.herniation === false ? {} : draft.reading), ...action.reading, herniation: true };
        return { ...draft, reading };
      });
    case 'set-reason':
      return withLevel(state, action.level, (draft) => ({
        ...draft,
        ...('reasonId' in action ? { reasonId: action.reasonId } : {}),
        ...(action.reasonText !== undefined ? { reasonText: action.reasonText } : {}),
      }));
    case 'set-level-comment':
      return withLevel(state, action.level, (draft) => ({ ...draft, comment: action.comment }));
    case 'confirm-all-remaining': {
      const levels = { ...state.levels };
      for (const { level } of state.ai) levels[level] ??= { decision: 'confirm' };
      return { ...state, levels };
    }
    case 'set-comment':
      return { ...state, comment: action.comment };
    case 'restore':
      return { ...state, ...sanitizeDraft(action.draft, state) };
  }
}

/** The levels nobody has decided yet. */
export function undecidedLevels(state: ReviewState): DiscLevel[] {
  return state.ai.filter(({ level }) => !state.levels[level]).map(({ level }) => level);
}

/** The reason as sent: the chosen reason, with the free text after it (or the free text alone for `other`). */
export function rejectReasonOf(draft: Pick<LevelDraft, 'reasonId' | 'reasonText'>): string | undefined {
  const text = draft.reasonText?.trim() ?? '';
  const chosen = REJECT_REASONS.find((reason) => reason.id === draft.reasonId)?.value ?? '';
  if (chosen && text) return `${chosen}: ${text}`;
  return chosen || text || undefined;
}

function isCompleteReading(reading: DraftReading | undefined): reading is LevelReading {
  if (!reading || reading.herniation === undefined) return false;
  if (!reading.herniation) return true;
  return reading.grade !== undefined && reading.zone !== undefined && reading.side !== undefined;
}

/** Why a level cannot be signed yet, as a sentence; undefined when it can. */
export function levelProblem(state: ReviewState, level: DiscLevel): string | undefined {
  const draft = state.levels[level];
  if (!draft) return `${level} is not decided yet.`;
  if (draft.decision === 'edit' && !isCompleteReading(draft.reading)) {
    return `${level}: choose a grade, a zone and a side, or "no herniation".`;
  }
  if (draft.decision === 'reject') {
    if (!draft.reasonId && !draft.reasonText?.trim()) return `${level}: give a reason for rejecting the AI finding.`;
    if (draft.reasonId === 'other' && !draft.reasonText?.trim()) return `${level}: describe the other reason.`;
  }
  return undefined;
}

export function reviewProblems(state: ReviewState): string[] {
  return state.ai.flatMap(({ level }) => {
    const problem = levelProblem(state, level);
    return problem ? [problem] : [];
  });
}

/** Sign is enabled when every assessed level is decided completely. */
export function isSendable(state: ReviewState): boolean {
  return state.ai.length > 0 && reviewProblems(state).length === 0;
}

export function readingsEqual(a: LevelReading, b: LevelReading): boolean {
  if (a.herniation !== b.herniation) return false;
  if (!a.herniation) return true;
  return a.grade === b.grade && a.zone === b.zone && a.side === b.side;
}

function completeReading(reading: LevelReading): LevelReading {
  return reading.herniation
    ? { herniation: true, grade: reading.grade, zone: reading.zone, side: reading.side }
    : { herniation: false };
}

/**
 * The request that signs what the clinician saw (`versionId`), or the sentences that say what is missing. An edit
 * that ends where the AI started is sent as a confirmation: that is what it is.
 */
export function toReviewRequest(
  state: ReviewState,
  diagnosticReport: string,
  versionId: string,
): { ok: true; request: ReviewRequest } | { ok: false; problems: string[] } {
  const problems = reviewProblems(state);
  if (problems.length > 0 || state.ai.length === 0) {
    return { ok: false, problems: problems.length > 0 ? problems : ['The analysis has no assessed level to sign.'] };
  }
  const levels = state.ai.map(({ level, reading: ai }): LevelReviewInput => {
    const draft = state.levels[level] as LevelDraft;
    const comment = draft.comment?.trim();
    const base = comment ? { comment } : {};
    if (draft.decision === 'edit' && isCompleteReading(draft.reading)) {
      const reading = completeReading(draft.reading);
      if (readingsEqual(reading, ai)) return { level, decision: 'confirm', ...base };
      return { level, decision: 'edit', reading, ...base };
    }
    if (draft.decision === 'reject') return { level, decision: 'reject', reason: rejectReasonOf(draft) ?? '', ...base };
    return { level, decision: 'confirm', ...base };
  });
  const comment = state.comment.trim();
  return { ok: true, request: { diagnosticReport, versionId, levels, ...(comment ? { comment } : {}) } };
}

/** `2-AB left`, `no herniation`; an incomplete reading shows `?` where a part is missing. */
export function readingLabel(reading: DraftReading): string {
  if (reading.herniation === false) return 'no herniation';
  if (reading.herniation === undefined) return '?';
  return `${reading.grade ?? '?'}-${reading.zone ?? '?'} ${reading.side ?? '?'}`;
}

/**
 * The AI's values beside the clinician's, one line: `AI: 2-AB left → you: 3-AB left`, `AI: 2-AB left · confirmed`,
 * `AI: 2-AB left · rejected (artefact)`, `AI: 2-AB left · not decided`; an edit back to the AI's values says it
 * confirms the AI.
 */
export function draftSummary(state: ReviewState, level: DiscLevel): string {
  const ai = aiOf(state, level);
  if (!ai) return 'Not assessed';
  const prefix = `AI: ${readingLabel(ai)}`;
  const draft = state.levels[level];
  if (!draft) return `${prefix} · not decided`;
  if (draft.decision === 'confirm') return `${prefix} · confirmed`;
  if (draft.decision === 'reject') {
    const reason = rejectReasonOf(draft);
    return `${prefix} · rejected${reason ? ` (${reason})` : ''}`;
  }
  const reading = draft.reading ?? {};
  const unchanged = isCompleteReading(reading) && readingsEqual(completeReading(reading), ai);
  // An edit that ends where the AI started is signed as a confirmation (toReviewRequest).
  return `${prefix} → you: ${readingLabel(reading)}${unchanged ? ' (unchanged: confirms the AI)' : ''}`;
}

/** The same line for a signed level, from what the EHR stored: `AI: 2-AB left → signed: 3-AB left`. */
export function storedReviewSummary(finding: LevelFinding, review: LevelReview | undefined = finding.review): string {
  if (!review) return `AI: ${readingLabel(findingToReading(finding))}`;
  const prefix = `AI: ${readingLabel(review.ai)}`;
  if (review.decision === 'confirm') return `${prefix} · confirmed`;
  if (review.decision === 'reject') return `${prefix} · rejected${review.reason ? ` (${review.reason})` : ''}`;
  return `${prefix} → signed: ${readingLabel(findingToReading(finding))}`;
}

/** The user's work, for sessionStorage. */
export function reviewStateToDraft(state: ReviewState): ReviewDraft {
  return { levels: state.levels, comment: state.comment };
}

export function isDraftEmpty(draft: ReviewDraft): boolean {
  return Object.keys(draft.levels).length === 0 && !draft.comment.trim();
}

const isGrade = (value: unknown): value is MsuGrade => MSU_GRADES.includes(value as MsuGrade);
const isZone = (value: unknown): value is MsuZone => MSU_ZONES.includes(value as MsuZone);
const isSide = (value: unknown): value is HerniationSide => HERNIATION_SIDES.includes(value as HerniationSide);
const isDecision = (value: unknown): value is ReviewDecision =>
  value === 'confirm' || value === 'edit' || value === 'reject';
const isReasonId = (value: unknown): value is RejectReasonId => REJECT_REASONS.some((reason) => reason.id === value);
const stringOr = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function sanitizeReading(value: unknown): DraftReading | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  if (raw.herniation === false) return { herniation: false };
  return {
    herniation: true,
    ...(isGrade(raw.grade) ? { grade: raw.grade } : {}),
    ...(isZone(raw.zone) ? { zone: raw.zone } : {}),
    ...(isSide(raw.side) ? { side: raw.side } : {}),
  };
}

/**
 * A draft read back from storage (or kept from before a reload), checked field by field: only the analysis's
 * assessed levels, only values the form can hold. Anything else is dropped rather than trusted.
 */
export function sanitizeDraft(value: unknown, state: Pick<ReviewState, 'ai'>): ReviewDraft {
  const draft: ReviewDraft = { levels: {}, comment: '' };
  if (typeof value !== 'object' || value === null) return draft;
  const raw = value as { levels?: unknown; comment?: unknown };
  draft.comment = stringOr(raw.comment) ?? '';
  const levels = typeof raw.levels === 'object' && raw.levels !== null ? (raw.levels as Record<string, unknown>) : {};
  for (const { level } of state.ai) {
    const entry = levels[level] as Record<string, unknown> | undefined;
    if (typeof entry !== 'object' || !isDecision(entry.decision)) continue;
    const levelDraft: LevelDraft = { decision: entry.decision };
    const comment = stringOr(entry.comment);
    if (comment) levelDraft.comment = comment;
    if (entry.decision === 'edit') levelDraft.reading = sanitizeReading(entry.reading) ?? {};
    if (entry.decision === 'reject') {
      if (isReasonId(entry.reasonId)) levelDraft.reasonId = entry.reasonId;
      const reasonText = stringOr(entry.reasonText);
      if (reasonText) levelDraft.reasonText = reasonText;
    }
    draft.levels[level] = levelDraft;
  }
  return draft;
}

/**
 * A signed report's stored decisions as a draft, for amending it: each level starts where it was signed (an edit
 * at the signed reading, a rejection with its reason), so the clinician changes only what needs changing.
 */
export function storedReviewsToDraft(findings: Pick<Findings, 'levels'>): ReviewDraft {
  const draft: ReviewDraft = { levels: {}, comment: '' };
  for (const finding of findings.levels) {
    const review = finding.review;
    if (!review || draft.levels[finding.level]) continue;
    const comment = review.comment ? { comment: review.comment } : {};
    if (review.decision === 'confirm') draft.levels[finding.level] = { decision: 'confirm', ...comment };
    else if (review.decision === 'edit') {
      draft.levels[finding.level] = { decision: 'edit', reading: findingToReading(finding), ...comment };
    } else {
      const reason = review.reason?.trim() ?? '';
      const known = REJECT_REASONS.find(
        (candidate) => candidate.value && (reason === candidate.value || reason.startsWith(`${candidate.value}: `)),
      );
      const rest = known ? reason.slice(known.value.length).replace(/^: /, '') : reason;
      draft.levels[finding.level] = {
        decision: 'reject',
        reasonId: known?.id ?? 'other',
        ...(rest ? { reasonText: rest } : {}),
        ...comment,
      };
    }
  }
  return draft;
}
