import type { Dispatch } from 'react';
import { ErrorBox } from './ErrorBox';
import { ReauthorizeBox } from './ReauthorizeBox';
import { reviewProblems, undecidedLevels, type ReviewAction, type ReviewState } from '../review-state';

/** Where the last save stands. */
export type SaveState =
  | { kind: 'idle' }
  | { kind: 'saving' }
  | { kind: 'reloading' }
  /** 409: someone else changed the report; the draft is kept, Reload re-reads it. */
  | { kind: 'conflict'; message: string }
  /** 401: the SMART session is gone; the draft is kept in the tab for after re-authorizing. */
  | { kind: 'session' }
  | { kind: 'error'; message: string };

interface SignSectionProps {
  state: ReviewState;
  dispatch: Dispatch<ReviewAction>;
  save: SaveState;
  /** "Sign" or "Sign amendment". */
  signLabel: string;
  onSign: () => void;
  onReload: () => void;
  onCancel?: () => void;
}

/** Said when the server's 409 carries no sentence of its own. */
export const CONFLICT_SENTENCE = 'Someone else changed this report after you opened it.';

/** Confirm all remaining, the report comment, and Sign (enabled once every level is decided completely). */
export function SignSection({ state, dispatch, save, signLabel, onSign, onReload, onCancel }: SignSectionProps) {
  const problems = reviewProblems(state);
  const remaining = undecidedLevels(state);
  // Undecided levels are named in the progress line; the list says what else is missing.
  const incomplete = problems.filter(
    (problem) => !remaining.some((level) => problem === `${level} is not decided yet.`),
  );
  const busy = save.kind === 'saving' || save.kind === 'reloading';
  const decided = state.ai.length - remaining.length;
  const blocked = save.kind === 'conflict';
  return (
    <section className="sign-section" aria-labelledby="sign-heading" data-testid="sign-section">
      <h3 id="sign-heading" className="subsection-title">
        Review and sign
      </h3>
      <p className="sign-progress" id="sign-progress" data-testid="sign-progress">
        {decided} of {state.ai.length} levels decided
        {remaining.length > 0 ? ` · not yet: ${remaining.join(', ')}` : ''}
      </p>
      <div className="sign-actions">
        <button
          type="button"
          className="secondary"
          data-testid="confirm-all-remaining"
          disabled={busy || remaining.length === 0}
          onClick={() => {
            dispatch({ type: 'confirm-all-remaining' });
          }}
        >
          Confirm all remaining{remaining.length > 0 ? ` (${remaining.length})` : ''}
        </button>
      </div>
      <label className="field">
        <span className="field-label">Comment for the report (optional)</span>
        <textarea
          rows={2}
          value={state.comment}
          disabled={busy}
          data-testid="report-comment"
          onChange={(event) => {
            dispatch({ type: 'set-comment', comment: event.target.value });
          }}
        />
      </label>
      {incomplete.length > 0 ? (
        <ul className="sign-problems" data-testid="sign-problems" aria-label="Still to complete">
          {incomplete.map((problem) => (
            <li key={problem}>{problem}</li>
          ))}
        </ul>
      ) : null}
      <div className="sign-actions">
        <button
          type="button"
          className="primary"
          data-testid="sign-button"
          disabled={busy || blocked || problems.length > 0}
          aria-describedby="sign-progress"
          onClick={onSign}
        >
          {save.kind === 'saving' ? 'Signing…' : signLabel}
        </button>
        {onCancel ? (
          <button type="button" className="secondary" disabled={busy} onClick={onCancel}>
            Cancel amendment
          </button>
        ) : null}
        <span className="sign-status" role="status" aria-live="polite" data-testid="sign-status">
          {save.kind === 'saving' ? 'Signing the report in the EHR…' : null}
          {save.kind === 'reloading' ? 'Reading the report again…' : null}
        </span>
      </div>
      {save.kind === 'conflict' ? (
        <div className="error-box" role="alert" data-testid="conflict">
          <strong className="error-title">{save.message || CONFLICT_SENTENCE}</strong>
          <span className="error-message">Nothing was signed; your decisions are still here.</span>
          <span className="error-actions">
            <button type="button" className="primary" data-testid="reload-button" onClick={onReload}>
              Reload
            </button>
            <span className="hint">Shows what changed. Nothing is re-applied or signed until you say so.</span>
          </span>
        </div>
      ) : null}
      {save.kind === 'session' ? (
        <ReauthorizeBox
          title="Your session with the EHR has expired, so the report was not signed."
          message="Your decisions are kept in this browser tab."
        />
      ) : null}
      {save.kind === 'error' ? <ErrorBox title="Not signed" message={save.message} /> : null}
    </section>
  );
}
