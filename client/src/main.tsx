import FHIR from 'fhirclient';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { SessionLost } from './components/SessionLost';
import { clientToEhr } from './ehr';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');
const root = createRoot(container);

// Completes the SMART authorization (code → token, state checked by fhirclient). Fails when the
// page is opened directly, reloaded after the session storage was cleared, or the code was reused.
FHIR.oauth2.ready().then(
  (client) => {
    root.render(
      <StrictMode>
        <App ehr={clientToEhr(client)} baseUrl={window.location.href} />
      </StrictMode>,
    );
  },
  (error: unknown) => {
    root.render(<SessionLost detail={error instanceof Error ? error.message : String(error)} />);
  },
);
