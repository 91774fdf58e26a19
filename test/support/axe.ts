/**
 * axe-core in the browser tests: the serious and critical accessibility violations of a page, or of one region of it.
 * The app's CSP (script-src 'self') refuses an injected <script> (page.addScriptTag), so axe's source is evaluated
 * through the DevTools protocol instead, which leaves the page's CSP as the app serves it.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Each serious or critical violation as `id (impact): help — targets`; [] when there is none. */
export async function seriousViolations(page: Page, regionSelector?: string): Promise<string[]> {
  await page.evaluate(await readFile(axePath, 'utf8'));
  return page.evaluate(async (selector) => {
    const axe = (window as unknown as { axe: typeof import('axe-core') }).axe;
    const region = selector === undefined ? document : document.querySelector(selector);
    if (!region) throw new Error(`no element matches ${selector ?? ''}`);
    const result = await axe.run(region, { resultTypes: ['violations'] });
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map(
        (violation) =>
          `${violation.id} (${violation.impact ?? ''}): ${violation.help} — ${violation.nodes.map((node) => node.target.join(' ')).join('; ')}`,
      );
  }, regionSelector);
}
