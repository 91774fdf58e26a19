import { useEffect, useState } from 'react';
import { getStoredAnalysis, postAnalysis, type AnalysisResult } from '../api';
import type { Ehr } from '../ehr';
import { errorToMessage, isAbort } from '../error-message';
import { ErrorBox } from './ErrorBox';
import { FindingsTable } from './FindingsTable';

type AnalysisState =
  | { kind: 'checking' }
  | { kind: 'none' }
  | { kind: 'running' }
  | { kind: 'done'; result: AnalysisResult; source: 'stored' | 'new' }
  | { kind: 'error'; message: string; previous?: { result: AnalysisResult; source: 'stored' | 'new' } };

interface AnalysisPanelProps {
  ehr: Ehr;
  studyId: string;
  /** The page the API lives beside (`window.location.href`). */
  baseUrl: string;
  onBusyChange: (busy: boolean) => void;
}

/**
 * Analysis of one study: shows the stored analysis if the server has one, else offers Analyze.
 * Mount with `key={studyId}` so that a new selection starts from a clean state.
 */
export function AnalysisPanel({ ehr, studyId, baseUrl, onBusyChange }: AnalysisPanelProps) {
  const [state, setState] = useState<AnalysisState>({ kind: 'checking' });

  useEffect(() => {
    const controller = new AbortController();
    const load = async (): Promise<void> => {
      try {
        const session = await ehr.getApiSession();
        const stored = await getStoredAnalysis(session, studyId, { baseUrl, signal: controller.signal });
        setState(stored ? { kind: 'done', result: stored, source: 'stored' } : { kind: 'none' });
      } catch (error) {
        if (isAbort(error) || controller.signal.aborted) return;
        setState({ kind: 'error', message: errorToMessage(error, 'look up a stored analysis') });
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
    try {
      const session = await ehr.getApiSession();
      const result = await postAnalysis(session, studyId, { baseUrl });
      setState({ kind: 'done', result, source: 'new' });
    } catch (error) {
      setState({ kind: 'error', message: errorToMessage(error, 'analyze the study'), previous });
    }
  };

  const shown = state.kind === 'done' ? state : state.kind === 'error' ? state.previous : undefined;

  return (
    <section className="analysis" aria-labelledby="analysis-heading" aria-busy={running || state.kind === 'checking'}>
      <h2 id="analysis-heading" className="visually-hidden">
        Analysis
      </h2>
      <div className="analysis-actions">
        <button
          type="button"
          className="primary"
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
      {state.kind === 'error' ? <ErrorBox title="Analysis failed" message={state.message} /> : null}
      {shown ? <FindingsTable result={shown.result} source={shown.source} /> : null}
    </section>
  );
}
