/**
 * Issues 6 and 24 end to end through a real browser: the clinician enters a spine referral in the mock EHR, the EHR
 * calls the app server's CDS Hooks service (order-select, ES384 JWT trusted through the EHR's published JWKS,
 * prefetch), and the card says the lumbar MRI has not been analyzed; its SMART link opens ldh-cds in that patient's
 * context at that study and analyzes it (cds-app-link.e2e.test.ts: the study a card opens when the patient has two);
 * after that, the next referral's card carries the stored findings with
 * their table. Accepting its suggestion attaches the report to the draft order (shown with the order); dismissing
 * the next one asks for a reason; both are sent as feedback, which the service stores and counts. A physiotherapy
 * referral gets no card; a lumbar MRI order is told the recent MRI was already analyzed; the chart, opened after the
 * analysis, shows the patient-view card. Writes
 * docs/cds-card-screenshot.png.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImagingStudy, Patient } from '@medplum/fhirtypes';
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

/** From the patient's chart: New order → the order (default: Referral to neurosurgeon) → Select order. */
async function selectOrder(page: Page, patientId: string, order = 'Referral to neurosurgeon'): Promise<void> {
  await page.goto(`${sandbox.ehr.url}/chart/${patientId}`);
  await page.locator('#new-referral').click();
  await page.getByLabel(order).check();
  await page.locator('#select-order').click();
  await page.getByRole('heading', { name: /^Decision support/ }).waitFor({ timeout: 15_000 });
}

/** A spine referral, and the first card shown. */
async function selectSpineReferral(page: Page, patientId: string): Promise<Locator> {
  await selectOrder(page, patientId);
  const card = page.locator('.cds-card').first();
  await card.waitFor({ timeout: 15_000 });
  return card;
}

interface FeedbackSummary {
  counts: { kind: string; accepted: number; overridden: number; overrideReasons: Record<string, number> }[];
}

