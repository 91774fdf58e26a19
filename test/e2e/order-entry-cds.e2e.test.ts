/**
 * Issue 6's end-to-end path through a real browser: the clinician enters a spine referral in the mock EHR, the EHR
 * calls the app server's CDS Hooks service (order-select, ES384 JWT trusted through the EHR's published JWKS,
 * prefetch), the card is rendered, and its SMART link opens ldh-cds in that patient's context.
 */
import type { Patient } from '@medplum/fhirtypes';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, startSandbox, type Sandbox } from '../support/sandbox';

let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  // The app trusts exactly this EHR as a CDS client, by the JWKS the EHR publishes (CDS Hooks §Trusting CDS Clients).
  sandbox = await startSandbox({ patientCount: 2, cdsClients: 'ehr' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

describe('when a clinician enters a spine referral in the EHR', () => {
  it('then the ldh-cds card is rendered and its SMART link opens the app for that patient', async () => {
    const second = sandbox.ehr.seed.patients[1];
    expect(second).toBeDefined();
    const patient = await sandbox.ehr.repo.readResource<Patient>('Patient', second?.patientId ?? '');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${sandbox.ehr.url}/chart/${patient.id}`);
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
    expect(await banner.textContent()).not.toContain(sandbox.ehr.seed.patients[0]?.mrn ?? '?');
  });
});
