import { useId, type Dispatch } from 'react';
import type {
  DiscLevel,
  HerniationSide,
  MsuGrade,
  MsuZone,
  ReviewDecision,
} from '../../../server/src/findings/findings';
import {
  HERNIATION_SIDES,
  MSU_GRADES,
  MSU_ZONES,
  NO_HERNIATION_RULE,
  gradeRule,
  sideLabel,
  sideRule,
  zoneRule,
} from '../msu-rules';
import { REJECT_REASONS, draftSummary, levelProblem, type ReviewAction, type ReviewState } from '../review-state';

interface LevelReviewFormProps {
  level: DiscLevel;
  state: ReviewState;
  dispatch: Dispatch<ReviewAction>;
  /** Saving in progress: the form is read-only meanwhile. */
  disabled: boolean;
  /** Moves to the next level that still needs a decision, when there is one. */
  onNextLevel?: () => void;
}

const DECISIONS: { value: ReviewDecision; label: string; hint: string }[] = [
  { value: 'confirm', label: 'Confirm', hint: 'the AI finding is right' },
  { value: 'edit', label: 'Edit', hint: 'change grade, zone or side, or say there is no herniation' },
  { value: 'reject', label: 'Reject', hint: 'the AI finding cannot be used (give a reason)' },
];

interface ChoiceProps {
  name: string;
  checked: boolean;
  disabled: boolean;
  label: string;
  rule: string;
  testId: string;
  onChoose: () => void;
}

/** One radio with its MSU rule beside it on one line (`Grade 2: beyond 50 % …`), both in its accessible name. */
function Choice({ name, checked, disabled, label, rule, testId, onChoose }: ChoiceProps) {
  return (
    <label className="choice">
      <input type="radio" name={name} checked={checked} disabled={disabled} data-testid={testId} onChange={onChoose} />
      <span className="choice-text">
        <span className="choice-label">{label}</span>: <span className="choice-rule">{rule}</span>
      </span>
    </label>
  );
}

