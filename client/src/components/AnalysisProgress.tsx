import type { AnalysisJob } from '../api';
import { jobPercent, stageAnnouncement } from '../analysis-job';
import type { JobConnection } from '../job-follower';

/** Where a cancel stands: not asked, asked and stopping, or refused (the job is already writing its results). */
export type CancelState = 'idle' | 'cancelling' | 'refused';

interface AnalysisProgressProps {
  /** The job's latest snapshot; undefined while the panel reconnects to a job it has not heard from yet. */
  job: AnalysisJob | undefined;
  connection: JobConnection;
  cancel: CancelState;
  /** Why the cancel did not happen (409: already writing), or why it could not be asked. */
  cancelNote: string | undefined;
  onCancel: () => void;
}

const CONNECTION_NOTE: Record<JobConnection, string | undefined> = {
  streaming: undefined,
  reconnecting:
    'The connection to the ldh-cds server was interrupted; reconnecting… The analysis goes on on the server.',
  polling: 'Live updates are not getting through; the panel checks the analysis every few seconds.',
};

/**
 * A running analysis: the stage line from the server ("Retrieving images 12/40"), a progress bar (a native
 * `<progress>`: role progressbar, its value as aria-valuenow, the stage line as aria-valuetext), and Cancel. Screen
 * readers hear each new stage once (a polite live region), not every count.
 */
export function AnalysisProgress({ job, connection, cancel, cancelNote, onCancel }: AnalysisProgressProps) {
  const text = job?.progress.text || 'Reconnecting to the running analysis…';
  const percent = job ? jobPercent(job) : undefined;
  const stopping = cancel === 'cancelling' || job?.progress.text.startsWith('Stopping');
  return (
    <div className="analysis-progress" data-testid="analysis-progress">
      <div className="analysis-progress-line">
        <span id="analysis-progress-label" className="analysis-progress-title">
          Analysis in progress
        </span>
        <span className="analysis-progress-text" data-testid="analysis-progress-text">
          {text}
        </span>
        {percent !== undefined ? (
          <span className="analysis-progress-percent" aria-hidden="true">
            {percent}%
          </span>
        ) : null}
      </div>
      <progress
        className="analysis-progress-bar"
        data-testid="analysis-progress-bar"
        aria-labelledby="analysis-progress-label"
        aria-valuetext={text}
        max={100}
        {...(percent !== undefined ? { value: percent } : {})}
      />
      <span className="visually-hidden" role="status" aria-live="polite">
        {job ? stageAnnouncement(job.progress) : ''}
      </span>
      {CONNECTION_NOTE[connection] ? (
        <p className="analysis-progress-note" data-testid="analysis-connection">
          {CONNECTION_NOTE[connection]}
        </p>
      ) : null}
      {cancelNote ? (
        <p className="analysis-progress-note" role="status" data-testid="cancel-note">
          {cancelNote}
        </p>
      ) : null}
      {cancel !== 'refused' ? (
        <button
          type="button"
          className="secondary"
          data-testid="cancel-analysis-button"
          disabled={stopping || !job}
          onClick={onCancel}
        >
          {stopping ? 'Cancelling…' : 'Cancel'}
        </button>
      ) : null}
    </div>
  );
}
