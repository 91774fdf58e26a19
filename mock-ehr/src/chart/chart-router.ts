/**
 * The EHR's chart UI (server-rendered, no scripts): patient list, chart with studies and reports, and the SMART EHR
 * launch link. Rendering a chart registers a fresh launch id bound to {patient, signed-in practitioner}, so the
 * `#launch-ldh-cds` link is a plain href an e2e test can click (SMART App Launch 2.x, "EHR Launch").
 */
import { parseSearchRequest } from '@medplum/core';
import type { DiagnosticReport, HumanName, ImagingStudy, Patient, ServiceRequest } from '@medplum/fhirtypes';
import type { LaunchContext } from '../auth/grant-store';
import type { PatientChoice } from '../auth/standalone-pages';
import type { FhirEngine } from '../fhir/fhir-engine';
import { errorPage } from '../http/errors';
import { buildRouter, type Route } from '../http/route-table';
import { MRN_SYSTEM } from '../seed/build-resources';
import { html, renderPage, type SafeHtml } from './html';

export interface ChartRouterOptions {
  engine: FhirEngine;
  fhirBaseUrl: string;
  appBaseUrl: string;
  practitionerId: string;
  createLaunch: (context: LaunchContext) => string;
  /** The development tools are on (http/dev-tools.ts): every chart page says so. */
  devTools?: boolean;
  /**
   * The CDS services' patient-view cards for a chart being opened (orders-router.ts), or those of the visit the chart
   * is shown again for (`?visit=`, after a card was dismissed); none: the chart calls no service.
   */
  patientViewCards?: (patientId: string, visitId: string | undefined) => Promise<SafeHtml>;
}

export function buildChartRouter(options: ChartRouterOptions) {
  const routes: Route[] = [
    {
      method: 'get',
      path: '/',
      handler: async (_req, res) => {
        res.type('html').send(await renderPatientList(options));
      },
      spec: 'Patient list',
    },
    {
      method: 'get',
      path: '/chart/:patientId',
      handler: async (req, res) => {
        const visit = typeof req.query.visit === 'string' ? req.query.visit : undefined;
        res.type('html').send(await renderChart(options, String(req.params.patientId), visit));
      },
      spec: 'Chart + SMART EHR launch link + patient-view cards (CDS Hooks 2.0)',
    },
    {
      method: 'get',
      path: '/chart/:patientId/embedded',
      handler: async (req, res) => {
        res.type('html').send(await renderEmbedded(options, String(req.params.patientId)));
      },
      spec: 'The app inside the chart (iframe), with its own EHR launch',
    },
  ];
  return buildRouter(routes);
}

async function renderPatientList(options: ChartRouterOptions): Promise<string> {
  const patients = await options.engine.repo.searchResources<Patient>(parseSearchRequest('Patient?_count=1000'));
  patients.sort((a, b) => displayName(a.name).localeCompare(displayName(b.name)));
  const rows = patients.map(
    (patient) =>
      html`<tr>
        <td><a href="/chart/${encodeURIComponent(patient.id)}">${displayName(patient.name)}</a></td>
        <td>${mrnOf(patient)}</td>
        <td>${patient.birthDate}</td>
        <td>${patient.gender}</td>
      </tr>`,
  );
  return renderPage(
    'Patients',
    html`<h1>Patients</h1>
      <table aria-label="Patients">
        <thead>
          <tr>
            <th>Name</th>
            <th>MRN</th>
            <th>Birth date</th>
            <th>Sex</th>
          </tr>
        </thead>
        <tbody>
          ${rows}
        </tbody>
      </table>`,
    { devTools: options.devTools === true },
  );
}

async function renderChart(options: ChartRouterOptions, patientId: string, visitId?: string): Promise<string> {
  const { engine } = options;
  let patient: Patient;
  try {
    patient = await engine.repo.readResource<Patient>('Patient', patientId);
  } catch {
    throw errorPage(404, 'Patient not found', `There is no patient with id "${patientId}" in this EHR.`);
  }
  const subject = `Patient/${patient.id ?? patientId}`;
  const [studies, reports, orders] = await Promise.all([
    engine.repo.searchResources<ImagingStudy>(parseSearchRequest(`ImagingStudy?patient=${subject}`)),
    engine.repo.searchResources<DiagnosticReport>(parseSearchRequest(`DiagnosticReport?subject=${subject}`)),
    engine.repo.searchResources<ServiceRequest>(parseSearchRequest(`ServiceRequest?subject=${subject}`)),
  ]);
  orders.sort((a, b) => (b.authoredOn ?? '').localeCompare(a.authoredOn ?? ''));
  reports.sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''));
  const launchUrl = buildLaunchUrl(options, patientId);
  // CDS Hooks 2.0 patient-view: "the user opens a patient's record", after the patient exists.
  const cards = options.patientViewCards ? await options.patientViewCards(patient.id ?? patientId, visitId) : html``;

  return renderPage(
    displayName(patient.name),
    html`<section class="banner" aria-label="Patient banner">
        <div><span class="label">Patient</span><span class="name">${displayName(patient.name)}</span></div>
        <div><span class="label">MRN</span>${mrnOf(patient)}</div>
        <div><span class="label">Birth date</span>${patient.birthDate}</div>
        <div><span class="label">Sex</span>${patient.gender}</div>
        <div><a id="launch-ldh-cds" class="button" href="${launchUrl.toString()}">Launch ldh-cds</a></div>
        <div>
          <a
            id="launch-ldh-cds-embedded"
            class="button secondary"
            href="/chart/${encodeURIComponent(patientId)}/embedded"
            >Open in the chart</a
          >
        </div>
        <div>
          <a id="new-referral" class="button secondary" href="/chart/${encodeURIComponent(patientId)}/orders/new"
            >New order</a
          >
        </div>
      </section>
      ${cards}
      <h2>Imaging studies</h2>
      ${studies.length === 0 ? html`<p class="muted">No imaging studies.</p>` : studyTable(studies)}
      <h2>Orders</h2>
      ${orders.length === 0 ? html`<p class="muted" id="no-orders">No orders.</p>` : orderTable(orders)}
      <h2>Diagnostic reports</h2>
      ${reports.length === 0 ? html`<p class="muted" id="no-reports">No reports yet. Results written by ldh-cds appear here.</p>` : reportTable(reports)}`,
    { devTools: options.devTools === true },
  );
}

