import type { AnalysisResult } from '../api';
import { findingsToRows, modelLabel } from '../findings-rows';

interface FindingsTableProps {
  result: AnalysisResult;
  /** Where the findings came from, shown in the caption. */
  source: 'stored' | 'new';
}

/** Where the findings come from, in words: a new analysis, or the one the EHR already held. */
function describeSource(result: AnalysisResult, source: 'stored' | 'new'): string {
  if (source === 'stored') return 'stored analysis';
  return result.created === false ? 'already in the EHR (not recomputed)' : 'new analysis';
}

/** A FHIR instant in the user's locale and time zone, not an ISO string. */
function formatInstant(instant: string): string {
  const date = new Date(instant);
  return Number.isNaN(date.getTime())
    ? instant
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Per-level MSU findings, L1-L2 at the top; every row is labelled as preliminary AI output. */
export function FindingsTable({ result, source }: FindingsTableProps) {
  const { findings } = result;
  const rows = findingsToRows(findings);
  return (
    <section className="findings" aria-labelledby="findings-heading">
      <h2 id="findings-heading" className="section-title">
        MSU findings
      </h2>
      <p className="findings-meta" data-testid="analysis-meta">
        Model <span data-testid="model-label">{modelLabel(findings)}</span> · {describeSource(result, source)}
        {result.issued ? ` · analyzed ${formatInstant(result.issued)}` : ''}
        {result.status ? ` · report ${result.status}` : ''}
        {result.superseded ? ' · replaces the earlier AI report' : ''}
      </p>
      {findings.levelAssignment ? (
        <p className="findings-meta" data-testid="level-assignment">
          {findings.levelAssignment.description}
        </p>
      ) : null}
      {findings.warnings.length > 0 ? (
        <ul className="warnings" data-testid="findings-warnings" aria-label="Warnings">
          {findings.warnings.map((warning) => (
            <li key={warning}>{warning}</li>
          ))}
        </ul>
      ) : null}
      <div className="table-scroll">
        <table className="findings-table" data-testid="findings-table">
          <caption className="visually-hidden">
            MSU grade and zone of lumbar disc herniation per disc level, preliminary AI output
          </caption>
          <thead>
            <tr>
              <th scope="col">Level</th>
              <th scope="col">Finding</th>
              <th scope="col">Grade</th>
              <th scope="col">Zone</th>
              <th scope="col">Side</th>
              <th scope="col">Confidence</th>
              <th scope="col">Key slice</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.level} data-level={row.level} className={row.herniation ? 'row-herniation' : undefined}>
                <th scope="row">{row.level}</th>
                <td className="finding-cell">{row.finding}</td>
                <td>{row.grade}</td>
                <td>{row.zone}</td>
                <td>{row.side}</td>
                <td className="numeric">{row.confidence}</td>
                <td className="key-slice" title={row.keySliceFull}>
                  <span aria-hidden="true">{row.keySlice}</span>
                  <span className="visually-hidden">{row.keySliceFull}</span>
                </td>
                <td>
                  <span className="badge badge-preliminary">{row.status}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
