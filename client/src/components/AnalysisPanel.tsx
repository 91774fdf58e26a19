import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { DiscLevel } from '../../../server/src/findings/findings';
import {
  ApiError,
  cancelAnalysisJob,
  getStoredAnalysis,
  postAnalysis,
  type AnalysisJob,
  type AnalysisResult,
  type ApiSession,
} from '../api';
import { jobOutcome, reconnectableJob, type JobOutcome } from '../analysis-job';
import type { Ehr } from '../ehr';
import { errorToMessage, isAbort, isSessionLost } from '../error-message';
import { followJob, JobGoneError, type JobConnection } from '../job-follower';
import { analysisJobKey, forgetAnalysisJob, rememberAnalysisJob, tabStorage } from '../session-storage';
import { useStudyStacks } from '../viewer/use-viewer-data';
import type { ModelInfo } from '../viewer/viewer-api';
import { AnalysisProgress, type CancelState } from './AnalysisProgress';
import { ErrorBox } from './ErrorBox';
import { ReauthorizeBox } from './ReauthorizeBox';
import { ReportReview, type ReloadOutcome } from './ReportReview';
import { ReportSummary } from './ReportSummary';

type Shown = { result: AnalysisResult; source: 'stored' | 'new' };

/** A job the panel follows: its latest snapshot, how the panel hears from it, and where a cancel stands. */
interface Following {
  kind: 'job';
  jobId: string;
  /** Where the job's id is kept in the tab (FHIR base + ImagingStudy), to reconnect after a reload. */
  storageKey: string;
  /** Undefined while reconnecting to a job the panel has not heard from yet. */
  job: AnalysisJob | undefined;
  connection: JobConnection;
  cancel: CancelState;
  cancelNote?: string;
  previous?: Shown;
}

type AnalysisState =
  | { kind: 'checking' }
  | { kind: 'none' }
  | { kind: 'starting'; previous?: Shown }
  | Following
  | ({ kind: 'done' } & Shown)
  | { kind: 'cancelled'; previous?: Shown }
  | { kind: 'error'; message: string; sessionLost: boolean; previous?: Shown };

interface AnalysisPanelProps {
  ehr: Ehr;
  studyId: string;
  /** The page the API lives beside (`window.location.href`). */
  baseUrl: string;
  /** The model the app server runs, once `GET /api/model` answered. */
  model: ModelInfo | undefined;
  /**
   * Start (or join) the analysis at once when the study has none stored and none running: the app was launched at
   * this study by a CDS card's "Open ldh-cds to analyze this study" (launch-study.ts). Once per panel.
   */
  analyzeOnOpen?: boolean;
  onBusyChange: (busy: boolean) => void;
}

function failed(error: unknown, doing: string, previous?: Shown): AnalysisState {
  return {
    kind: 'error',
    message: errorToMessage(error, doing),
    sessionLost: isSessionLost(error),
    ...(previous ? { previous } : {}),
  };
}

/** The findings on screen before the current action, kept when it fails or is cancelled. */
function previousOf(state: AnalysisState): Shown | undefined {
  if (state.kind === 'done') return { result: state.result, source: state.source };
  return 'previous' in state ? state.previous : undefined;
}

/** The panel's state once a job has finished, as the synchronous analysis would have left it. */
function settled(outcome: JobOutcome, previous: Shown | undefined): AnalysisState {
  if (outcome.kind === 'completed') return { kind: 'done', result: outcome.result, source: 'new' };
  if (outcome.kind === 'cancelled') return { kind: 'cancelled', ...(previous ? { previous } : {}) };
  return failed(outcome.error, 'analyze the study', previous);
}

function following(jobId: string, storageKey: string, job: AnalysisJob | undefined, previous?: Shown): Following {
  return {
    kind: 'job',
    jobId,
    storageKey,
    job,
    connection: 'streaming',
    cancel: 'idle',
    ...(previous ? { previous } : {}),
  };
}

/**
 * Analysis of one study: shows the stored analysis if the server has one, else offers Analyze; then the review
 * (ReportReview). The viewer's stacks are read once per study, when the first level is opened.
 * Mount with `key={studyId}` so that a new selection starts from a clean state.
 */