/** SMART EHR launch: a fresh launch id bound to {patient, signed-in practitioner}, and the app's launch URL. */
function buildLaunchUrl(options: ChartRouterOptions, patientId: string): URL {
  const launchId = options.createLaunch({ patientId, practitionerId: options.practitionerId });
  const launchUrl = new URL(`${options.appBaseUrl.replace(/\/$/, '')}/launch.html`);
  launchUrl.searchParams.set('iss', options.fhirBaseUrl);
  launchUrl.searchParams.set('launch', launchId);
  return launchUrl;
}

async function renderEmbedded(options: ChartRouterOptions, patientId: string): Promise<string> {
  let patient: Patient;
  try {
    patient = await options.engine.repo.readResource<Patient>('Patient', patientId);
  } catch {
    throw errorPage(404, 'Patient not found', `There is no patient with id "${patientId}" in this EHR.`);
  }
  return renderPage(
    displayName(patient.name),
    html`<p><a href="/chart/${encodeURIComponent(patientId)}">← ${displayName(patient.name)}</a></p>
      <iframe
        id="ldh-cds-frame"
        title="ldh-cds"
        src="${buildLaunchUrl(options, patientId).toString()}"
        style="width: 100%; height: 80vh; border: 1px solid #d7dee6; background: #fff"
      ></iframe>`,
    { devTools: options.devTools === true },
  );
}

function studyTable(studies: ImagingStudy[]): SafeHtml {
  const rows = studies.map(
    (study) =>
      html`<tr data-imaging-study="${study.id}">
        <td>${study.started?.slice(0, 10)}</td>
        <td>${study.procedureCode?.[0]?.text ?? study.description}</td>
        <td>${(study.modality ?? []).map((m) => m.code).join(', ')}</td>
        <td>${study.numberOfSeries} / ${study.numberOfInstances}</td>
        <td>${study.status}</td>
      </tr>`,
  );
  return html`<table aria-label="Imaging studies">
    <thead>
      <tr>
        <th>Date</th>
        <th>Procedure</th>
        <th>Modality</th>
        <th>Series / images</th>
        <th>Status</th>
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}

function orderTable(orders: ServiceRequest[]): SafeHtml {
  const rows = orders.map(
    (order) =>
      html`<tr data-service-request="${order.id}">
        <td>${order.authoredOn?.slice(0, 16).replace('T', ' ')}</td>
        <td>
          ${
            order.status === 'draft'
              ? html`<a href="/orders/${encodeURIComponent(order.id ?? '')}">${order.code?.text}</a>`
              : order.code?.text
          }
        </td>
        <td><span class="status status-${order.status}">${order.status}</span></td>
      </tr>`,
  );
  return html`<table aria-label="Orders">
    <thead>
      <tr>
        <th>Authored</th>
        <th>Order</th>
        <th>Status</th>
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}

function reportTable(reports: DiagnosticReport[]): SafeHtml {
  const rows = reports.map(
    (report) =>
      html`<tr data-diagnostic-report="${report.id}">
        <td>
          ${(report.issued ?? report.effectiveDateTime ?? report.meta?.lastUpdated ?? '').slice(0, 16).replace('T', ' ')}
        </td>
        <td>${report.code.text ?? report.code.coding?.[0]?.display}</td>
        <td><span class="status status-${report.status}">${report.status}</span></td>
        <td><pre class="conclusion">${report.conclusion}</pre></td>
      </tr>`,
  );
  return html`<table aria-label="Diagnostic reports">
    <thead>
      <tr>
        <th>Issued</th>
        <th>Report</th>
        <th>Status</th>
        <th>Conclusion</th>
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}

function displayName(names: HumanName[] | undefined): string {
  const name = names?.[0];
  if (!name) return '(no name)';
  return name.text ?? [...(name.given ?? []), name.family ?? ''].join(' ').trim();
}

function mrnOf(patient: Patient): string {
  return patient.identifier?.find((id) => id.system === MRN_SYSTEM)?.value ?? '';
}

/** Every patient as the standalone patient picker and DICOMweb access need them (id, name, MRN). */
export async function listPatientChoices(engine: FhirEngine): Promise<PatientChoice[]> {
  const patients = await engine.repo.searchResources<Patient>(parseSearchRequest('Patient?_count=1000'));
  return patients
    .map((patient) => ({
      id: patient.id,
      name: displayName(patient.name),
      birthDate: patient.birthDate,
      mrn: mrnOf(patient),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
