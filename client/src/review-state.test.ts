import { describe, expect, it } from 'vitest';
import {
  draftSummary,
  initialReviewState,
  isSendable,
  readingLabel,
  reviewProblems,
  reviewReducer,
  reviewStateToDraft,
  sanitizeDraft,
  storedReviewSummary,
  storedReviewsToDraft,
  toReviewRequest,
  undecidedLevels,
  type ReviewAction,
  type ReviewState,
} from './review-state';
import { aHerniation, aNormalLevel, someFindings } from './test-factories';

/** L1-L2, L2-L3, L3-L4 normal, L4-L5 2-AB left, L5-S1 normal. */
const start = (): ReviewState => initialReviewState(someFindings());
const apply = (state: ReviewState, ...actions: ReviewAction[]): ReviewState => actions.reduce(reviewReducer, state);

describe('review state', () => {
  it('when the analysis misses a level, then only the assessed levels need a decision', () => {
    const state = initialReviewState(someFindings({ levels: [aHerniation(), aNormalLevel()] }));
    expect(undecidedLevels(state)).toEqual(['L4-L5', 'L5-S1']);
  });

  it('when nothing is decided, then nothing is sendable and every level is named as undecided', () => {
    const state = start();
    expect(isSendable(state)).toBe(false);
    expect(reviewProblems(state)).toEqual([
      'L1-L2 is not decided yet.',
      'L2-L3 is not decided yet.',
      'L3-L4 is not decided yet.',
      'L4-L5 is not decided yet.',
      'L5-S1 is not decided yet.',
    ]);
  });

  it('when "Confirm all remaining" is used, then the undecided levels are confirmed and decided ones are kept', () => {
    const state = apply(
      start(),
      { type: 'decide', level: 'L4-L5', decision: 'edit' },
      { type: 'set-reading', level: 'L4-L5', reading: { grade: 3 } },
      { type: 'decide', level: 'L5-S1', decision: 'reject' },
      { type: 'set-reason', level: 'L5-S1', reasonId: 'artefact' },
      { type: 'confirm-all-remaining' },
    );
    expect(state.levels['L4-L5']).toMatchObject({ decision: 'edit', reading: { grade: 3, zone: 'AB', side: 'left' } });
    expect(state.levels['L5-S1']).toMatchObject({ decision: 'reject', reasonId: 'artefact' });
    expect(state.levels['L1-L2']).toEqual({ decision: 'confirm' });
    expect(isSendable(state)).toBe(true);
  });

  it('when a level is edited, then the edit starts from the AI reading and "no herniation" drops grade, zone and side', () => {
    let state = apply(start(), { type: 'decide', level: 'L4-L5', decision: 'edit' });
    expect(state.levels['L4-L5']?.reading).toEqual({ herniation: true, grade: 2, zone: 'AB', side: 'left' });
    state = reviewReducer(state, { type: 'set-reading', level: 'L4-L5', reading: { herniation: false } });
    expect(state.levels['L4-L5']?.reading).toEqual({ herniation: false });
    state = reviewReducer(state, { type: 'set-reading', level: 'L4-L5', reading: { grade: 1 } });
    expect(state.levels['L4-L5']?.reading).toEqual({ herniation: true, grade: 1 });
    expect(reviewProblems(apply(state, { type: 'confirm-all-remaining' }))).toEqual([
      'L4-L5: choose a grade, a zone and a side, or "no herniation".',
    ]);
  });

  it('when a normal level is edited to a herniation, then all three parts are needed before it can be signed', () => {
    let state = apply(
      start(),
      { type: 'decide', level: 'L3-L4', decision: 'edit' },
      { type: 'set-reading', level: 'L3-L4', reading: { grade: 1, zone: 'B' } },
      { type: 'confirm-all-remaining' },
    );
    expect(isSendable(state)).toBe(false);
    state = reviewReducer(state, { type: 'set-reading', level: 'L3-L4', reading: { side: 'right' } });
    expect(isSendable(state)).toBe(true);
  });

  it('when a level is rejected, then a reason is required, and "Other" needs the free text', () => {
    let state = apply(
      start(),
      { type: 'confirm-all-remaining' },
      { type: 'decide', level: 'L4-L5', decision: 'reject' },
    );
    expect(reviewProblems(state)).toEqual(['L4-L5: give a reason for rejecting the AI finding.']);
    state = reviewReducer(state, { type: 'set-reason', level: 'L4-L5', reasonId: 'other' });
    expect(reviewProblems(state)).toEqual(['L4-L5: describe the other reason.']);
    state = reviewReducer(state, { type: 'set-reason', level: 'L4-L5', reasonText: '  ' });
    expect(isSendable(state)).toBe(false);
    state = reviewReducer(state, { type: 'set-reason', level: 'L4-L5', reasonText: 'Schmorl node, not disc' });
    expect(isSendable(state)).toBe(true);
  });

  it('when the user switches a decision, then the comment survives and an undone decision is undecided again', () => {
    let state = apply(
      start(),
      { type: 'decide', level: 'L4-L5', decision: 'confirm' },
      { type: 'set-level-comment', level: 'L4-L5', comment: 'compare with 2024' },
      { type: 'decide', level: 'L4-L5', decision: 'reject' },
    );
    expect(state.levels['L4-L5']).toEqual({ decision: 'reject', comment: 'compare with 2024' });
    state = reviewReducer(state, { type: 'undecide', level: 'L4-L5' });
    expect(undecidedLevels(state)).toContain('L4-L5');
  });

  it('when a level the analysis does not have is acted on, then the state does not change', () => {
    const state = initialReviewState(someFindings({ levels: [aHerniation()] }));
    expect(reviewReducer(state, { type: 'decide', level: 'L1-L2', decision: 'confirm' })).toBe(state);
  });
});