export function AnalysisPanel({
  ehr,
  studyId,
  baseUrl,
  model,
  analyzeOnOpen = false,
  onBusyChange,
}: AnalysisPanelProps) {
  const [state, setState] = useState<AnalysisState>({ kind: 'checking' });
  const [openLevel, setOpenLevel] = useState<DiscLevel | undefined>(undefined);
  const [viewerSession, setViewerSession] = useState<ApiSession | undefined>(undefined);
  const [reloaded, setReloaded] = useState<ReloadOutcome | undefined>(undefined);
  const [viewerError, setViewerError] = useState<string | undefined>(undefined);
  const stacks = useStudyStacks(viewerSession, baseUrl, studyId);

  useEffect(() => {
    const controller = new AbortController();
    const load = async (): Promise<void> => {
      try {
        const session = await ehr.getApiSession();
        // A job this tab started or joined for the study and that still runs (a reload, a re-launch): follow it.
        const reconnect = await reconnectableJob({
          storage: tabStorage(),
          session,
          studyId,
          baseUrl,
          signal: controller.signal,
        });
        if (reconnect.kind === 'follow') {
          setState(following(reconnect.jobId, analysisJobKey(session.fhirServer, studyId), reconnect.job));
          return;
        }
        const stored = await getStoredAnalysis(session, studyId, { baseUrl, signal: controller.signal });
        setState(stored ? { kind: 'done', result: stored, source: 'stored' } : { kind: 'none' });
      } catch (error) {
        if (isAbort(error) || controller.signal.aborted) return;
        setState(failed(error, 'look up a stored analysis'));
      }
    };
    void load();
    return () => {
      controller.abort();
    };
  }, [ehr, studyId, baseUrl]);

  const running = state.kind === 'starting' || state.kind === 'job';
  useEffect(() => {
    onBusyChange(running);
  }, [running, onBusyChange]);

  /** A change to the followed job's state, ignored once the panel follows another or none. */
  const updateJob = useCallback((jobId: string, patch: (current: Following) => Partial<Following>) => {
    setState((current) =>
      current.kind === 'job' && current.jobId === jobId ? { ...current, ...patch(current) } : current,
    );
  }, []);

  // Follows the job from its events (or by polling) until it ends; a new job, or leaving the study, stops it.
  const followedId = state.kind === 'job' ? state.jobId : undefined;
  const followedKey = state.kind === 'job' ? state.storageKey : undefined;
  useEffect(() => {
    if (followedId === undefined || followedKey === undefined) return undefined;
    const controller = new AbortController();
    const stopped = (): boolean => controller.signal.aborted;
    const finish = (next: (previous: Shown | undefined) => AnalysisState): void => {
      setState((current) =>
        current.kind === 'job' && current.jobId === followedId ? next(current.previous) : current,
      );
    };
    followJob({
      jobId: followedId,
      baseUrl,
      getSession: () => ehr.getApiSession(),
      signal: controller.signal,
      onUpdate: (job) => {
        updateJob(followedId, () => ({ job }));
      },
      onConnection: (connection) => {
        updateJob(followedId, () => ({ connection }));
      },
    }).then(
      (job) => {
        forgetAnalysisJob(tabStorage(), followedKey);
        const outcome = jobOutcome(job);
        if (outcome) finish((previous) => settled(outcome, previous));
      },
      async (error: unknown) => {
        if (isAbort(error) || stopped()) return;
        if (!(error instanceof JobGoneError)) {
          // The job may still run (an expired session): its id stays, so that a re-authorized tab reconnects.
          finish((previous) => failed(error, 'follow the analysis', previous));
          return;
        }
        // The server no longer knows the job (restarted, or long finished): what the EHR holds is the answer.
        forgetAnalysisJob(tabStorage(), followedKey);
        try {
          const session = await ehr.getApiSession();
          const stored = await getStoredAnalysis(session, studyId, { baseUrl, signal: controller.signal });
          finish((previous) =>
            stored ? { kind: 'done', result: stored, source: 'stored' } : failed(error, 'analyze the study', previous),
          );
        } catch (lookupError) {
          if (isAbort(lookupError) || stopped()) return;
          finish((previous) => failed(error, 'analyze the study', previous));
        }
      },
    );
    return () => {
      controller.abort();
    };
  }, [followedId, followedKey, ehr, baseUrl, studyId, updateJob]);

  const analyze = async (): Promise<void> => {
    const previous = previousOf(state);
    setState({ kind: 'starting', ...(previous ? { previous } : {}) });
    setReloaded(undefined);
    try {
      const session = await ehr.getApiSession();
      const answer = await postAnalysis(session, studyId, { baseUrl });
      if (answer.kind === 'result') {
        // The EHR already held this model version's analysis: shown at once, as the synchronous answer was.
        setState({ kind: 'done', result: answer.result, source: 'new' });
        return;
      }
      const outcome = jobOutcome(answer.job);
      if (outcome) {
        setState(settled(outcome, previous));
        return;
      }
      const storageKey = analysisJobKey(session.fhirServer, studyId);
      rememberAnalysisJob(tabStorage(), storageKey, answer.job.id);
      setState(following(answer.job.id, storageKey, answer.job, previous));
    } catch (error) {
      setState(failed(error, 'analyze the study', previous));
    }
  };

  // Asked for by the launch: once the panel knows there is nothing stored or running (a job the server already runs
  // for the study, queued by the CDS service, is joined: POST /api/analyses joins it).
  const startOnOpen = useRef(analyzeOnOpen);
  useEffect(() => {
    if (state.kind !== 'none' || !startOnOpen.current) return;
    startOnOpen.current = false;
    void analyze();
  });

  const cancel = async (jobId: string, storageKey: string): Promise<void> => {
    updateJob(jobId, () => ({ cancel: 'cancelling', cancelNote: undefined }));
    try {
      const session = await ehr.getApiSession();
      // 202: it stops at its next request, frame or batch, and the events bring `cancelled`; 200: cancelled now.
      const job = await cancelAnalysisJob(session, jobId, { baseUrl });
      const outcome = jobOutcome(job);
      if (outcome) {
        forgetAnalysisJob(tabStorage(), storageKey);
        setState((current) =>
          current.kind === 'job' && current.jobId === jobId ? settled(outcome, current.previous) : current,
        );
      } else {
        updateJob(jobId, () => ({ job }));
      }
    } catch (error) {
      // 409: it is already writing its results (a write is never stopped half-way), and the bar goes on to the end.
      const refused = error instanceof ApiError && error.isConflict;
      updateJob(jobId, () => ({
        cancel: refused ? 'refused' : 'idle',
        cancelNote: refused ? error.message : errorToMessage(error, 'cancel the analysis'),
      }));
    }
  };

  const onOpenLevel = useCallback(
    (level: DiscLevel | undefined) => {
      setOpenLevel(level);
      if (level === undefined || viewerSession) return;
      // The first opened level brings the session the viewer's requests carry (and with it the stacks).
      ehr.getApiSession().then(
        (session) => {
          setViewerSession((current) => current ?? session);
        },
        (error: unknown) => {
          setViewerError(errorToMessage(error, 'open the images'));
        },
      );
    },
    [ehr, viewerSession],
  );

  const onResult = useCallback((result: AnalysisResult, outcome?: ReloadOutcome) => {
    setState({ kind: 'done', result, source: 'stored' });
    setReloaded(outcome);
  }, []);
  const onDismissReloaded = useCallback(() => {
    setReloaded(undefined);
  }, []);
  const getSession = useCallback(() => ehr.getApiSession(), [ehr]);
  const fhirUser = useMemo(() => ehr.launchContext().fhirUser, [ehr]);

  const shown: Shown | undefined =
    state.kind === 'done' ? state : state.kind === 'error' || state.kind === 'cancelled' ? state.previous : undefined;

  return (
    <section
      className="analysis"
      aria-labelledby="analysis-heading"
      aria-busy={state.kind === 'starting' || state.kind === 'checking'}
    >
      <h2 id="analysis-heading" className="visually-hidden">
        Analysis
      </h2>
      <div className="analysis-actions">
        <button
          type="button"
          className={shown ? 'secondary' : 'primary'}
          data-testid="analyze-button"
          disabled={running || state.kind === 'checking'}
          onClick={() => {
            void analyze();
          }}
        >
          {running ? 'Analyzing…' : shown || state.kind === 'cancelled' ? 'Analyze again' : 'Analyze'}
        </button>
        <span className="analysis-status" role="status" aria-live="polite" data-testid="analysis-status">
          {state.kind === 'checking' ? 'Looking for a stored analysis…' : null}
          {state.kind === 'none' ? 'Not analyzed yet.' : null}
          {state.kind === 'starting' ? (
            <>
              <span className="spinner" aria-hidden="true" /> Starting the analysis…
            </>
          ) : null}
          {state.kind === 'job'
            ? 'Analyzing on the ldh-cds server: reading the axial T2 series and grading each disc level. It goes on if this page is reloaded.'
            : null}
          {state.kind === 'cancelled' ? 'Analysis cancelled.' : null}
        </span>
      </div>
      {state.kind === 'job' ? (
        <AnalysisProgress
          job={state.job}
          connection={state.connection}
          cancel={state.cancel}
          cancelNote={state.cancelNote}
          onCancel={() => {
            void cancel(state.jobId, state.storageKey);
          }}
        />
      ) : null}
      {state.kind === 'cancelled' ? (
        <p className="analysis-cancelled" data-testid="analysis-cancelled">
          The analysis was cancelled before it wrote anything: nothing was written to the EHR. Analyze again to start it
          anew.
        </p>
      ) : null}
      {state.kind === 'error' && state.sessionLost ? (
        <ReauthorizeBox title="Your session with the EHR has expired." message={state.message} />
      ) : null}
      {state.kind === 'error' && !state.sessionLost ? (
        <ErrorBox title="Analysis failed" message={state.message} />
      ) : null}
      {viewerError ? <ErrorBox title="Images" message={viewerError} /> : null}
      {shown ? (
        <section className="findings" aria-labelledby="findings-heading">
          <h2 id="findings-heading" className="section-title">
            MSU findings
          </h2>
          <ReportSummary
            result={shown.result}
            source={shown.source}
            model={model}
            baseUrl={baseUrl}
            getSession={getSession}
            fhirUser={fhirUser}
          />
          <ReportReview
            key={`${shown.result.diagnosticReport}@${shown.result.versionId ?? ''}`}
            ehr={ehr}
            baseUrl={baseUrl}
            studyId={studyId}
            result={shown.result}
            onResult={onResult}
            reloaded={reloaded}
            onDismissReloaded={onDismissReloaded}
            openLevel={openLevel}
            onOpenLevel={onOpenLevel}
            viewerSession={viewerSession}
            stacks={viewerSession ? stacks : undefined}
          />
        </section>
      ) : null}
    </section>
  );
}
