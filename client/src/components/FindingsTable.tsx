import type { KeyboardEvent } from 'react';
import type { DiscLevel } from '../../../server/src/findings/findings';
import type { FindingRow } from '../findings-rows';

/** The review column of one level: what the clinician decided beside the AI's reading, and whether it is done. */
export interface RowReview {
  text: string;
  state: 'undecided' | 'incomplete' | 'decided' | 'signed' | 'none';
}

interface FindingsTableProps {
  rows: FindingRow[];
  review: (level: DiscLevel) => RowReview;
  /** The level open in the viewer, if any. */
  openLevel: DiscLevel | undefined;
  onOpenLevel: (level: DiscLevel) => void;
  /** Once signed, the finding columns hold what was signed; the AI's reading stays in the review column. */
  signed: boolean;
}

const REVIEW_BADGE: Record<RowReview['state'], string> = {
  undecided: 'badge badge-preliminary',
  incomplete: 'badge badge-incomplete',
  decided: 'badge badge-decided',
  signed: 'badge badge-signed',
  none: 'badge',
};

/**
 * Per-level MSU findings, L1-L2 at the top. Each row opens its level in the viewer beside the review form (click,
 * Enter or Space); the review column keeps the AI's reading beside the clinician's.
 */
export function FindingsTable({ rows, review, openLevel, onOpenLevel, signed }: FindingsTableProps) {
  const onKeyDown = (level: DiscLevel) => (event: KeyboardEvent<HTMLTableRowElement>) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
    onOpenLevel(level);
  };
  return (
    <div className="table-scroll">
      <p id="open-level-hint" className="visually-hidden">
        Press Enter to open this level in the image viewer and review it.
      </p>
      <table className="findings-table" data-testid="findings-table">
        <caption className="visually-hidden">
          MSU grade and zone of lumbar disc herniation per disc level, {signed ? 'as signed' : 'as the AI read it'}, and
          the review beside the AI&apos;s reading
        </caption>
        <thead>
          <tr>
            <th scope="col">Level</th>
            <th scope="col">{signed ? 'Finding (signed)' : 'Finding (AI)'}</th>
            <th scope="col">Grade</th>
            <th scope="col">Zone</th>
            <th scope="col">Side</th>
            <th scope="col">Confidence</th>
            <th scope="col">Key slice</th>
            <th scope="col">Review</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const rowReview = review(row.level);
            const open = row.level === openLevel;
            const classes = [
              'level-row',
              row.herniation ? 'row-herniation' : '',
              open ? 'row-open' : '',
              `review-${rowReview.state}`,
            ].filter(Boolean);
            return (
              <tr
                key={row.level}
                data-level={row.level}
                data-testid={`open-level-${row.level}`}
                className={classes.join(' ')}
                tabIndex={0}
                aria-current={open ? 'true' : undefined}
                aria-describedby="open-level-hint"
                onClick={() => {
                  onOpenLevel(row.level);
                }}
                onKeyDown={onKeyDown(row.level)}
              >
                <th scope="row">{row.level}</th>
                <td className="finding-cell">{row.finding}</td>
                <td>{row.grade}</td>
                <td>{row.zone}</td>
                <td>{row.side}</td>
                <td className="numeric">{row.confidence}</td>
                <td className="key-slice" title={row.keySliceFull} data-testid="key-slice">
                  {row.keySlice}
                </td>
                <td className="review-cell" data-testid="row-review">
                  <span className={REVIEW_BADGE[rowReview.state]}>{rowReview.text}</span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