describe('what is sent', () => {
  it('when every level is decided, then the request carries report, version, one input per level and the comment', () => {
    const state = apply(
      start(),
      { type: 'decide', level: 'L4-L5', decision: 'edit' },
      { type: 'set-reading', level: 'L4-L5', reading: { grade: 3 } },
      { type: 'set-level-comment', level: 'L4-L5', comment: ' reaches the line ' },
      { type: 'decide', level: 'L5-S1', decision: 'reject' },
      { type: 'set-reason', level: 'L5-S1', reasonId: 'wrong-level', reasonText: 'this is S1-S2' },
      { type: 'confirm-all-remaining' },
      { type: 'set-comment', comment: 'Discussed with the radiologist.' },
    );
    expect(toReviewRequest(state, 'DiagnosticReport/dr1', '3')).toEqual({
      ok: true,
      request: {
        diagnosticReport: 'DiagnosticReport/dr1',
        versionId: '3',
        comment: 'Discussed with the radiologist.',
        levels: [
          { level: 'L1-L2', decision: 'confirm' },
          { level: 'L2-L3', decision: 'confirm' },
          { level: 'L3-L4', decision: 'confirm' },
          {
            level: 'L4-L5',
            decision: 'edit',
            reading: { herniation: true, grade: 3, zone: 'AB', side: 'left' },
            comment: 'reaches the line',
          },
          { level: 'L5-S1', decision: 'reject', reason: 'wrong level: this is S1-S2' },
        ],
      },
    });
  });

  it('when an edit ends where the AI started, then it is sent as a confirmation', () => {
    const state = apply(
      start(),
      { type: 'decide', level: 'L4-L5', decision: 'edit' },
      { type: 'set-reading', level: 'L4-L5', reading: { grade: 3 } },
      { type: 'set-reading', level: 'L4-L5', reading: { grade: 2 } },
      { type: 'confirm-all-remaining' },
    );
    const answer = toReviewRequest(state, 'DiagnosticReport/dr1', '1');
    expect(answer.ok && answer.request.levels[3]).toEqual({ level: 'L4-L5', decision: 'confirm' });
  });

  it('when something is undecided, then no request is built and the problems say what is missing', () => {
    expect(toReviewRequest(start(), 'DiagnosticReport/dr1', '1')).toMatchObject({ ok: false });
    expect(toReviewRequest(initialReviewState({ levels: [] }), 'DiagnosticReport/dr1', '1')).toEqual({
      ok: false,
      problems: ['The analysis has no assessed level to sign.'],
    });
  });
});

