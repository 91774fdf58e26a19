/**
 * `/faults`: the fault injection switches as a page (checkboxes) and as an API (`POST /faults` with JSON or a
 * form). Sandbox only — there is no authentication, like the SMART launcher's simulated errors — so it is mounted
 * behind `requireDevTools` (http/dev-tools.ts): 403 unless the EHR was started with MOCK_EHR_DEV_TOOLS=true.
 */
import express from 'express';
import { updateFaults, type FaultSwitches } from '../http/faults';
import { buildRouter, type Route } from '../http/route-table';
import { html, renderPage } from './html';

export function buildFaultsRouter(faults: FaultSwitches) {
  const body = [express.urlencoded({ extended: false, limit: '4kb' }), express.json({ limit: '4kb' })];
  const routes: Route[] = [
    {
      method: 'get',
      path: '/',
      handler: (req, res) => {
        if (req.accepts(['html', 'json']) === 'json') res.json(faults);
        else res.type('html').send(renderFaults(faults));
      },
      spec: 'Current fault switches (HTML or JSON)',
    },
    {
      method: 'post',
      path: '/',
      before: body,
      handler: (req, res) => {
        const update = { ...(req.body as Record<string, unknown>) };
        // An HTML form omits unchecked boxes: from the page, absent means off.
        if (update.form !== undefined) {
          update.expiredToken ??= 'false';
          update.fhirUnavailable ??= 'false';
        }
        updateFaults(faults, update);
        if (req.is('application/json')) res.json(faults);
        else res.redirect(303, '/faults');
      },
      spec: 'Change fault switches',
    },
  ];
  return buildRouter(routes);
}

function renderFaults(faults: FaultSwitches): string {
  const checked = (on: boolean) => (on ? html`checked` : html``);
  return renderPage(
    'Fault injection',
    html`<h1>Fault injection</h1>
      <form method="post" action="/faults" class="stack">
        <input type="hidden" name="form" value="1" />
        <label
          ><input type="checkbox" name="expiredToken" value="true" ${checked(faults.expiredToken)} /> Every access token
          is expired (FHIR and DICOMweb answer 401 invalid_token)</label
        >
        <label
          ><input type="checkbox" name="fhirUnavailable" value="true" ${checked(faults.fhirUnavailable)} /> FHIR answers
          503 (OperationOutcome, Retry-After)</label
        >
        <label
          >DICOMweb delay (ms)
          <input name="dicomWebDelayMs" type="number" min="0" max="120000" value="${faults.dicomWebDelayMs}"
        /></label>
        <button class="button" type="submit">Apply</button>
      </form>`,
    { devTools: true },
  );
}
