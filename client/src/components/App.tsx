import { useCallback, useEffect, useMemo, useState } from 'react';
import type { ApiSession } from '../api';
import { mrStudySummaries, patientToSummary, type PatientSummary, type StudySummary } from '../chart';
import type { Ehr } from '../ehr';
import { errorToMessage, isAbort } from '../error-message';
import { rememberSelectedStudy, rememberedSelectedStudy, tabStorage } from '../session-storage';
import { applySmartStyle } from '../smart-style';
import { useModelInfo } from '../viewer/use-viewer-data';
import { AnalysisPanel } from './AnalysisPanel';
import { ErrorBox } from './ErrorBox';
import { PatientBanner } from './PatientBanner';
import { SafetyBanner } from './SafetyBanner';
import { StudyList } from './StudyList';
import './panel.css';

type Loadable<T> = { kind: 'loading' } | { kind: 'ready'; value: T } | { kind: 'error'; message: string };

/** Loads once per `ehr`; aborts the request when the panel goes away. */
function useLoad<T>(ehr: Ehr, load: (ehr: Ehr, signal: AbortSignal) => Promise<T>, doing: string): Loadable<T> {
  const [state, setState] = useState<Loadable<T>>({ kind: 'loading' });
  useEffect(() => {
    const controller = new AbortController();
    load(ehr, controller.signal).then(
      (value) => {
        setState({ kind: 'ready', value });
      },
      (error: unknown) => {
        if (isAbort(error) || controller.signal.aborted) return;
        setState({ kind: 'error', message: errorToMessage(error, doing) });
      },
    );
    return () => {
      controller.abort();
    };
  }, [ehr, load, doing]);
  return state;
}

const loadPatient = async (ehr: Ehr, signal: AbortSignal): Promise<PatientSummary> =>
  patientToSummary(await ehr.readPatient(signal));
const loadStudies = async (ehr: Ehr, signal: AbortSignal): Promise<StudySummary[]> =>
  mrStudySummaries(await ehr.searchImagingStudies(signal));

/** The session for app-server calls that need no particular moment (the model's description). */
function useApiSession(ehr: Ehr): ApiSession | undefined {
  const [session, setSession] = useState<ApiSession | undefined>(undefined);
  useEffect(() => {
    let live = true;
    ehr.getApiSession().then(
      (value) => {
        if (live) setSession(value);
      },
      () => undefined, // a lost session shows where it matters (the analysis panel)
    );
    return () => {
      live = false;
    };
  }, [ehr]);
  return session;
}

/**
 * The CDS panel: safety banner, patient (unless the EHR shows it around us), MR studies, analysis and review of the
 * selected study. Styled by the EHR's `smart_style_url` when it sends one.
 */
export function App({ ehr, baseUrl }: { ehr: Ehr; baseUrl: string }) {
  const launch = useMemo(() => ehr.launchContext(), [ehr]);
  const patient = useLoad(ehr, loadPatient, "read the patient's record");
  const studies = useLoad(ehr, loadStudies, "load the patient's MR studies");
  const session = useApiSession(ehr);
  const model = useModelInfo(session, baseUrl);
  // The study this tab had open before a re-authorization comes back selected; else the study the EHR launched the
  // app at (a CDS card's appContext, SMART fhirContext: launch-study.ts), else none until the clinician picks one.
  const [selectedId, setSelectedId] = useState<string | null>(
    () => rememberedSelectedStudy(tabStorage()) ?? launch.study?.studyId ?? null,
  );
  const [busy, setBusy] = useState(false);
  const onBusyChange = useCallback((value: boolean) => {
    setBusy(value);
  }, []);
  const onSelect = useCallback((studyId: string) => {
    setSelectedId(studyId);
    rememberSelectedStudy(tabStorage(), studyId);
  }, []);

  useEffect(() => {
    if (!launch.smartStyleUrl) return undefined;
    const controller = new AbortController();
    // A style that cannot be read leaves the app's own look: nothing to tell the clinician.
    applySmartStyle(launch.smartStyleUrl, document.documentElement, { signal: controller.signal }).catch(
      () => undefined,
    );
    return () => {
      controller.abort();
    };
  }, [launch.smartStyleUrl]);

  // Preselect when there is exactly one choice to make obvious; forget a remembered study this patient lacks.
  useEffect(() => {
    if (studies.kind !== 'ready') return;
    if (selectedId !== null && !studies.value.some((study) => study.id === selectedId)) {
      setSelectedId(studies.value.length === 1 ? (studies.value[0]?.id ?? null) : null);
    } else if (selectedId === null && studies.value.length === 1) {
      setSelectedId(studies.value[0]?.id ?? null);
    }
  }, [studies, selectedId]);

  const modelInfo = model.state === 'loaded' ? model.value : undefined;
  const launchStudy = launch.study;
  const launchStudyMissing =
    launchStudy !== undefined &&
    studies.kind === 'ready' &&
    !studies.value.some((study) => study.id === launchStudy.studyId);
  return (
    <div className="app app-panel">
      <SafetyBanner demoModel={modelInfo?.bundled !== false} />
      <header className="app-header">
        <h1 className="app-title">ldh-cds · lumbar disc herniation (MSU)</h1>
      </header>
      {launch.needPatientBanner && patient.kind === 'loading' ? <p className="loading">Loading patient…</p> : null}
      {launch.needPatientBanner && patient.kind === 'error' ? (
        <ErrorBox title="Patient" message={patient.message} />
      ) : null}
      {launch.needPatientBanner && patient.kind === 'ready' ? <PatientBanner patient={patient.value} /> : null}
      <main className="panel">
        {studies.kind === 'loading' ? <p className="loading">Loading MR studies…</p> : null}
        {studies.kind === 'error' ? <ErrorBox title="Studies" message={studies.message} /> : null}
        {launchStudyMissing ? (
          <p className="hint" role="status" data-testid="launch-study-missing">
            The EHR opened ldh-cds at a study that is not among this patient&apos;s MR studies; pick one below.
          </p>
        ) : null}
        {studies.kind === 'ready' ? (
          <StudyList studies={studies.value} selectedId={selectedId} disabled={busy} onSelect={onSelect} />
        ) : null}
        {selectedId !== null && studies.kind === 'ready' && studies.value.some((study) => study.id === selectedId) ? (
          <AnalysisPanel
            key={selectedId}
            ehr={ehr}
            studyId={selectedId}
            baseUrl={baseUrl}
            model={modelInfo}
            analyzeOnOpen={launchStudy?.analyze === true && launchStudy.studyId === selectedId}
            onBusyChange={onBusyChange}
          />
        ) : studies.kind === 'ready' && studies.value.length > 0 ? (
          <p className="hint">Select a study to see or run its analysis.</p>
        ) : null}
      </main>
    </div>
  );
}
