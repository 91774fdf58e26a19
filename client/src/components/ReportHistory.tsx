import type { ReportVersion } from '../api';
import { historyRows } from '../report-status';

/** The report's versions as the server lists them, newest first: status, who, when (in the user's locale). */
export function ReportHistory({ history, fhirUser }: { history: readonly ReportVersion[]; fhirUser?: string }) {
  if (history.length === 0) return null;
  return (
    <section className="report-history" aria-labelledby="history-heading" data-testid="report-history">
      <h3 id="history-heading" className="subsection-title">
        History
      </h3>
      <div className="table-scroll">
        <table className="history-table">
          <caption className="visually-hidden">Versions of the report in the EHR, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Status</th>
              <th scope="col">By</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {historyRows(history, {}, fhirUser ? { fhirUser } : {}).map((row) => (
              <tr key={row.versionId} data-version={row.versionId}>
                <th scope="row" title={`versionId ${row.versionId}`}>
                  {row.number}
                </th>
                <td>{row.status}</td>
                <td>{row.by}</td>
                <td>{row.at}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
