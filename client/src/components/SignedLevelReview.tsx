import type { LevelFinding } from '../../../server/src/findings/findings';
import { storedReviewSummary } from '../review-state';

const DECISION_WORDS = { confirm: 'Confirmed', edit: 'Edited', reject: 'Rejected' } as const;

/** One level of a signed report: the clinician's decision beside the AI's reading, read-only. */
export function SignedLevelReview({ finding }: { finding: LevelFinding }) {
  const review = finding.review;
  return (
    <section
      className="level-review"
      aria-label={`Signed review of ${finding.level}`}
      data-testid="signed-level-review"
    >
      <h3 className="subsection-title">{finding.level} as signed</h3>
      <p className="review-summary">{storedReviewSummary(finding)}</p>
      {review ? (
        <dl className="review-facts">
          <div>
            <dt>Decision</dt>
            <dd>{DECISION_WORDS[review.decision]}</dd>
          </div>
          {review.reason ? (
            <div>
              <dt>Reason</dt>
              <dd>{review.reason}</dd>
            </div>
          ) : null}
          {review.comment ? (
            <div>
              <dt>Comment</dt>
              <dd>{review.comment}</dd>
            </div>
          ) : null}
        </dl>
      ) : (
        <p className="hint">No per-level review was stored for this level.</p>
      )}
    </section>
  );
}
