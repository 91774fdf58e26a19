/**
 * Issue 6's end-to-end path through a real browser: the clinician enters a spine referral in the mock EHR, the EHR
 * calls the app server's CDS Hooks service (order-select, ES384 JWT trusted through the EHR's published JWKS,
 * prefetch), the card is rendered, and its SMART link opens ldh-cds in that patient's context; after the clinician
 * analyzes the study there, the next referral's card carries the stored findings. Writes docs/cds-card-screenshot.png.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Patient } from '@medplum/fhirtypes';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  // The app trusts exactly this EHR as a CDS client, by the JWKS the EHR publishes (CDS Hooks §Trusting CDS Clients).
  sandbox = await startSandbox({ patientCount: 3, cdsClients: 'ehr' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

/** From the patient's chart: New spine referral → Referral to neurosurgeon → Select order; the first card shown. */
async function selectSpineReferral(page: Page, patientId: string): Promise<Locator> {
  await page.goto(`${sandbox.ehr.url}/chart/${patientId}`);
  await page.locator('#new-referral').click();
  await page.getByLabel('Referral to neurosurgeon').check();
  await page.locator('#select-order').click();
  const card = page.locator('.cds-card').first();
  await card.waitFor({ timeout: 15_000 });
  return card;
}

describe('when a clinician enters a spine referral in the EHR', () => {
  it('then the ldh-cds card is rendered, its SMART link opens the app for that patient, and once analyzed the card shows the findings', async () => {
    // Not the first patient (the app must open in this one's context), and one whose study shows a herniation
    // (generator seed 1002: L5-S1), so the card after the analysis is worth a picture.
    const third = sandbox.ehr.seed.patients[2];
    expect(third).toBeDefined();
    const patient = await sandbox.ehr.repo.readResource<Patient>('Patient', third?.patientId ?? '');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const card = await selectSpineReferral(page, patient.id ?? '');
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

    // The clinician analyzes the study in the app and enters the referral again: the card now carries the findings.
    await appPage.getByTestId('analyze-button').click();
    const rows = appPage.getByTestId('findings-table').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(5);
    await appPage.close();
    const findingsCard = await selectSpineReferral(page, patient.id ?? '');
    expect(await findingsCard.locator('.cds-summary').textContent()).toMatch(/^AI \(preliminary\): /);

    // The README's picture of the card in the EHR's order entry, taken as the panel's is (launch-analyze.e2e.test.ts).
    await mkdir(path.join(repoRoot, 'docs'), { recursive: true });
    await page.screenshot({ path: path.join(repoRoot, 'docs/cds-card-screenshot.png'), fullPage: true });
  }, 60_000); // an analysis and two order entries: more than the 30 s default on a busy 2-core machine
});