/** Confirm, edit or reject one level's AI finding, with the MSU rule beside every choice. */
export function LevelReviewForm({ level, state, dispatch, disabled, onNextLevel }: LevelReviewFormProps) {
  const id = useId();
  const draft = state.levels[level];
  const reading = draft?.decision === 'edit' ? (draft.reading ?? {}) : undefined;
  const problem = draft ? levelProblem(state, level) : undefined;
  const summaryId = `${id}-summary`;
  const name = (part: string): string => `${id}-${part}`;

  return (
    <section className="level-review" aria-labelledby={`${id}-heading`} data-testid={`level-review-${level}`}>
      <h3 id={`${id}-heading`} className="subsection-title">
        Review {level}
      </h3>
      <p id={summaryId} className="review-summary" data-testid="review-summary" aria-live="polite">
        {draftSummary(state, level)}
      </p>
      <fieldset className="choices" disabled={disabled} aria-describedby={summaryId}>
        <legend>Decision</legend>
        {DECISIONS.map((decision) => (
          <Choice
            key={decision.value}
            name={name('decision')}
            checked={draft?.decision === decision.value}
            disabled={disabled}
            label={decision.label}
            rule={decision.hint}
            testId={`decision-${decision.value}`}
            onChoose={() => {
              dispatch({ type: 'decide', level, decision: decision.value });
            }}
          />
        ))}
      </fieldset>

      {reading ? (
        <div className="edit-reading" data-testid="edit-reading">
          <fieldset className="choices" disabled={disabled}>
            <legend>Finding</legend>
            <Choice
              name={name('herniation')}
              checked={reading.herniation === true}
              disabled={disabled}
              label="Herniation"
              rule="graded below by size, place and side"
              testId="reading-herniation"
              onChoose={() => {
                dispatch({ type: 'set-reading', level, reading: { herniation: true } });
              }}
            />
            <Choice
              name={name('herniation')}
              checked={reading.herniation === false}
              disabled={disabled}
              label="No herniation"
              rule={NO_HERNIATION_RULE}
              testId="reading-no-herniation"
              onChoose={() => {
                dispatch({ type: 'set-reading', level, reading: { herniation: false } });
              }}
            />
          </fieldset>
          {reading.herniation === true ? (
            <>
              <fieldset className="choices" disabled={disabled}>
                <legend>Grade (size)</legend>
                {MSU_GRADES.map((grade: MsuGrade) => (
                  <Choice
                    key={grade}
                    name={name('grade')}
                    checked={reading.grade === grade}
                    disabled={disabled}
                    label={`Grade ${grade}`}
                    rule={gradeRule(grade)}
                    testId={`grade-${grade}`}
                    onChoose={() => {
                      dispatch({ type: 'set-reading', level, reading: { grade } });
                    }}
                  />
                ))}
              </fieldset>
              <fieldset className="choices" disabled={disabled}>
                <legend>Zone (place)</legend>
                {MSU_ZONES.map((zone: MsuZone) => (
                  <Choice
                    key={zone}
                    name={name('zone')}
                    checked={reading.zone === zone}
                    disabled={disabled}
                    label={`Zone ${zone}`}
                    rule={zoneRule(zone)}
                    testId={`zone-${zone}`}
                    onChoose={() => {
                      dispatch({ type: 'set-reading', level, reading: { zone } });
                    }}
                  />
                ))}
              </fieldset>
              <fieldset className="choices" disabled={disabled}>
                <legend>Side</legend>
                {HERNIATION_SIDES.map((side: HerniationSide) => (
                  <Choice
                    key={side}
                    name={name('side')}
                    checked={reading.side === side}
                    disabled={disabled}
                    label={sideLabel(side)}
                    rule={sideRule(side)}
                    testId={`side-${side}`}
                    onChoose={() => {
                      dispatch({ type: 'set-reading', level, reading: { side } });
                    }}
                  />
                ))}
              </fieldset>
            </>
          ) : null}
        </div>
      ) : null}

      {draft?.decision === 'reject' ? (
        <div className="reject-reason">
          <label className="field">
            <span className="field-label">Reason (required)</span>
            <select
              value={draft.reasonId ?? ''}
              disabled={disabled}
              required
              aria-invalid={problem !== undefined && !draft.reasonId && !draft.reasonText?.trim()}
              data-testid="reject-reason"
              onChange={(event) => {
                const value = event.target.value;
                const reasonId = REJECT_REASONS.find((reason) => reason.id === value)?.id;
                dispatch({ type: 'set-reason', level, reasonId });
              }}
            >
              <option value="">Choose a reason…</option>
              {REJECT_REASONS.map((reason) => (
                <option key={reason.id} value={reason.id}>
                  {reason.label}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span className="field-label">
              {draft.reasonId === 'other' ? 'Describe the reason (required)' : 'Details (optional)'}
            </span>
            <textarea
              rows={2}
              value={draft.reasonText ?? ''}
              disabled={disabled}
              required={draft.reasonId === 'other'}
              data-testid="reject-reason-text"
              onChange={(event) => {
                dispatch({ type: 'set-reason', level, reasonText: event.target.value });
              }}
            />
          </label>
        </div>
      ) : null}

      {draft ? (
        <label className="field">
          <span className="field-label">Comment on {level} (optional)</span>
          <textarea
            rows={2}
            value={draft.comment ?? ''}
            disabled={disabled}
            data-testid="level-comment"
            onChange={(event) => {
              dispatch({ type: 'set-level-comment', level, comment: event.target.value });
            }}
          />
        </label>
      ) : null}

      {problem ? (
        <p className="field-problem" data-testid="level-problem">
          {problem}
        </p>
      ) : null}

      <div className="level-review-actions">
        {draft ? (
          <button
            type="button"
            className="secondary"
            disabled={disabled}
            onClick={() => {
              dispatch({ type: 'undecide', level });
            }}
          >
            Undo decision
          </button>
        ) : null}
        {onNextLevel ? (
          <button type="button" className="secondary" onClick={onNextLevel} data-testid="next-level">
            Next undecided level
          </button>
        ) : null}
      </div>
    </section>
  );
}
