/**
 * An analysis as a job, through a real browser (issue 23): EHR chart → SMART launch → Analyze on a study the mock EHR's
 * PACS serves slowly (its fault injection, `faults.dicomWebDelayMs`, as /faults sets it) → a progress bar with the
 * server's stage text ("Retrieving images n/N") that advances, axe-clean → Cancel ("Cancelling…", then the cancelled
 * state; the EHR holds no DiagnosticReport) → Analyze again → the page reloaded mid-job → the bar reconnects to the
 * same job and the findings appear, one report in the EHR. Takes docs/analysis-progress-screenshot.png.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DiagnosticReport } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriousViolations } from '../support/axe';
import { launchChromium, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Each DICOMweb answer this late: the 29 images of the seeded study take about 15 s to retrieve. */
const PACS_DELAY_MS = 500;

let browser: Browser;
let sandbox: Sandbox;
let page: Page;

beforeAll(async () => {
  sandbox = await startSandbox({ patientCount: 1 });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

const patient = () => seededPatient(sandbox, 0);
const studyReference = () => `ImagingStudy/${patient().imagingStudyId}`;

/** The DiagnosticReports the EHR holds for the study. */
async function reportsOfStudy(): Promise<DiagnosticReport[]> {
  const reports = await sandbox.ehr.repo.searchResources<DiagnosticReport>({
    resourceType: 'DiagnosticReport',
    count: 1000,
  });
  return reports.filter((report) => report.imagingStudy?.some((ref) => ref.reference === studyReference()));
}

/** What the panel keeps in the tab for the study's running job (its id only). */
function rememberedJob(): Promise<string | null> {
  return page.evaluate(
    (key) => sessionStorage.getItem(key),
    `ldh-cds:analysis-job:${sandbox.ehr.fhirBaseUrl}|${studyReference()}`,
  );
}

/** The SMART access token fhirclient keeps in sessionStorage after the launch. */
function accessToken(): Promise<string> {
  return page.evaluate(() => {
    const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
    const state = JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { access_token?: string } };
    return state.tokenResponse?.access_token ?? '';
  });
}

const progressText = () => page.getByTestId('analysis-progress-text').textContent();
const progressBar = () => page.getByRole('progressbar', { name: 'Analysis in progress' });

/** The count of "Retrieving images n/N" once the stage text says so. */
async function retrievedCount(): Promise<{ done: number; total: number }> {
  const seen: { done: number; total: number } = { done: 0, total: 0 };
  await expect
    .poll(
      async () => {
        const match = /^Retrieving images (\d+)\/(\d+)$/.exec((await progressText().catch(() => '')) ?? '');
        seen.done = Number(match?.[1] ?? 0);
        seen.total = Number(match?.[2] ?? 0);
        return seen.done > 0;
      },
      { timeout: 30_000, interval: 100 },
    )
    .toBe(true);
  return seen;
}

describe('when a clinician analyzes a study whose images arrive slowly', () => {
  it('then a progress bar shows the server’s stage text as it advances, with Cancel, and passes axe', async () => {
    await page.goto(`${sandbox.ehr.url}/chart/${encodeURIComponent(patient().patientId)}`);
    await page.locator('#launch-ldh-cds').click();
    await page.waitForURL(/\/index\.html/, { timeout: 20_000 });
    await expect.poll(() => page.getByTestId('analysis-status').textContent()).toBe('Not analyzed yet.');

    sandbox.ehr.faults.dicomWebDelayMs = PACS_DELAY_MS;
    await page.getByTestId('analyze-button').click();
    await expect.poll(() => page.getByTestId('analyze-button').textContent()).toBe('Analyzing…');
    const first = await retrievedCount();
    expect(first.total).toBeGreaterThan(first.done);
    const firstValue = Number(await progressBar().getAttribute('value'));
    expect(await progressBar().getAttribute('aria-valuetext')).toMatch(/^Retrieving images \d+\/\d+$/);

    // The stage text advances, and the bar with it.
    await expect
      .poll(async () => (await retrievedCount()).done, { timeout: 30_000, interval: 200 })
      .toBeGreaterThan(first.done);
    const later = await retrievedCount();
    await expect.poll(async () => Number(await progressBar().getAttribute('value'))).toBeGreaterThan(firstValue);
    expect(await progressBar().getAttribute('aria-valuetext')).toMatch(/^Retrieving images \d+\/\d+$/);
    expect(later.total).toBe(first.total);

    // The labelling stays exactly as before: the safety banner above everything.
    expect(await page.getByTestId('safety-banner').textContent()).toMatch(
      /AI output is preliminary until a clinician confirms it · not for clinical use — synthetic-trained demo model/,
    );
    expect(await page.getByTestId('cancel-analysis-button').isEnabled()).toBe(true);
    expect(await seriousViolations(page)).toEqual([]);

    await mkdir(path.join(repoRoot, 'docs'), { recursive: true });
    await page.screenshot({ path: path.join(repoRoot, 'docs/analysis-progress-screenshot.png'), fullPage: true });
  }, 120_000);

  it('when Cancel is pressed, then it says "Cancelling…" until the job stops, then that nothing was written — and the EHR holds no report', async () => {
    // Every state the Cancel button passes through, recorded in the page (the stop itself takes milliseconds).
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { cancelButtonStates: string[] }).cancelButtonStates = seen;
      new MutationObserver(() => {
        const button = document.querySelector<HTMLButtonElement>('[data-testid="cancel-analysis-button"]');
        const state = button ? `${button.textContent}|${button.disabled ? 'disabled' : 'enabled'}` : 'gone';
        if (seen.at(-1) !== state) seen.push(state);
      }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    const jobId = await rememberedJob();
    expect(jobId).toMatch(UUID);

    await page.getByTestId('cancel-analysis-button').click();
    await page.getByTestId('analysis-cancelled').waitFor({ timeout: 10_000 });
    const states = await page.evaluate(
      () => (window as unknown as { cancelButtonStates: string[] }).cancelButtonStates,
    );
    expect(states).toContain('Cancelling…|disabled');
    expect(states.at(-1)).toBe('gone');

    expect(await page.getByTestId('analysis-cancelled').textContent()).toMatch(
      /^The analysis was cancelled before it wrote anything: nothing was written to the EHR\./,
    );
    expect(await page.getByTestId('analysis-status').textContent()).toBe('Analysis cancelled.');
    expect(await page.getByTestId('analysis-progress').count()).toBe(0);
    const analyze = page.getByTestId('analyze-button');
    expect(await analyze.textContent()).toBe('Analyze again');
    expect(await analyze.isEnabled()).toBe(true);
    expect(await rememberedJob()).toBeNull();

    // Nothing written, also once what was still under way at the PACS has had time to answer.
    expect(await reportsOfStudy()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 2 * PACS_DELAY_MS));
    expect(await reportsOfStudy()).toEqual([]);
  }, 60_000);

  it('when Analyze runs again and the page is reloaded mid-job, then the bar reconnects to the same job and the findings appear', async () => {
    await page.getByTestId('analyze-button').click();
    await retrievedCount();
    const valueBefore = Number(await progressBar().getAttribute('value'));
    expect(valueBefore).toBeGreaterThan(5);
    const jobId = await rememberedJob();
    expect(jobId).toMatch(UUID);
    // The tab keeps the job's id, never the token.
    const token = await accessToken();
    expect(token.length).toBeGreaterThan(20);
    const kept = await page.evaluate(() =>
      Object.keys(sessionStorage)
        .filter((key) => key.startsWith('ldh-cds:analysis-job:'))
        .map((key) => `${key}=${sessionStorage.getItem(key) ?? ''}`),
    );
    expect(kept).toEqual([`ldh-cds:analysis-job:${sandbox.ehr.fhirBaseUrl}|${studyReference()}=${jobId ?? ''}`]);

    await page.reload();
    await page.waitForURL(/\/index\.html/);
    // The same job where it had got to or further (a new one would start from 0), followed again from its events.
    await expect
      .poll(async () => Number(await progressBar().getAttribute('value')), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(valueBefore);
    expect(await progressText()).toMatch(
      /^(Retrieving images|Decoding images|Analyzing slices) \d+\/\d+$|^Writing the results to the EHR$/,
    );
    expect(await page.getByTestId('analyze-button').textContent()).toBe('Analyzing…');
    expect(await rememberedJob()).toBe(jobId);

    const rows = page.getByTestId('findings-table').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 90_000 }).toBe(5);
    await expect
      .poll(() => page.getByTestId('report-status').textContent())
      .toBe('Preliminary — AI-generated, not yet reviewed');
    expect(await page.getByTestId('analysis-meta').textContent()).toMatch(/^New analysis · analyzed /);
    expect(await page.getByTestId('analysis-progress').count()).toBe(0);
    expect(await rememberedJob()).toBeNull();
    expect(await reportsOfStudy()).toHaveLength(1);
    sandbox.ehr.faults.dicomWebDelayMs = 0;
  }, 120_000);
});
