import FHIR from 'fhirclient';
import { searchToLaunchParams } from './launch-params';
import { SMART_CLIENT_ID, SMART_SCOPE } from './smart-scope';
import './styles.css';

function showError(message: string): void {
  const status = document.getElementById('launch-status');
  if (!status) return;
  status.textContent = message;
  status.className = 'launch-error';
  status.setAttribute('role', 'alert');
}

async function launch(): Promise<void> {
  const params = searchToLaunchParams(window.location.search);
  if (!params.ok) {
    showError(params.message);
    return;
  }
  // fhirclient reads `iss` and `launch` from the URL itself, discovers the authorization server via
  // `.well-known/smart-configuration` and redirects; PKCE S256 is required (docs/fhir-mapping.md §SMART scopes).
  await FHIR.oauth2.authorize({
    clientId: SMART_CLIENT_ID,
    scope: SMART_SCOPE,
    redirectUri: 'index.html',
    pkceMode: 'required',
  });
}

launch().catch((error: unknown) => {
  const detail = error instanceof Error ? error.message : String(error);
  showError(`Could not connect to the EHR's authorization server: ${detail}`);
});
