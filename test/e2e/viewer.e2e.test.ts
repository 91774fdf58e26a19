/**
 * The level viewer through a real browser (docs/architecture.md §Viewer): launch from the chart, analyze, open the
 * herniated level from its findings row, then check what a clinician would notice — the key slice is drawn, the
 * herniation box overlay toggles, ArrowDown and the wheel scroll the stack and move the sagittal line, dragging
 * changes the window and Reset restores it, the layout puts the sagittal below at tablet width, and axe-core finds no
 * serious or critical accessibility violation in the viewer. Saves docs/viewer-screenshot.png.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../models/synthetic';
import { seriousViolations } from '../support/axe';
import { launchChromium, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    patientCount: 1,
    // A realistic study (with its sagittal series) and a herniation the default model finds, so there is a box.
    generateStudy: (options) =>
      generateSyntheticStudy({
        ...options,
        matrix: 384,
        slicesPerLevel: 5,
        herniations: { 'L4-L5': { grade: 2, zone: 'AB', side: 'left' } },
      }),
    appEnv: { LOG_LEVEL: 'silent' },
  });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser.close();
  await sandbox.close();
});

/** Chart → "Launch ldh-cds" → the app's panel, whether the EHR opens it in this window or a new one. */
async function launchFromChart(page: Page): Promise<Page> {
  await page.goto(`${sandbox.ehr.url}/`);
  await page.locator('a[href^="/chart/"]').first().click();
  const launchLink = page.locator('#launch-ldh-cds');
  let appPage = page;
  if ((await launchLink.getAttribute('target')) === '_blank') {
    [appPage] = await Promise.all([page.context().waitForEvent('page'), launchLink.click()]);
  } else {
    await launchLink.click();
  }
  await appPage.waitForURL(/\/index\.html/, { timeout: 20_000 });
  return appPage;
}

interface CanvasStats {
  /** A fingerprint of every pixel: equal fingerprints, same picture. */
  hash: number;
  /** Standard deviation of the grey values: 0 for a blank canvas. */
  spread: number;
  /** Pixels in the herniation box's colour (#ffd400). */
  boxColoured: number;
}

function canvasStats(page: Page, testId: string): Promise<CanvasStats> {
  return page.evaluate((id) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`[data-testid="${id}"]`);
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) throw new Error(`no canvas ${id}`);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let hash = 2166136261;
    let sum = 0;
    let squares = 0;
    let boxColoured = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r = 0, g = 0, b = 0] = [data[i], data[i + 1], data[i + 2]];
      hash = Math.imul(hash ^ (r + 3 * g + 7 * b), 16777619) >>> 0;
      const grey = (r + g + b) / 3;
      sum += grey;
      squares += grey * grey;
      if (r > 220 && g > 180 && g < 235 && b < 60) boxColoured += 1;
    }
    const n = data.length / 4;
    return { hash, spread: Math.sqrt(Math.max(0, squares / n - (sum / n) ** 2)), boxColoured };
  }, testId);
}

