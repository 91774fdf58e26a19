import { useCallback, useEffect, useState } from 'react';
import { mrStudySummaries, patientToSummary, type PatientSummary, type StudySummary } from '../chart';
import type { Ehr } from '../ehr';
import { errorToMessage, isAbort } from '../error-message';
import { AnalysisPanel } from './AnalysisPanel';
import { ErrorBox } from './ErrorBox';
import { PatientBanner } from './PatientBanner';
import { SafetyBanner } from './SafetyBanner';
import { StudyList } from './StudyList';

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

/** The CDS panel: safety banner, patient, MR studies, analysis of the selected study. */
export function App({ ehr, baseUrl }: { ehr: Ehr; baseUrl: string }) {
  const patient = useLoad(ehr, loadPatient, "read the patient's record");
  const studies = useLoad(ehr, loadStudies, "load the patient's MR studies");
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const onBusyChange = useCallback((value: boolean) => {
    setBusy(value);
  }, []);

  // Preselect the newest study when there is exactly one choice to make obvious.
  useEffect(() => {
    if (studies.kind === 'ready' && selectedId === null && studies.value.length === 1) {
      setSelectedId(studies.value[0]?.id ?? null);
    }
  }, [studies, selectedId]);

  return (
    <div className="app">
      <SafetyBanner />
      <header className="app-header">
        <h1 className="app-title">ldh-cds · lumbar disc herniation (MSU)</h1>
      </header>
      {patient.kind === 'loading' ? <p className="loading">Loading patient…</p> : null}
      {patient.kind === 'error' ? <ErrorBox title="Patient" message={patient.message} /> : null}
      {patient.kind === 'ready' ? <PatientBanner patient={patient.value} /> : null}
      <main className="panel">
        {studies.kind === 'loading' ? <p className="loading">Loading MR studies…</p> : null}
        {studies.kind === 'error' ? <ErrorBox title="Studies" message={studies.message} /> : null}
        {studies.kind === 'ready' ? (
          <StudyList studies={studies.value} selectedId={selectedId} disabled={busy} onSelect={setSelectedId} />
        ) : null}
        {selectedId !== null ? (
          <AnalysisPanel
            key={selectedId}
            ehr={ehr}
            studyId={selectedId}
            baseUrl={baseUrl}
            onBusyChange={onBusyChange}
          />
        ) : studies.kind === 'ready' && studies.value.length > 0 ? (
          <p className="hint">Select a study to see or run its analysis.</p>
        ) : null}
      </main>
    </div>
  );
}
