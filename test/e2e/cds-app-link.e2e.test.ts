/**
 * Issue 24 end to end through a real browser: a CDS card's SMART link opens ldh-cds at the study the card speaks of.
 * The patient has two lumbar MRIs — an older one analyzed, and a follow-up from today, never analyzed, which the app
 * lists first — so a spine referral gets two cards. The findings card's link ("Open ldh-cds at this study") opens the
 * app with the older study selected and its stored findings shown, not the newer study the list starts with; the other
 * card's link ("Open ldh-cds to analyze this study") opens the app at the follow-up and analyzes it without another
 * click. The study travels as the card's `appContext`: the mock EHR keeps it with the launch, its authorization
 * server returns it in the token response, and the app reads it (client/src/launch-study.ts).
 */
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addLumbarMri } from '../support/lumbar-mri';
import { appTokenFor, launchChromium, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ patientCount: 2, cdsClients: 'ehr' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

/** From the patient's chart: New order → Referral to neurosurgeon → Select order; the cards shown. */
async function referralCards(page: Page, patientId: string): Promise<Locator> {
  await page.goto(`${sandbox.ehr.url}/chart/${patientId}`);
  await page.locator('#new-referral').click();
  await page.getByLabel('Referral to neurosurgeon').check();
  await page.locator('#select-order').click();
  await page.getByRole('heading', { name: /^Decision support/ }).waitFor({ timeout: 15_000 });
  const cards = page.locator('.cds-card');
  await cards.first().waitFor({ timeout: 15_000 });
  return cards;
}

/** Follows the card's SMART link; the app's page once it shows the patient's studies. */
async function openAppFrom(page: Page, card: Locator): Promise<Page> {
  const [appPage] = await Promise.all([
    page.context().waitForEvent('page'),
    card.locator('a.cds-link-smart').first().click(),
  ]);
  await appPage.waitForURL(/\/index\.html/, { timeout: 20_000 });
  await appPage.getByTestId('study-list').locator('input[type="radio"]').first().waitFor({ timeout: 20_000 });
  return appPage;
}

const radios = (appPage: Page): Locator => appPage.getByTestId('study-list').locator('input[type="radio"]');

describe('when a card’s SMART link is followed for a patient with two lumbar MRIs', () => {
  it('then the app opens at the card’s study: the findings card’s at the analyzed one with its findings, the other card’s at the new one, analyzing it', async () => {
    const patient = seededPatient(sandbox, 1);
    const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    const followUp = await addLumbarMri(sandbox, 1, { seed: 1101, studyDate: today });

    // The seeded (older) MRI is analyzed, as the app would ask for it.
    const token = await appTokenFor(sandbox, patient.patientId);
    const analysis = await fetch(`${sandbox.appBaseUrl}/api/analyses`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
        'Content-Type': 'application/json',
        Prefer: 'wait=120',
      },
      body: JSON.stringify({ imagingStudy: `ImagingStudy/${patient.imagingStudyId}` }),
    });
    expect([200, 201], await analysis.clone().text()).toContain(analysis.status);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const cards = await referralCards(page, patient.patientId);
    const findingsCard = cards.filter({ has: page.locator('.cds-summary', { hasText: /^AI \(preliminary\): / }) });
    const newStudyCard = cards.filter({ has: page.locator('.cds-summary', { hasText: /has not been analyzed/ }) });
    expect(await findingsCard.count()).toBe(1);
    expect(await newStudyCard.count()).toBe(1);

    // The findings card: the analyzed study is selected — not the follow-up, which the list shows first — and its
    // stored findings are on screen without a click.
    const atFindings = await openAppFrom(page, findingsCard);
    expect(await radios(atFindings).first().getAttribute('value')).toBe(followUp.imagingStudyId);
    await expect
      .poll(() => atFindings.getByTestId('study-list').locator('input:checked').getAttribute('value'))
      .toBe(patient.imagingStudyId);
    const storedRows = atFindings.getByTestId('findings-table').locator('tbody tr');
    await expect.poll(() => storedRows.count(), { timeout: 20_000 }).toBe(5);
    await atFindings.close();

    // The not-analyzed card: the follow-up is selected and its analysis starts by itself (no Analyze click).
    const atNewStudy = await openAppFrom(page, newStudyCard);
    await expect
      .poll(() => atNewStudy.getByTestId('study-list').locator('input:checked').getAttribute('value'))
      .toBe(followUp.imagingStudyId);
    const newRows = atNewStudy.getByTestId('findings-table').locator('tbody tr');
    await expect.poll(() => newRows.count(), { timeout: 90_000 }).toBe(5);
    await atNewStudy.close();

    // The analysis was of the follow-up: the next referral's card shows its findings, and no study is left unanalyzed.
    const after = await referralCards(page, patient.patientId);
    expect(await after.count()).toBe(1);
    expect(await after.first().locator('.cds-summary').textContent()).toMatch(/^AI \(preliminary\): /);
    expect(await after.first().locator('.cds-detail').textContent()).toContain(
      `Lumbar MRI of ${followUp.started.slice(0, 10)}`,
    );
  }, 180_000); // two analyses on a busy 2-core machine
});
