import { SESSION_LOST_MESSAGE } from '../smart-scope';
import { ErrorBox } from './ErrorBox';
import { SafetyBanner } from './SafetyBanner';

/** Shown instead of the panel when `FHIR.oauth2.ready()` fails. */
export function SessionLost({ detail }: { detail: string }) {
  return (
    <div className="app">
      <SafetyBanner />
      <main className="panel">
        <ErrorBox title="Cannot open ldh-cds" message={SESSION_LOST_MESSAGE} />
        {detail ? <p className="detail">Details: {detail}</p> : null}
      </main>
    </div>
  );
}
