import { useCallback, useEffect, useMemo, useState } from 'react';
import type { DiscLevel } from '../../../server/src/findings/findings';
import { getStoredAnalysis, postAnalysis, type AnalysisResult, type ApiSession } from '../api';
import type { Ehr } from '../ehr';
import { errorToMessage, isAbort, isSessionLost } from '../error-message';
import { useStudyStacks } from '../viewer/use-viewer-data';
import type { ModelInfo } from '../viewer/viewer-api';
import { ErrorBox } from './ErrorBox';
import { ReauthorizeBox } from './ReauthorizeBox';
import { ReportReview, type ReloadOutcome } from './ReportReview';
import { ReportSummary } from './ReportSummary';

type Shown = { result: AnalysisResult; source: 'stored' | 'new' };

type AnalysisState =
  | { kind: 'checking' }
  | { kind: 'none' }
  | { kind: 'running' }
  | ({ kind: 'done' } & Shown)
  | { kind: 'error'; message: string; sessionLost: boolean; previous?: Shown };

interface AnalysisPanelProps {
  ehr: Ehr;
  studyId: string;
  /** The page the API lives beside (`window.location.href`). */
  baseUrl: string;
  /** The model the app server runs, once `GET /api/model` answered. */
  model: ModelInfo | undefined;
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

/**
 * Analysis of one study: shows the stored analysis if the server has one, else offers Analyze; then the review
 * (ReportReview). The viewer's stacks are read once per study, when the first level is opened.
 * Mount with `key={studyId}` so that a new selection starts from a clean state.
 */
export function AnalysisPanel({ ehr, studyId, baseUrl, model, onBusyChange }: AnalysisPanelProps) {
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

  const running = state.kind === 'running';
  useEffect(() => {
    onBusyChange(running);
  }, [running, onBusyChange]);

  const analyze = async (): Promise<void> => {
    const previous = state.kind === 'done' ? { result: state.result, source: state.source } : undefined;
    setState({ kind: 'running' });
    setReloaded(undefined);
    try {
      const session = await ehr.getApiSession();
      const result = await postAnalysis(session, studyId, { baseUrl });
      setState({ kind: 'done', result, source: 'new' });
    } catch (error) {
      setState(failed(error, 'analyze the study', previous));
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

  const shown: Shown | undefined = state.kind === 'done' ? state : state.kind === 'error' ? state.previous : undefined;

  return (
    <section className="analysis" aria-labelledby="analysis-heading" aria-busy={running || state.kind === 'checking'}>
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
          {running ? 'Analyzing…' : shown ? 'Analyze again' : 'Analyze'}
        </button>
        <span className="analysis-status" role="status" aria-live="polite" data-testid="analysis-status">
          {state.kind === 'checking' ? 'Looking for a stored analysis…' : null}
          {state.kind === 'none' ? 'Not analyzed yet.' : null}
          {running ? (
            <>
              <span className="spinner" aria-hidden="true" /> Analyzing… reading the axial T2 series and grading each
              disc level.
            </>
          ) : null}
        </span>
      </div>
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
