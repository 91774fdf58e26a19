/**
 * The clinician's loop, driven through a real browser against the mock EHR and the app server (issue 21): analyze →
 * open a level in the viewer (scroll with ArrowDown, window with a drag) → edit one level, reject one with a reason,
 * confirm all remaining → sign → the FHIR server holds the report final and one Provenance with the clinician as
 * verifier; the panel opened again shows the signed state and its history. Then the two ways a save can fail: someone
 * else changed the report (409: a sentence, the edits kept, Reload shows what changed and re-applies nothing until
 * asked) and an expired token (401: the edits kept, Re-authorize re-runs the launch and restores them). axe-core
 * checks the whole panel at 1280×800 and 768×1024 (no serious or critical violation).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle, DiagnosticReport, Provenance } from 'fhir/r4';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriousViolations } from '../support/axe';
import { launchChromium, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ patientCount: 3 });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

function seededPatient(index: number): { patientId: string; imagingStudyId: string } {
  const seeded = sandbox.ehr.seed.patients[index];
  if (!seeded) throw new Error(`no seeded patient ${index}`);
  return seeded;
}

/** Opens the patient's chart and launches ldh-cds from it (SMART EHR launch with PKCE), in this page. */
async function launchFromChart(page: Page, patientId: string): Promise<void> {
  await page.goto(`${sandbox.ehr.url}/chart/${encodeURIComponent(patientId)}`);
  await page.locator('#launch-ldh-cds').click();
  await page.waitForURL(/\/index\.html/, { timeout: 20_000 });
  await page.getByTestId('analysis-status').waitFor();
}

/** The SMART access token fhirclient keeps in sessionStorage after the launch. */
async function accessTokenOf(page: Page): Promise<string> {
  return page.evaluate(() => {
    const key = JSON.parse(sessionStorage.getItem('SMART_KEY') ?? '""') as string;
    const state = JSON.parse(sessionStorage.getItem(key) ?? '{}') as { tokenResponse?: { access_token?: string } };
    return state.tokenResponse?.access_token ?? '';
  });
}

async function fhir<T>(token: string, query: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${sandbox.ehr.fhirBaseUrl}/${query}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: 'application/fhir+json',
      ...(init.body ? { 'Content-Type': 'application/fhir+json' } : {}),
    },
  });
  expect(response.status, `${init.method ?? 'GET'} ${query}`).toBe(200);
  return (await response.json()) as T;
}

/** Our report on the study (the one the panel shows). */
async function reportOf(token: string, patientId: string, imagingStudyId: string): Promise<DiagnosticReport> {
  const bundle = await fhir<Bundle>(token, `DiagnosticReport?patient=Patient/${patientId}&_count=100`);
  const reports = (bundle.entry ?? [])
    .map((entry) => entry.resource as DiagnosticReport)
    .filter((report) => report.imagingStudy?.some((ref) => ref.reference === `ImagingStudy/${imagingStudyId}`));
  expect(reports).toHaveLength(1);
  return reports[0] as DiagnosticReport;
}

async function analyze(page: Page): Promise<void> {
  await page.getByTestId('analyze-button').click();
  await expect.poll(() => page.getByTestId('findings-table').locator('tbody tr').count(), { timeout: 90_000 }).toBe(5);
  await expect
    .poll(() => page.getByTestId('report-status').textContent())
    .toBe('Preliminary — AI-generated, not yet reviewed');
}

const row = (page: Page, level: string): Locator => page.getByTestId(`open-level-${level}`);
const rowReview = (page: Page, level: string): Promise<string | null> =>
  row(page, level).getByTestId('row-review').textContent();

interface Plan {
  edit: string;
  reject: string;
  /** The AI's grade at the edited level, when it reported a herniation there. */
  aiGrade: number | undefined;
}

/** The levels to edit (a herniation when the AI found one) and to reject (another level). */
async function planReview(page: Page): Promise<Plan> {
  const rows = await page
    .getByTestId('findings-table')
    .locator('tbody tr')
    .evaluateAll((elements) =>
      elements.map((element) => ({
        level: element.getAttribute('data-level') ?? '',
        herniation: element.classList.contains('row-herniation'),
        grade: Number(element.querySelectorAll('td')[1]?.textContent),
      })),
    );
  const edited = rows.find((candidate) => candidate.herniation) ?? rows.find((c) => c.level === 'L4-L5');
  const rejected = rows.find((candidate) => candidate.level !== edited?.level);
  if (!edited || !rejected) throw new Error('the findings table has no levels');
  return {
    edit: edited.level,
    reject: rejected.level,
    aiGrade: edited.herniation && Number.isFinite(edited.grade) ? edited.grade : undefined,
  };
}

