/**
 * The foundation's end-to-end path, driven through a real browser: EHR chart → SMART EHR launch with PKCE →
 * CDS panel → Analyze → findings table, then the FHIR server holds exactly one DiagnosticReport with five
 * result Observations for the study — also after a second Analyze.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle, DiagnosticReport, Observation } from 'fhir/r4';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMART_SCOPE } from '../../client/src/smart-scope';
import { launchChromium, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

/** The SMART access token fhirclient keeps in sessionStorage after the launch. */
async function accessTokenOf(page: Page): Promise<string> {
  return page.evaluate(() => {
    const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
    const state = JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { access_token?: string } };
    return state.tokenResponse?.access_token ?? '';
  });
}

async function searchFhir<T>(query: string, token: string): Promise<T[]> {
  const response = await fetch(`${sandbox.ehr.fhirBaseUrl}/${query}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' },
  });
  expect(response.status).toBe(200);
  const bundle = (await response.json()) as Bundle;
  return (bundle.entry ?? []).map((entry) => entry.resource as T);
}

describe('when a clinician launches ldh-cds from the chart and analyzes a study', () => {
  it('then the panel shows five levels and the EHR holds one report with five results, even after a second run', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${sandbox.ehr.url}/`);
    await page.locator('a[href^="/chart/"]').first().click();
    const patientId = page.url().split('/chart/')[1] ?? '';
    expect(patientId).not.toBe('');

    // The launch link may open a new window, as in most EHRs; follow whichever page ends up on the app.
    const launchLink = page.locator('#launch-ldh-cds');
    const target = await launchLink.getAttribute('target');
    let appPage = page;
    if (target === '_blank') {
      [appPage] = await Promise.all([page.context().waitForEvent('page'), launchLink.click()]);
    } else {
      await launchLink.click();
    }
    await appPage.waitForURL(/\/index\.html/, { timeout: 20_000 });
    await expect.poll(() => appPage.getByTestId('patient-banner').textContent()).toBeTruthy();
    await expect.poll(() => appPage.getByTestId('safety-banner').textContent()).toMatch(/not for clinical use/);

    const token = await accessTokenOf(appPage);
    expect(token.split('.')).toHaveLength(3);
    // Every scope the app asks for was granted (a silently narrowed grant would break reads or write-back).
    const grantedScope = await appPage.evaluate(() => {
      const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
      return (JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { scope?: string } }).tokenResponse
        ?.scope;
    });
    expect(grantedScope?.split(' ').sort()).toEqual(SMART_SCOPE.split(' ').sort());
    const studies = await searchFhir<{ id?: string }>(`ImagingStudy?patient=Patient/${patientId}`, token);
    expect(studies).toHaveLength(1);
    const studyRef = `ImagingStudy/${studies[0]?.id ?? ''}`;

    const rows = appPage.getByTestId('findings-table').locator('tbody tr');
    const analyze = async (): Promise<void> => {
      await appPage.getByTestId('analyze-button').click();
      await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(5);
      await expect.poll(() => appPage.getByTestId('analyze-button').isEnabled(), { timeout: 30_000 }).toBe(true);
    };
    await analyze();
    const levels = await rows
      .locator('th, td')
      .filter({ hasText: /^L\d-[LS]\d$/ })
      .allTextContents();
    expect(levels).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1']);
    // The seeded studies carry a sagittal T2: the panel says how the levels were found.
    await expect
      .poll(() => appPage.getByTestId('level-assignment').textContent())
      .toMatch(/^Disc levels were assigned (on the sagittal series|by counting up)/);

    await mkdir(path.join(repoRoot, 'docs'), { recursive: true });
    await appPage.screenshot({ path: path.join(repoRoot, 'docs/panel-screenshot.png'), fullPage: true });

    const assertOneReportWithFiveResults = async (): Promise<void> => {
      const reports = await searchFhir<DiagnosticReport>(`DiagnosticReport?patient=Patient/${patientId}`, token);
      const forStudy = reports.filter((report) => report.imagingStudy?.some((ref) => ref.reference === studyRef));
      expect(forStudy).toHaveLength(1);
      expect(forStudy[0]?.status).toBe('preliminary');
      expect(forStudy[0]?.result).toHaveLength(5);
      const observations = await searchFhir<Observation>(`Observation?patient=Patient/${patientId}`, token);
      expect(observations).toHaveLength(5);
      expect(new Set(observations.map((observation) => observation.status))).toEqual(new Set(['preliminary']));
    };
    await assertOneReportWithFiveResults();

    await analyze();
    await assertOneReportWithFiveResults();
  });
});