describe('when a clinician opens a herniated level from the findings', () => {
  it('then the viewer shows the key slice with its overlays, scrolls, windows, resets and passes axe', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const appPage = await launchFromChart(page);
    await appPage.getByTestId('analyze-button').click();
    const rows = appPage.getByTestId('findings-table').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(5);
    const herniated = appPage.locator('tbody tr.row-herniation').first();
    await expect.poll(() => herniated.count(), { timeout: 5_000 }).toBe(1);
    const level = (await herniated.getAttribute('data-level')) ?? '';

    // The panel opens a level from its row (data-testid="open-level-<level>").
    await appPage.getByTestId(`open-level-${level}`).click();
    const viewer = appPage.getByTestId('level-viewer');
    const canvas = viewer.getByTestId('viewer-canvas');
    await expect.poll(() => canvas.getAttribute('data-rendered-slice'), { timeout: 10_000 }).toBeTruthy();

    // The key slice is drawn (not blank), with the "key slice" badge and the label in the image's description; the
    // rest of the stack follows (the panel passes the stack once /api/stacks has answered).
    await expect
      .poll(() => viewer.getByTestId('cache-status').textContent(), { timeout: 10_000 })
      .toMatch(/^\d+ slices loaded$/);
    const sliceLabel = viewer.getByTestId('slice-label');
    const [, keyText, countText] = /^slice (\d+) of (\d+)$/.exec((await sliceLabel.textContent()) ?? '') ?? [];
    const keyNumber = Number(keyText);
    const sliceCount = Number(countText);
    expect(sliceCount).toBeGreaterThan(1);
    expect(await viewer.getByTestId('key-slice-offset').textContent()).toBe('key slice');
    const keyStats = await canvasStats(appPage, 'viewer-canvas');
    expect(keyStats.spread).toBeGreaterThan(10);
    expect(await canvas.getAttribute('aria-label')).toMatch(
      new RegExp(
        `^Axial T2 image of ${level}, slice ${keyNumber} of ${sliceCount}, key slice\\. AI finding: \\d-(A|B|C|AB|BC) · (left|right|central)\\.`,
      ),
    );

    // The herniation box overlay toggles.
    expect(keyStats.boxColoured).toBeGreaterThan(20);
    await viewer.getByTestId('overlay-box').uncheck();
    const withoutBox = await canvasStats(appPage, 'viewer-canvas');
    expect(withoutBox.hash).not.toBe(keyStats.hash);
    expect(withoutBox.boxColoured).toBeLessThan(keyStats.boxColoured / 4);
    await viewer.getByTestId('overlay-box').check();
    expect((await canvasStats(appPage, 'viewer-canvas')).hash).toBe(keyStats.hash);

    // The whole viewer, cut from a full-page capture taken from the top: an element capture would scroll it under
    // the sticky safety banner.
    await appPage.evaluate(() => {
      window.scrollTo(0, 0);
    });
    const viewerBox = await viewer.evaluate((element) => {
      const rect = element.getBoundingClientRect();
      return { x: rect.x + window.scrollX, y: rect.y + window.scrollY, width: rect.width, height: rect.height };
    });
    await appPage.screenshot({
      path: path.join(repoRoot, 'docs/viewer-screenshot.png'),
      fullPage: true,
      clip: viewerBox,
    });

    // ArrowDown scrolls (ArrowUp when the key slice is the last); the sagittal line follows.
    const sagittal = viewer.getByTestId('sagittal-canvas');
    await expect.poll(() => sagittal.getAttribute('data-slice-line'), { timeout: 10_000 }).toBeTruthy();
    const lineBefore = await sagittal.getAttribute('data-slice-line');
    const sagittalBefore = await canvasStats(appPage, 'sagittal-canvas');
    await canvas.focus();
    const down = keyNumber < sliceCount;
    await appPage.keyboard.press(down ? 'ArrowDown' : 'ArrowUp');
    const scrolled = down ? keyNumber + 1 : keyNumber - 1;
    await expect.poll(() => sliceLabel.textContent()).toBe(`slice ${scrolled} of ${sliceCount}`);
    expect(await viewer.getByTestId('key-slice-offset').textContent()).toBe(down ? 'key slice +1' : 'key slice −1');
    await expect.poll(() => sagittal.getAttribute('data-slice-line')).not.toBe(lineBefore);
    expect((await canvasStats(appPage, 'sagittal-canvas')).hash).not.toBe(sagittalBefore.hash);
    // Off the key slice no overlay is drawn.
    await expect.poll(async () => (await canvasStats(appPage, 'viewer-canvas')).boxColoured).toBeLessThan(5);
    await expect.poll(() => viewer.getByTestId('viewer-announcement').textContent()).toMatch(/^Slice \d+ of \d+/);

    // K goes back to the key slice; the wheel scrolls too.
    await appPage.keyboard.press('k');
    await expect.poll(() => sliceLabel.textContent()).toBe(`slice ${keyNumber} of ${sliceCount}`);
    const box = await canvas.boundingBox();
    if (!box) throw new Error('the canvas has no box');
    await appPage.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await appPage.mouse.wheel(0, down ? 100 : -100);
    await expect.poll(() => sliceLabel.textContent()).toBe(`slice ${scrolled} of ${sliceCount}`);
    await appPage.keyboard.press('k');

    // Dragging changes the window shown; Reset restores it.
    const windowValues = viewer.getByTestId('window-values');
    const defaultWindow = await windowValues.textContent();
    expect(defaultWindow).toMatch(/^W [\d.]+ · C -?[\d.]+$/);
    await appPage.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await appPage.mouse.down();
    await appPage.mouse.move(box.x + box.width / 2 + 80, box.y + box.height / 2 + 40, { steps: 5 });
    await appPage.mouse.up();
    await expect.poll(() => windowValues.textContent()).not.toBe(defaultWindow);
    expect(await viewer.getByTestId('window-preset').inputValue()).toBe('custom');
    await viewer.getByTestId('viewer-reset').click();
    await expect.poll(() => windowValues.textContent()).toBe(defaultWindow);
    expect(await viewer.getByTestId('window-preset').inputValue()).toBe('default');

    // axe-core on the viewer region: no serious or critical violation.
    expect(await seriousViolations(appPage, '[data-testid="level-viewer"]')).toEqual([]);

    // Tablet width: the sagittal image goes below the axial one.
    await appPage.setViewportSize({ width: 768, height: 1024 });
    await expect
      .poll(async () => {
        const axial = await viewer.locator('.viewer-axial').boundingBox();
        const side = await viewer.getByTestId('sagittal-view').boundingBox();
        return axial && side ? side.y >= axial.y + axial.height - 1 : false;
      })
      .toBe(true);
    await expect.poll(async () => (await canvasStats(appPage, 'viewer-canvas')).spread).toBeGreaterThan(10);
  });
});