/** Edit one level, reject another with a reason, confirm the rest: Sign becomes possible. */
async function decideEveryLevel(page: Page, plan: Plan): Promise<void> {
  await row(page, plan.edit).click();
  const editForm = page.getByTestId(`level-review-${plan.edit}`);
  await editForm.getByTestId('decision-edit').check();
  if (plan.aiGrade !== undefined) {
    await editForm.getByTestId(`grade-${plan.aiGrade === 3 ? 2 : 3}`).check();
  } else {
    await editForm.getByTestId('reading-herniation').check();
    await editForm.getByTestId('grade-1').check();
    await editForm.getByTestId('zone-A').check();
    await editForm.getByTestId('side-central').check();
  }
  await expect
    .poll(() => rowReview(page, plan.edit))
    .toMatch(/^AI: .+ → you: [123]-(A|B|C|AB|BC) (left|right|central)$/);

  // Keyboard: the row opens its level with Enter.
  await row(page, plan.reject).focus();
  await page.keyboard.press('Enter');
  const rejectForm = page.getByTestId(`level-review-${plan.reject}`);
  await rejectForm.getByTestId('decision-reject').check();
  await expect.poll(() => page.getByTestId('sign-button').isDisabled()).toBe(true);
  await rejectForm.getByTestId('reject-reason').selectOption('artefact');
  await rejectForm.getByTestId('reject-reason-text').fill('motion at this level');
  await expect.poll(() => rowReview(page, plan.reject)).toMatch(/· rejected \(artefact: motion at this level\)$/);

  await page.getByTestId('confirm-all-remaining').click();
  await expect.poll(() => page.getByTestId('sign-progress').textContent()).toBe('5 of 5 levels decided');
  await expect.poll(() => page.getByTestId('sign-button').isEnabled()).toBe(true);
}

/** The user's decisions are still on screen (after a refused save or a re-authorization). */
async function expectDecisionsKept(page: Page, plan: Plan): Promise<void> {
  await expect.poll(() => rowReview(page, plan.edit)).toMatch(/ → you: /);
  await expect.poll(() => rowReview(page, plan.reject)).toMatch(/rejected \(artefact: motion at this level\)/);
  await expect.poll(() => page.getByTestId('sign-progress').textContent()).toBe('5 of 5 levels decided');
}

async function signingProvenances(token: string, report: string): Promise<Provenance[]> {
  const bundle = await fhir<Bundle>(token, `Provenance?target=${report}&_count=100`);
  return (bundle.entry ?? [])
    .map((entry) => entry.resource as Provenance)
    .filter((provenance) => provenance.agent.some((agent) => agent.type?.coding?.some((c) => c.code === 'verifier')));
}

