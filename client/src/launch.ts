import FHIR from 'fhirclient';
import { searchToLaunchParams } from './launch-params';
import { rememberLaunchUrl } from './session-storage';
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
  // Kept for "Re-authorize": when the token expires mid-review the panel re-runs this launch in the same tab
  // (the EHR's launch id stays valid for a while; otherwise the panel asks for a relaunch from the chart).
  rememberLaunchUrl(window.sessionStorage, window.location.href);
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
