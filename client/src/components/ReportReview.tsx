import { useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { DiscLevel } from '../../../server/src/findings/findings';
import type { StudyStacks } from '../../../server/src/findings/viewer';
import { ApiError, getStoredAnalysis, postReview, type AnalysisResult, type ApiSession } from '../api';
import type { Ehr } from '../ehr';
import { errorToMessage, isSessionLost } from '../error-message';
import { findingsToRows } from '../findings-rows';
import { describeReportChanges, isReviewable, isSigned, statusWord } from '../report-status';
import {
  draftSummary,
  initialReviewState,
  isDraftEmpty,
  levelProblem,
  reviewReducer,
  reviewStateToDraft,
  sanitizeDraft,
  storedReviewSummary,
  storedReviewsToDraft,
  toReviewRequest,
  undecidedLevels,
  type ReviewDraft,
  type ReviewState,
} from '../review-state';
import {
  clearPendingReview,
  loadPendingReview,
  pendingReviewKey,
  savePendingReview,
  tabStorage,
} from '../session-storage';
import { LevelViewer } from '../viewer/LevelViewer';
import type { Loadable } from '../viewer/use-viewer-data';
import { FindingsTable, type RowReview } from './FindingsTable';
import { LevelReviewForm } from './LevelReviewForm';
import { ReportHistory } from './ReportHistory';
import { SignSection, type SaveState } from './SignSection';
import { SignedLevelReview } from './SignedLevelReview';

/** What Reload found, shown until the user re-applies or drops the decisions made before it. */
export interface ReloadOutcome {
  changes: string[];
  previousDraft: ReviewDraft;
}

interface ReportReviewProps {
  ehr: Ehr;
  baseUrl: string;
  studyId: string;
  result: AnalysisResult;
  /** A signed analysis (after Sign) or the one Reload read (with what changed). */
  onResult: (result: AnalysisResult, reloaded?: ReloadOutcome) => void;
  reloaded: ReloadOutcome | undefined;
  onDismissReloaded: () => void;
  openLevel: DiscLevel | undefined;
  onOpenLevel: (level: DiscLevel | undefined) => void;
  /** The session the viewer's requests carry; undefined until the first level is opened. */
  viewerSession: ApiSession | undefined;
  stacks: Loadable<StudyStacks> | undefined;
}

function pendingKeyOf(result: AnalysisResult): string | undefined {
  return result.versionId ? pendingReviewKey(result.diagnosticReport, result.versionId) : undefined;
}

/** The review state to start from: a draft this tab kept for this report version (after a re-authorization). */
function initialState(result: AnalysisResult): { state: ReviewState; restored: boolean } {
  const state = initialReviewState(result.findings);
  const key = pendingKeyOf(result);
  const stored = key ? loadPendingReview(tabStorage(), key) : undefined;
  if (stored === undefined) return { state, restored: false };
  const draft = sanitizeDraft(stored, state);
  if (isDraftEmpty(draft)) return { state, restored: false };
  return { state: reviewReducer(state, { type: 'restore', draft }), restored: true };
}

/**
 * The clinician's loop on one report version (mount with `key` = report and version): the findings table whose rows
 * open a level in the viewer beside its review form, Sign with the version seen, and the answers a save can get —
 * 409 (Reload shows what changed; nothing is re-applied by itself), 401 (the draft waits in the tab while the user
 * re-authorizes). A signed report shows its decisions and history, and can be amended.
 */
export function ReportReview({
  ehr,
  baseUrl,
  studyId,
  result,
  onResult,
  reloaded,
  onDismissReloaded,
  openLevel,
  onOpenLevel,
  viewerSession,
  stacks,
}: ReportReviewProps) {
  const [start] = useState(() => initialState(result));
  const [state, dispatch] = useReducer(reviewReducer, start.state);
  const [amending, setAmending] = useState(() => isSigned(result) && start.restored);
  const [save, setSave] = useState<SaveState>({ kind: 'idle' });
  const saving = useRef(false);
  const signed = isSigned(result);
  const reviewing = result.versionId !== undefined && (isReviewable(result) || (signed && amending));
  const pendingKey = pendingKeyOf(result);
  const fhirUser = useMemo(() => ehr.launchContext().fhirUser, [ehr]);

  // Every change is kept in the tab at once: a token that expires mid-review costs nothing.
  useEffect(() => {
    if (!reviewing || !pendingKey) return;
    const draft = reviewStateToDraft(state);
    if (isDraftEmpty(draft)) clearPendingReview(tabStorage(), pendingKey);
    else savePendingReview(tabStorage(), pendingKey, draft);
  }, [state, reviewing, pendingKey]);

  const sign = async (): Promise<void> => {
    // A second click (or a key repeat) while the first save runs does nothing; the server is idempotent as well.
    if (saving.current || !result.versionId) return;
    const built = toReviewRequest(state, result.diagnosticReport, result.versionId);
    if (!built.ok) return;
    saving.current = true;
    setSave({ kind: 'saving' });
    try {
      const session = await ehr.getApiSession();
      const answer = await postReview(session, built.request, { baseUrl });
      if (pendingKey) clearPendingReview(tabStorage(), pendingKey);
      onResult(answer);
    } catch (error) {
      if (error instanceof ApiError && error.isConflict) setSave({ kind: 'conflict', message: error.message });
      else if (isSessionLost(error)) setSave({ kind: 'session' });
      else setSave({ kind: 'error', message: errorToMessage(error, 'sign the report') });
    } finally {
      saving.current = false;
    }
  };

  const reload = async (): Promise<void> => {
    setSave({ kind: 'reloading' });
    try {
      const session = await ehr.getApiSession();
      const fresh = await getStoredAnalysis(session, studyId, { baseUrl });
      if (!fresh) {
        setSave({ kind: 'error', message: 'The analysis is no longer in the EHR. Analyze the study again.' });
        return;
      }
      const previousDraft = reviewStateToDraft(state);
      if (pendingKey) clearPendingReview(tabStorage(), pendingKey);
      onResult(fresh, { changes: describeReportChanges(result, fresh), previousDraft });
    } catch (error) {
      if (isSessionLost(error)) setSave({ kind: 'session' });
      else setSave({ kind: 'error', message: errorToMessage(error, 'read the report again') });
    }
  };

  const rows = findingsToRows(result.findings, stacks?.state === 'loaded' ? stacks.value : undefined);
  const rowReview = (level: DiscLevel): RowReview => {
    const finding = result.findings.levels.find((candidate) => candidate.level === level);
    if (!finding) return { text: 'Not assessed', state: 'none' };
    if (reviewing) {
      const draft = state.levels[level];
      const text = draftSummary(state, level);
      if (!draft) return { text, state: 'undecided' };
      return { text, state: levelProblem(state, level) ? 'incomplete' : 'decided' };
    }
    if (signed) return { text: storedReviewSummary(finding), state: 'signed' };
    return { text: statusWord(result.status ?? 'preliminary'), state: 'none' };
  };

  const openFinding = openLevel ? result.findings.levels.find((finding) => finding.level === openLevel) : undefined;
  const nextUndecided = undecidedLevels(state).find((level) => level !== openLevel);
  const stackOf = (level: DiscLevel) =>
    stacks?.state === 'loaded' ? stacks.value.levels.find((stack) => stack.level === level) : undefined;

  return (
    <>
      {start.restored ? (
        <p className="notice" role="status" data-testid="draft-restored">
          Your unsigned decisions on this report were restored from this browser tab. Check them, then sign.
        </p>
      ) : null}
      {reloaded ? (
        <div className="notice" role="status" data-testid="reload-changes">
          <strong>What changed since you opened the report:</strong>
          <ul>
            {reloaded.changes.map((change) => (
              <li key={change}>{change}</li>
            ))}
          </ul>
          {reviewing && !isDraftEmpty(reloaded.previousDraft) ? (
            <>
              <p>Your decisions from before the reload were not applied to this version.</p>
              <span className="error-actions">
                <button
                  type="button"
                  className="secondary"
                  data-testid="reapply-decisions"
                  onClick={() => {
                    dispatch({ type: 'restore', draft: reloaded.previousDraft });
                    onDismissReloaded();
                  }}
                >
                  Re-apply my decisions
                </button>
                <button type="button" className="secondary" onClick={onDismissReloaded}>
                  Start again from this version
                </button>
              </span>
            </>
          ) : (
            <button type="button" className="secondary" onClick={onDismissReloaded}>
              Dismiss
            </button>
          )}
        </div>
      ) : null}

      <FindingsTable rows={rows} review={rowReview} openLevel={openLevel} onOpenLevel={onOpenLevel} signed={signed} />

      {openLevel ? (
        <section
          className="level-workspace"
          aria-label={`${openLevel}: images and review`}
          data-testid="level-workspace"
        >
          <div className="workspace-viewer">
            {!openFinding ? (
              <p className="hint">{openLevel} was not assessed: the axial series does not cover it.</p>
            ) : viewerSession ? (
              <>
                {stacks?.state === 'error' ? (
                  <p className="hint" role="status">
                    {stacks.message} The key slice is shown alone.
                  </p>
                ) : null}
                <LevelViewer
                  session={viewerSession}
                  baseUrl={baseUrl}
                  imagingStudyId={studyId}
                  finding={openFinding}
                  stack={stackOf(openLevel)}
                  {...(stacks?.state === 'loaded' && stacks.value.sagittal ? { sagittal: stacks.value.sagittal } : {})}
                  seriesInstanceUid={result.findings.seriesInstanceUid}
                />
              </>
            ) : (
              <p className="loading">Opening the images…</p>
            )}
          </div>
          <div className="workspace-review">
            {openFinding && reviewing ? (
              <LevelReviewForm
                level={openLevel}
                state={state}
                dispatch={dispatch}
                disabled={save.kind === 'saving'}
                {...(nextUndecided
                  ? {
                      onNextLevel: () => {
                        onOpenLevel(nextUndecided);
                      },
                    }
                  : {})}
              />
            ) : null}
            {openFinding && !reviewing && signed ? <SignedLevelReview finding={openFinding} /> : null}
            <button
              type="button"
              className="secondary"
              data-testid="close-level"
              onClick={() => {
                onOpenLevel(undefined);
              }}
            >
              Close {openLevel}
            </button>
          </div>
        </section>
      ) : null}

      {reviewing ? (
        <SignSection
          state={state}
          dispatch={dispatch}
          save={save}
          signLabel={signed ? 'Sign amendment' : 'Sign report'}
          onSign={() => {
            void sign();
          }}
          onReload={() => {
            void reload();
          }}
          {...(signed
            ? {
                onCancel: () => {
                  if (pendingKey) clearPendingReview(tabStorage(), pendingKey);
                  dispatch({ type: 'restore', draft: { levels: {}, comment: '' } });
                  setAmending(false);
                  setSave({ kind: 'idle' });
                },
              }
            : {})}
        />
      ) : null}

      {signed && !amending && result.versionId ? (
        <div className="sign-actions">
          <button
            type="button"
            className="secondary"
            data-testid="amend-button"
            onClick={() => {
              dispatch({ type: 'restore', draft: storedReviewsToDraft(result.findings) });
              setAmending(true);
            }}
          >
            Amend the signed report
          </button>
        </div>
      ) : null}

      {signed && result.history ? <ReportHistory history={result.history} {...(fhirUser ? { fhirUser } : {})} /> : null}
    </>
  );
}