describe('when a clinician reviews the AI analysis in the panel and signs it', () => {
  it('then the EHR holds the report final with the clinician as verifier, and the panel shows it signed with its history', async () => {
    const { patientId, imagingStudyId } = seededPatient(0);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await launchFromChart(page, patientId);
    await analyze(page);
    const plan = await planReview(page);

    // Open a level: the viewer and the review form beside it; the key slice column becomes a position in the stack.
    await row(page, plan.edit).click();
    const viewer = page.getByTestId('level-viewer');
    await viewer.waitFor();
    await expect.poll(() => viewer.getAttribute('data-level')).toBe(plan.edit);
    await expect.poll(() => page.getByTestId('level-review-' + plan.edit).isVisible()).toBe(true);
    await expect
      .poll(() => row(page, plan.edit).getByTestId('key-slice').textContent(), { timeout: 30_000 })
      .toMatch(/^Key slice \d+ of \d+$/);

    // Scroll: ArrowDown on the focused image moves to the next slice (ArrowUp when the key slice is the last).
    const sliceLabel = viewer.getByTestId('slice-label');
    await expect.poll(() => sliceLabel.textContent(), { timeout: 30_000 }).toMatch(/^slice \d+ of ([2-9]|\d\d+)$/);
    const [, at, of] = /slice (\d+) of (\d+)/.exec((await sliceLabel.textContent()) ?? '') ?? [];
    const canvas = viewer.getByTestId('viewer-canvas');
    await canvas.focus();
    await page.keyboard.press(at === of ? 'ArrowUp' : 'ArrowDown');
    await expect.poll(() => sliceLabel.textContent()).not.toBe(`slice ${at ?? ''} of ${of ?? ''}`);

    // Window: a drag across the image changes width and centre.
    const windowValues = viewer.getByTestId('window-values');
    await expect.poll(() => windowValues.textContent(), { timeout: 30_000 }).toMatch(/^W \d/);
    const before = await windowValues.textContent();
    const box = await canvas.boundingBox();
    if (!box) throw new Error('the viewer canvas has no box');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 60, box.y + box.height / 2 + 40, { steps: 6 });
    await page.mouse.up();
    await expect.poll(() => windowValues.textContent()).not.toBe(before);

    await decideEveryLevel(page, plan);

    // The whole panel, review form open, at the EHR iframe's 1280×800 and at tablet width.
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 768, height: 1024 });
    expect(await seriousViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });

    // A double click signs once.
    await page.getByTestId('sign-button').dblclick();
    await expect
      .poll(() => page.getByTestId('report-status').textContent(), { timeout: 30_000 })
      .toMatch(/^Signed by .+ on .+/);
    const statusLine = (await page.getByTestId('report-status').textContent()) ?? '';
    expect(statusLine).not.toMatch(/\d{4}-\d{2}-\d{2}T/); // the user's locale, never ISO

    const token = await accessTokenOf(page);
    const report = await reportOf(token, patientId, imagingStudyId);
    expect(report.status).toBe('final');
    const provenances = await signingProvenances(token, `DiagnosticReport/${report.id ?? ''}`);
    expect(provenances).toHaveLength(1);
    const verifier = provenances[0]?.agent.find((agent) => agent.type?.coding?.some((c) => c.code === 'verifier'));
    expect(verifier?.who.reference).toMatch(/^Practitioner\//);
    expect(report.resultsInterpreter?.[0]?.reference).toBe(verifier?.who.reference);

    // The signed state: each level's decision beside the AI's reading, the history, the signed level's review.
    await expect.poll(() => rowReview(page, plan.edit)).toMatch(/^AI: .+ → signed: /);
    await expect.poll(() => rowReview(page, plan.reject)).toMatch(/rejected \(artefact: motion at this level\)/);
    await expect.poll(() => page.getByTestId('report-history').locator('tbody tr').count()).toBeGreaterThanOrEqual(2);
    await row(page, plan.edit).click();
    await page.getByTestId('signed-level-review').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await mkdir(path.join(repoRoot, 'docs'), { recursive: true });
    await page.evaluate(() => {
      window.scrollTo(0, 0); // the sticky safety banner then sits at the top of the full-page picture
    });
    await page.screenshot({ path: path.join(repoRoot, 'docs/signed-report-screenshot.png'), fullPage: true });
    await page.close();

    // Opened again, this time inside the chart's iframe at 1280×800: the signed state and its history, no review form.
    const again = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await again.goto(`${sandbox.ehr.url}/chart/${encodeURIComponent(patientId)}/embedded`);
    const frame = again.frameLocator('#ldh-cds-frame');
    await expect.poll(() => frame.getByTestId('report-status').textContent(), { timeout: 30_000 }).toBe(statusLine);
    const history = frame.getByTestId('report-history').locator('tbody tr');
    await expect.poll(() => history.count()).toBeGreaterThanOrEqual(2);
    const statuses = await history.locator('td:nth-child(2)').allTextContents();
    expect(statuses).toContain('Signed');
    expect(statuses).toContain('Preliminary (AI)');
    expect(await frame.getByTestId('sign-section').count()).toBe(0);
    await expect
      .poll(() => frame.getByTestId(`open-level-${plan.edit}`).getByTestId('row-review').textContent())
      .toMatch(/ → signed: /);
    const app = again.frames().find((candidate) => candidate.url().includes('/index.html'));
    if (!app) throw new Error('the chart has no ldh-cds frame');
    // Fits the frame (no sideways scrolling of the page), in the chart's colours (smart_style_url).
    expect(await app.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(
      true,
    );
    expect(
      await app.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()),
    ).toBe('#0b5cad');
    await again.close();
  }, 300_000);
});

