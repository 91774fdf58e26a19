/**
 * The pages of a standalone launch (SMART App Launch 2.x "Standalone Launch"): sign in, pick a patient when the
 * app asked for `launch/patient`, then consent to the scopes. Server-rendered forms, no scripts; the pending
 * authorization's id travels as a hidden field.
 */
import { html, renderPage } from '../chart/html';

/**
 * The one demo user of the sandbox (synthetic data only; shown on the login page). A development tool: the login
 * answers 403 unless the EHR runs with MOCK_EHR_DEV_TOOLS=true (http/dev-tools.ts).
 */
export const DEMO_USER = { username: 'clinician', password: 'synthetic' } as const;

export interface PatientChoice {
  id: string;
  name: string;
  birthDate: string | undefined;
  mrn: string;
}

export function renderLogin(requestId: string, clientName: string, failed: boolean): string {
  return renderPage(
    'Sign in',
    html`<h1>Sign in to authorize ${clientName}</h1>
      ${failed ? html`<p class="error" role="alert">Unknown user name or wrong password.</p>` : html``}
      <form method="post" action="/oauth/login" class="stack">
        <input type="hidden" name="request" value="${requestId}" />
        <label>User name <input name="username" autocomplete="username" required /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <button class="button" type="submit" id="login">Sign in</button>
      </form>
      <p class="muted">Demo account: <code>${DEMO_USER.username}</code> / <code>${DEMO_USER.password}</code></p>`,
    // Served only while the development tools are on (oauth-router.ts).
    { devTools: true },
  );
}

export function renderPatientPicker(requestId: string, clientName: string, patients: PatientChoice[]): string {
  const rows = patients.map(
    (patient) =>
      html`<tr>
        <td><input type="radio" name="patient" value="${patient.id}" id="patient-${patient.id}" required /></td>
        <td><label for="patient-${patient.id}">${patient.name}</label></td>
        <td>${patient.mrn}</td>
        <td>${patient.birthDate}</td>
      </tr>`,
  );
  return renderPage(
    'Select a patient',
    html`<h1>Select the patient for ${clientName}</h1>
      <form method="post" action="/oauth/select-patient">
        <input type="hidden" name="request" value="${requestId}" />
        <table aria-label="Patients">
          <thead>
            <tr>
              <th></th>
              <th>Name</th>
              <th>MRN</th>
              <th>Birth date</th>
            </tr>
          </thead>
          <tbody>
            ${rows}
          </tbody>
        </table>
        <p><button class="button" type="submit" id="select-patient">Continue</button></p>
      </form>`,
  );
}

export function renderConsent(
  requestId: string,
  clientName: string,
  scopes: string[],
  patientName: string | undefined,
): string {
  return renderPage(
    'Authorize',
    html`<h1>${clientName} asks for access</h1>
      ${patientName === undefined ? html`` : html`<p>Patient: <strong>${patientName}</strong></p>`}
      <ul class="scopes">
        ${scopes.map((scope) => html`<li><code>${scope}</code></li>`)}
      </ul>
      <form method="post" action="/oauth/consent">
        <input type="hidden" name="request" value="${requestId}" />
        <button class="button" type="submit" name="decision" value="allow" id="allow">Allow</button>
        <button class="button secondary" type="submit" name="decision" value="deny" id="deny">Deny</button>
      </form>`,
  );
}
