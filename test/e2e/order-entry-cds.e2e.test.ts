/**
 * Issue 6's end-to-end path through a real browser: the clinician enters a spine referral in the mock EHR, the EHR
 * calls the app server's CDS Hooks service (order-select, ES384 JWT trusted through the EHR's published JWKS,
 * prefetch), the card is rendered, and its SMART link opens ldh-cds in that patient's context.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr } from '../../mock-ehr/src/app';
import { startAppServer } from '../../server/src/app';
import { loadConfig } from '../../server/src/config';
import { findFreePort } from '../support/free-port';

let browser: Browser;
let ehr: Awaited<ReturnType<typeof startMockEhr>>;
let app: Awaited<ReturnType<typeof startAppServer>>;
let dataDir: string;

beforeAll(async () => {
  const [ehrPort, appPort] = [await findFreePort(), await findFreePort()];
  const ehrBaseUrl = `http://localhost:${ehrPort}`;
  const appBaseUrl = `http://localhost:${appPort}`;
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-e2e-cds-'));
  const logger = pino({ level: 'warn' });
  ehr = await startMockEhr({ port: ehrPort, publicBaseUrl: ehrBaseUrl, appBaseUrl, dataDir, logger, patientCount: 2 });
  // The app trusts exactly this EHR as a CDS client, by the JWKS the EHR publishes (CDS Hooks §Trusting CDS Clients).
  const cdsClientsFile = path.join(dataDir, 'cds-clients.json');
  await writeFile(cdsClientsFile, JSON.stringify({ clients: [{ iss: ehr.url, jwks_uri: ehr.cdsJwksUrl }] }));
  app = await startAppServer(
    loadConfig({
      APP_PORT: String(appPort),
      APP_BASE_URL: appBaseUrl,
      FHIR_BASE_URLS: ehr.fhirBaseUrl,
      CDS_CLIENTS_FILE: cdsClientsFile,
    }),
    { logger },
  );
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
});

afterAll(async () => {
  await browser.close();
  await app.close();
  await ehr.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('when a clinician enters a spine referral in the EHR', () => {
  it('then the ldh-cds card is rendered and its SMART link opens the app for that patient', async () => {
    const second = ehr.seed.patients[1];
    expect(second).toBeDefined();
    const patient = await ehr.repo.readResource<Patient>('Patient', second?.patientId ?? '');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${ehr.url}/chart/${patient.id}`);
    await page.locator('#new-referral').click();
    await page.getByLabel('Referral to neurosurgeon').check();
    await page.locator('#select-order').click();

    const card = page.locator('.cds-card').first();
    await card.waitFor({ timeout: 15_000 });
    expect(await page.locator('.card-error').count()).toBe(0);
    expect(await card.getAttribute('data-service')).toBe('ldh-cds-order-select');
    expect(await card.locator('.cds-summary').textContent()).toMatch(/ldh-cds|MSU/);
    expect(await card.locator('.cds-source').textContent()).toContain('not for clinical use');

    const smartLink = card.locator('a.cds-link-smart').first();
    const [appPage] = await Promise.all([page.context().waitForEvent('page'), smartLink.click()]);
    await appPage.waitForURL(/\/index\.html/, { timeout: 20_000 });
    const banner = appPage.getByTestId('patient-banner');
    await expect.poll(() => banner.textContent(), { timeout: 15_000 }).toContain(patient.name?.[0]?.given?.[0] ?? '?');
    expect(await banner.textContent()).not.toContain(ehr.seed.patients[0]?.mrn ?? '?');
  });
});