describe('when someone else changes the report between loading it and signing', () => {
  it('then the panel says so in a sentence, keeps the edits, and Reload shows what changed without re-applying them', async () => {
    const { patientId, imagingStudyId } = seededPatient(1);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await launchFromChart(page, patientId);
    await analyze(page);
    const plan = await planReview(page);
    await decideEveryLevel(page, plan);

    // A colleague adds to the report through FHIR meanwhile.
    const token = await accessTokenOf(page);
    const report = await reportOf(token, patientId, imagingStudyId);
    await fhir<DiagnosticReport>(token, `DiagnosticReport/${report.id ?? ''}`, {
      method: 'PUT',
      body: JSON.stringify({ ...report, conclusion: `${report.conclusion ?? ''}\nDiscussed at the spine meeting.` }),
    });

    await page.getByTestId('sign-button').click();
    const conflict = page.getByTestId('conflict');
    await conflict.waitFor({ timeout: 30_000 });
    const sentence = (await conflict.textContent()) ?? '';
    expect(sentence).toMatch(/changed by someone else/);
    expect(sentence).not.toMatch(/[{}]|https?:\/\//);
    await expectDecisionsKept(page, plan);
    expect(await page.getByTestId('sign-button').isDisabled()).toBe(true);
    expect((await reportOf(token, patientId, imagingStudyId)).status).toBe('preliminary');

    // Reload: what changed, and the decisions are offered back, not applied.
    await page.getByTestId('reload-button').click();
    const changes = page.getByTestId('reload-changes');
    await changes.waitFor({ timeout: 30_000 });
    expect(await changes.textContent()).toMatch(/The report was saved again after you opened it/);
    await expect.poll(() => page.getByTestId('sign-progress').textContent()).toMatch(/^0 of 5 levels decided/);
    await page.getByTestId('reapply-decisions').click();
    await expectDecisionsKept(page, plan);

    await page.getByTestId('sign-button').click();
    await expect
      .poll(() => page.getByTestId('report-status').textContent(), { timeout: 30_000 })
      .toMatch(/^Signed by /);
    const signed = await reportOf(token, patientId, imagingStudyId);
    expect(signed.status).toBe('final');
    expect(signed.conclusion).toBeDefined();
    await page.close();
  }, 300_000);
});

describe('when the access token expires before the clinician signs', () => {
  it('then the panel asks to re-authorize, keeps the edits through the new launch, and signing then succeeds', async () => {
    const { patientId, imagingStudyId } = seededPatient(2);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await launchFromChart(page, patientId);
    await analyze(page);
    const plan = await planReview(page);
    await decideEveryLevel(page, plan);
    const oldToken = await accessTokenOf(page);

    sandbox.ehr.faults.expiredToken = true;
    try {
      await page.getByTestId('sign-button').click();
      const prompt = page.getByTestId('reauthorize');
      await prompt.waitFor({ timeout: 30_000 });
      expect(await prompt.textContent()).toMatch(/session with the EHR has expired/);
      await expectDecisionsKept(page, plan);
    } finally {
      sandbox.ehr.faults.expiredToken = false;
    }

    // Re-authorize re-runs the SMART launch in this window; the panel comes back with the decisions restored.
    await page.getByTestId('reauthorize-button').click();
    await page.waitForURL(/\/index\.html\?/, { timeout: 20_000 });
    await page.getByTestId('draft-restored').waitFor({ timeout: 30_000 });
    const newToken = await accessTokenOf(page);
    expect(newToken).not.toBe(oldToken);
    await expectDecisionsKept(page, plan);

    await page.getByTestId('sign-button').click();
    await expect
      .poll(() => page.getByTestId('report-status').textContent(), { timeout: 30_000 })
      .toMatch(/^Signed by /);
    expect((await reportOf(newToken, patientId, imagingStudyId)).status).toBe('final');
    await page.close();
  }, 300_000);
});