describe('AI beside the clinician', () => {
  it('when a level is edited, then the line shows the AI value and the clinician value side by side', () => {
    const state = apply(
      start(),
      { type: 'decide', level: 'L4-L5', decision: 'edit' },
      { type: 'set-reading', level: 'L4-L5', reading: { grade: 3 } },
    );
    expect(draftSummary(state, 'L4-L5')).toBe('AI: 2-AB left → you: 3-AB left');
  });

  it('when levels are confirmed, rejected, undecided or edited to no herniation, then the line says so', () => {
    const state = apply(
      start(),
      { type: 'decide', level: 'L1-L2', decision: 'confirm' },
      { type: 'decide', level: 'L4-L5', decision: 'reject' },
      { type: 'set-reason', level: 'L4-L5', reasonId: 'artefact' },
      { type: 'decide', level: 'L5-S1', decision: 'edit' },
      { type: 'set-reading', level: 'L5-S1', reading: { grade: 1 } },
      { type: 'decide', level: 'L3-L4', decision: 'edit' },
    );
    expect(draftSummary(state, 'L1-L2')).toBe('AI: no herniation · confirmed');
    expect(draftSummary(state, 'L2-L3')).toBe('AI: no herniation · not decided');
    expect(draftSummary(state, 'L3-L4')).toBe('AI: no herniation → you: no herniation (unchanged: confirms the AI)');
    expect(draftSummary(state, 'L4-L5')).toBe('AI: 2-AB left · rejected (artefact)');
    expect(draftSummary(state, 'L5-S1')).toBe('AI: no herniation → you: 1-? ?');
  });

  it('when a signed level is shown, then the stored AI reading stands beside what was signed', () => {
    const edited = aHerniation({
      grade: 3,
      review: { decision: 'edit', ai: { herniation: true, grade: 2, zone: 'AB', side: 'left' } },
    });
    expect(storedReviewSummary(edited)).toBe('AI: 2-AB left → signed: 3-AB left');
    const rejected = aNormalLevel({
      review: {
        decision: 'reject',
        ai: { herniation: true, grade: 1, zone: 'A', side: 'central' },
        reason: 'artefact',
      },
    });
    expect(storedReviewSummary(rejected)).toBe('AI: 1-A central · rejected (artefact)');
    expect(readingLabel({ herniation: false })).toBe('no herniation');
  });

  it('when a signed analysis is reviewed again, then the AI reading comes from the stored review, not the signed values', () => {
    const state = initialReviewState(
      someFindings({
        levels: [
          aNormalLevel({
            level: 'L4-L5',
            review: { decision: 'edit', ai: { herniation: true, grade: 2, zone: 'B', side: 'right' } },
          }),
        ],
      }),
    );
    expect(state.ai).toEqual([{ level: 'L4-L5', reading: { herniation: true, grade: 2, zone: 'B', side: 'right' } }]);
  });
});

describe('a kept draft', () => {
  it('when a draft is stored and read back, then the same decisions are restored', () => {
    const state = apply(
      start(),
      { type: 'decide', level: 'L4-L5', decision: 'edit' },
      { type: 'set-reading', level: 'L4-L5', reading: { zone: 'BC' } },
      { type: 'decide', level: 'L5-S1', decision: 'reject' },
      { type: 'set-reason', level: 'L5-S1', reasonId: 'other', reasonText: 'motion' },
      { type: 'set-comment', comment: 'note' },
    );
    const stored = JSON.parse(JSON.stringify(reviewStateToDraft(state))) as unknown;
    const restored = reviewReducer(start(), { type: 'restore', draft: sanitizeDraft(stored, start()) });
    expect(restored).toEqual(state);
  });

  it('when a stored draft holds unknown levels or values, then they are dropped rather than trusted', () => {
    const draft = sanitizeDraft(
      {
        comment: 42,
        levels: {
          'L4-L5': { decision: 'edit', reading: { herniation: true, grade: 7, zone: 'ABC', side: 'left' } },
          'L5-S1': { decision: 'approve' },
          'T12-L1': { decision: 'confirm' },
          'L3-L4': { decision: 'reject', reasonId: 'because', reasonText: 'motion' },
        },
      },
      initialReviewState(someFindings()),
    );
    expect(draft).toEqual({
      comment: '',
      levels: {
        'L3-L4': { decision: 'reject', reasonText: 'motion' },
        'L4-L5': { decision: 'edit', reading: { herniation: true, side: 'left' } },
      },
    });
    expect(sanitizeDraft('not json', start())).toEqual({ levels: {}, comment: '' });
  });
});

describe('amending a signed report', () => {
  it('when a signed report is amended, then each level starts where it was signed', () => {
    const ai = { herniation: true, grade: 2, zone: 'AB', side: 'left' } as const;
    const findings = someFindings({
      levels: [
        aNormalLevel({ level: 'L1-L2', review: { decision: 'confirm', ai: { herniation: false }, comment: 'ok' } }),
        aHerniation({ level: 'L3-L4', grade: 3, review: { decision: 'edit', ai } }),
        aNormalLevel({ level: 'L4-L5', review: { decision: 'reject', ai, reason: 'wrong level: S1-S2' } }),
        aNormalLevel({ level: 'L5-S1', review: { decision: 'reject', ai: { herniation: false }, reason: 'motion' } }),
      ],
    });
    expect(storedReviewsToDraft(findings)).toEqual({
      comment: '',
      levels: {
        'L1-L2': { decision: 'confirm', comment: 'ok' },
        'L3-L4': { decision: 'edit', reading: { herniation: true, grade: 3, zone: 'AB', side: 'left' } },
        'L4-L5': { decision: 'reject', reasonId: 'wrong-level', reasonText: 'S1-S2' },
        'L5-S1': { decision: 'reject', reasonId: 'other', reasonText: 'motion' },
      },
    });
  });
});