describe('when a clinician enters a spine referral in the EHR', () => {
  it('then the ldh-cds card is rendered, its SMART link opens the app for that patient, and once analyzed the card shows the findings', async () => {
    // Not the first patient (the app must open in this one's context), and one whose study shows a herniation
    // (generator seed 1002: L5-S1), so the card after the analysis is worth a picture.
    const third = sandbox.ehr.seed.patients[2];
    expect(third).toBeDefined();
    const patient = await sandbox.ehr.repo.readResource<Patient>('Patient', third?.patientId ?? '');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${sandbox.ehr.url}/chart/${patient.id ?? ''}`);
    // Nothing analyzed: the chart's patient-view call has nothing to say, and the chart shows no card.
    expect(await page.locator('.cds-card, .card-error').count()).toBe(0);
    const card = await selectSpineReferral(page, patient.id ?? '');
    expect(await page.locator('.card-error').count()).toBe(0);
    expect(await card.getAttribute('data-service')).toBe('ldh-cds-order-select');
    // Nothing analyzed yet: the card says so and opens the app at that study.
    expect(await card.locator('.cds-summary').textContent()).toMatch(
      /^The lumbar MRI of \d{4}-\d\d-\d\d has not been analyzed/,
    );
    expect(await card.getAttribute('data-indicator')).toBe('info');
    expect(await card.locator('.cds-source').textContent()).toContain('not for clinical use');

    const smartLink = card.locator('a.cds-link-smart').first();
    const [appPage] = await Promise.all([page.context().waitForEvent('page'), smartLink.click()]);
    await appPage.waitForURL(/\/index\.html/, { timeout: 20_000 });
    const banner = appPage.getByTestId('patient-banner');
    await expect.poll(() => banner.textContent(), { timeout: 15_000 }).toContain(patient.name?.[0]?.given?.[0] ?? '?');
    expect(await banner.textContent()).not.toContain(sandbox.ehr.seed.patients[0]?.mrn ?? '?');

    // The card's link asked to analyze the study (its appContext): the app analyzes it without another click, and
    // the referral entered again carries the findings.
    const rows = appPage.getByTestId('findings-table').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(5);
    await appPage.close();
    // The chart opened again: its patient-view card has the findings too (none was shown before the analysis).
    await page.goto(`${sandbox.ehr.url}/chart/${patient.id ?? ''}`);
    const chartCard = page.locator('.cds-card[data-service="ldh-cds-patient-view"]');
    expect(await chartCard.locator('.cds-summary').textContent()).toMatch(/^AI \(preliminary\): L5-S1 MSU \d-/);
    expect(await chartCard.locator('.cds-suggestion').count()).toBe(0);
    const findingsCard = await selectSpineReferral(page, patient.id ?? '');
    expect(await findingsCard.locator('.cds-summary').textContent()).toMatch(/^AI \(preliminary\): L5-S1 MSU \d-/);
    // The per-level table of the detail, rendered as a table (GFM).
    expect(await findingsCard.locator('.cds-detail table tbody tr').count()).toBe(5);
    expect(await findingsCard.locator('.cds-source a').getAttribute('href')).toBe(
      `${sandbox.appBaseUrl}/api/model/card`,
    );

    // The README's picture of the card in the EHR's order entry, taken as the panel's is (launch-analyze.e2e.test.ts).
    await mkdir(path.join(repoRoot, 'docs'), { recursive: true });
    await page.screenshot({ path: path.join(repoRoot, 'docs/cds-card-screenshot.png'), fullPage: true });

    // Accepting the suggestion attaches the report to the draft order, shown with the order.
    await findingsCard.getByRole('button', { name: 'Attach the lumbar MRI analysis to the order' }).click();
    const supporting = page.locator('#order-supporting-info');
    await supporting.waitFor();
    expect(await supporting.textContent()).toMatch(/AI analysis of the lumbar MRI of .* \(DiagnosticReport\/[^)]+\)/);
    expect(await page.locator('.cds-card .cds-outcome').textContent()).toContain('Accepted');

    // The next referral's card is dismissed: the EHR asks why first.
    const secondCard = await selectSpineReferral(page, patient.id ?? '');
    await secondCard.getByText('Dismiss…').click();
    await secondCard.getByLabel('Disagree with the finding').check();
    await secondCard.getByLabel('Comment (optional)').fill('Reviewed the images with radiology.');
    await secondCard.getByRole('button', { name: 'Dismiss card' }).click();
    await expect
      .poll(() => page.locator('.cds-card .cds-outcome').textContent())
      .toBe('Dismissed: Disagree with the finding — Reviewed the images with radiology.');

    // Both decisions reached the service, stored and counted (the not-analyzed card got none).
    const summary = (await (await fetch(`${sandbox.app.url}/cds-services/feedback/summary`)).json()) as FeedbackSummary;
    expect(summary.counts).toEqual([
      expect.objectContaining({
        kind: 'findings',
        accepted: 1,
        overridden: 1,
        overrideReasons: { 'disagree-with-finding': 1 },
      }),
    ]);

    // A physiotherapy referral: no card. A lumbar MRI order: told of the analyzed MRI when it is under a year old
    // (smart-config/cds-referral-codes.json recentLumbarMriDays), else no card.
    await selectOrder(page, patient.id ?? '', 'Referral to physiotherapist');
    await page.locator('#no-cards').waitFor();
    await selectOrder(page, patient.id ?? '', 'MRI lumbar spine without contrast');
    const study = await sandbox.ehr.repo.readResource<ImagingStudy>('ImagingStudy', third?.imagingStudyId ?? '');
    const recent = Date.now() - Date.parse(study.started ?? '') <= 365 * 24 * 60 * 60 * 1000;
    if (recent)
      expect(await page.locator('.cds-card .cds-summary').textContent()).toMatch(
        /^Lumbar MRI of \d{4}-\d\d-\d\d already analyzed — AI \(preliminary\): /,
      );
    else await page.locator('#no-cards').waitFor();
  }, 90_000); // an analysis and five order entries: more than the 30 s default on a busy 2-core machine
});
