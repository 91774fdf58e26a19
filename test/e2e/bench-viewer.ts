/**
 * `npm run bench:viewer`: how the level viewer feels on this machine (docs/architecture.md §Viewer). Not a test —
 * nothing is asserted; it prints numbers.
 *
 * Starts the sandbox with one realistic 512² study (axial stacks of 5 slices and a sagittal series, a 2-AB herniation
 * at L4-L5), launches the app in headless Chromium, analyzes, and opens the herniated level the moment its findings
 * row appears. Then, in the page:
 *   - time to first image: findings row shown → key slice drawn → that frame painted;
 *   - time to the whole stack cached: row shown → the viewer's "N slices loaded";
 *   - scrolling: the stack end to end and back with ArrowDown/ArrowUp and with the wheel (real input through the
 *     DevTools protocol), each step timed from the input event's timestamp to the slice drawn and to the next frame
 *     painted; and every requestAnimationFrame interval while scrolling (the frame time a user sees);
 *   - window/level drag: pointer moves across the image, each re-rendering 512² pixels through the new window.
 *
 * Options: --passes N (scroll passes, default 5), --matrix M (256–512, default 512).
 */
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { generateSyntheticStudy } from '../../models/synthetic';
import { launchChromium, startSandbox } from '../support/sandbox';

const { values } = parseArgs({
  options: { passes: { type: 'string', default: '5' }, matrix: { type: 'string', default: '512' } },
});
const passes = Number(values.passes);
const matrix = Number(values.matrix);
const LEVEL = 'L4-L5';

function summary(label: string, samples: number[]): string {
  if (samples.length === 0) return `${label}: no samples`;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const f = (v: number): string => v.toFixed(1).padStart(6);
  return `${label.padEnd(44)} median ${f(at(0.5))} ms   p95 ${f(at(0.95))} ms   max ${f(sorted.at(-1) ?? 0)} ms   (n = ${samples.length})`;
}

/** Installs the in-page recorder: input timestamps, slice-drawn times, frame-painted times, rAF intervals. */
async function installRecorder(page: Page): Promise<void> {
  await page.evaluate(() => {
    interface Step {
      input: number;
      dispatched: number;
      drawn?: number;
      painted?: number;
    }
    const state = {
      steps: [] as Step[],
      frames: [] as number[],
      recordingFrames: false,
    };
    (window as unknown as { __bench: typeof state }).__bench = state;
    const canvas = document.querySelector('[data-testid="viewer-canvas"]');
    if (!canvas) throw new Error('no viewer canvas');
    // (No named functions in here: tsx would wrap them in a helper the page does not have.)
    for (const type of ['keydown', 'wheel', 'pointermove']) {
      window.addEventListener(
        type,
        (event) => {
          state.steps.push({ input: event.timeStamp, dispatched: performance.now() });
        },
        { capture: true, passive: true },
      );
    }
    // The viewer sets data-rendered-slice after each draw; the frame is on screen after the next rAF's paint.
    new MutationObserver(() => {
      const step = state.steps.at(-1);
      if (!step || step.drawn !== undefined) return;
      step.drawn = performance.now();
      requestAnimationFrame(() => {
        setTimeout(() => {
          step.painted = performance.now();
        }, 0);
      });
    }).observe(canvas, { attributes: true, attributeFilter: ['data-rendered-slice'] });
    const loop: { last: number; run?: FrameRequestCallback } = { last: 0 };
    loop.run = (now) => {
      if (state.recordingFrames && loop.last > 0) state.frames.push(now - loop.last);
      loop.last = now;
      if (loop.run) requestAnimationFrame(loop.run);
    };
    requestAnimationFrame(loop.run);
  });
}

interface Recorded {
  steps: { input: number; dispatched: number; drawn?: number; painted?: number }[];
  frames: number[];
}

async function takeRecording(page: Page): Promise<Recorded> {
  return page.evaluate(() => {
    const state = (window as unknown as { __bench: Recorded & { recordingFrames: boolean } }).__bench;
    const taken = { steps: state.steps, frames: state.frames };
    state.steps = [];
    state.frames = [];
    return taken;
  });
}

async function setRecordingFrames(page: Page, on: boolean): Promise<void> {
  await page.evaluate((value) => {
    (window as unknown as { __bench: { recordingFrames: boolean } }).__bench.recordingFrames = value;
  }, on);
}

async function sliceNumber(page: Page): Promise<{ current: number; count: number }> {
  const text = (await page.getByTestId('slice-label').textContent()) ?? '';
  const [, current, count] = /slice (\d+) of (\d+)/.exec(text) ?? [];
  return { current: Number(current), count: Number(count) };
}

async function waitForSlice(page: Page, wanted: number): Promise<void> {
  await page.waitForFunction(
    (n) => document.querySelector('[data-testid="viewer-canvas"]')?.getAttribute('data-rendered-slice') === String(n),
    wanted,
  );
  // Let the paint after the draw happen before the next input.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
}

const started = performance.now();
console.log(
  `bench:viewer — one synthetic ${matrix}² study, ${LEVEL} opened from its findings row; starting the sandbox…`,
);
const sandbox = await startSandbox({
  patientCount: 1,
  generateStudy: (options) =>
    generateSyntheticStudy({
      ...options,
      matrix,
      slicesPerLevel: 5,
      herniations: { [LEVEL]: { grade: 2, zone: 'AB', side: 'left' } },
    }),
  appEnv: { LOG_LEVEL: 'silent' },
});
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${sandbox.ehr.url}/`);
  await page.locator('a[href^="/chart/"]').first().click();
  const launchLink = page.locator('#launch-ldh-cds');
  let app = page;
  if ((await launchLink.getAttribute('target')) === '_blank') {
    [app] = await Promise.all([page.context().waitForEvent('page'), launchLink.click()]);
  } else {
    await launchLink.click();
  }
  await app.waitForURL(/\/index\.html/, { timeout: 20_000 });
  console.log(`sandbox and app ready in ${((performance.now() - started) / 1000).toFixed(1)} s; analyzing…`);

  // The moment the level's row appears (the results), the page clicks it and times the viewer from there.
  await app.evaluate((level) => {
    const timing: { results?: number; drawn?: number; painted?: number; cached?: number } = {};
    (window as unknown as { __open: typeof timing }).__open = timing;
    const watch = new MutationObserver(() => {
      if (timing.results === undefined) {
        const row = document.querySelector<HTMLElement>(`[data-testid="open-level-${level}"]`);
        if (!row) return;
        timing.results = performance.now();
        row.click();
      }
      const canvas = document.querySelector('[data-testid="viewer-canvas"]');
      if (timing.drawn === undefined && canvas?.hasAttribute('data-rendered-slice')) {
        timing.drawn = performance.now();
        requestAnimationFrame(() => {
          setTimeout(() => {
            timing.painted = performance.now();
          }, 0);
        });
      }
      const status = document.querySelector('[data-testid="cache-status"]')?.textContent ?? '';
      if (timing.cached === undefined && /^\d+ slices loaded$/.test(status)) {
        timing.cached = performance.now();
        watch.disconnect();
      }
    });
    watch.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  }, LEVEL);
  const analyzeStarted = performance.now();
  await app.getByTestId('analyze-button').click();
  await app.waitForFunction(
    () => {
      const timing = (window as unknown as { __open: { painted?: number; cached?: number } }).__open;
      return timing.painted !== undefined && timing.cached !== undefined;
    },
    undefined,
    { timeout: 120_000 },
  );
  const open = await app.evaluate(
    () => (window as unknown as { __open: { results: number; drawn: number; painted: number; cached: number } }).__open,
  );
  console.log(`analysis (Analyze → findings row): ${((performance.now() - analyzeStarted) / 1000).toFixed(1)} s`);

  const { current: keySlice, count } = await sliceNumber(app);
  console.log(`${LEVEL}: key slice ${keySlice} of ${count}`);
  console.log(
    `time to first image     results → key slice drawn ${(open.drawn - open.results).toFixed(0)} ms, painted ${(open.painted - open.results).toFixed(0)} ms`,
  );
  console.log(
    `time to stack cached    results → all ${count} slices decoded in memory ${(open.cached - open.results).toFixed(0)} ms`,
  );

  await installRecorder(app);
  const canvas = app.getByTestId('viewer-canvas');
  await canvas.evaluate((element) => {
    element.scrollIntoView({ block: 'center' });
  });
  await canvas.focus();
  const box = await canvas.boundingBox();
  if (!box) throw new Error('the viewer canvas has no box');
  const centre = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  await app.keyboard.press('Home');
  await waitForSlice(app, 1);
  await takeRecording(app);

  /** Per input: event handler → image drawn (the viewer's own work), and input timestamp → frame painted. */
  const latencies = (recorded: Recorded): { handled: number[]; painted: number[] } => ({
    handled: recorded.steps.flatMap((step) => (step.drawn === undefined ? [] : [step.drawn - step.dispatched])),
    painted: recorded.steps.flatMap((step) => (step.painted === undefined ? [] : [step.painted - step.input])),
  });

  // Scrolling: end to end and back, with the keys, then with the wheel; each step waits for its frame.
  const scrolling = new Map<'keys' | 'wheel', { handled: number[]; painted: number[] }>();
  const scrollFrames: number[] = [];
  for (const how of ['keys', 'wheel'] as const) {
    await app.mouse.move(centre.x, centre.y);
    await takeRecording(app);
    await setRecordingFrames(app, true);
    for (let pass = 0; pass < passes; pass += 1) {
      for (const direction of [1, -1] as const) {
        for (let i = 0; i < count - 1; i += 1) {
          const { current } = await sliceNumber(app);
          if (how === 'keys') await app.keyboard.press(direction > 0 ? 'ArrowDown' : 'ArrowUp');
          else await app.mouse.wheel(0, direction * 100);
          await waitForSlice(app, current + direction).catch((error: unknown) => {
            throw new Error(`${how}, pass ${pass}, from slice ${current} by ${direction}: ${String(error)}`);
          });
        }
      }
    }
    await setRecordingFrames(app, false);
    const recorded = await takeRecording(app);
    scrolling.set(how, latencies(recorded));
    scrollFrames.push(...recorded.frames);
  }

  // Window/level drag: every pointer move renders the 512² slice through a new window.
  await app.keyboard.press('k');
  await waitForSlice(app, keySlice);
  await app.mouse.move(centre.x, centre.y);
  await app.mouse.down();
  await takeRecording(app);
  await setRecordingFrames(app, true);
  for (let i = 1; i <= 60; i += 1) {
    await app.mouse.move(centre.x + (i % 20) * 4, centre.y + (i % 15) * 3);
    await app.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
  }
  await setRecordingFrames(app, false);
  await app.mouse.up();
  const dragRecording = await takeRecording(app);
  const drag = latencies(dragRecording);

  console.log('');
  for (const [how, { handled, painted }] of scrolling) {
    console.log(summary(`${how}: handler → slice drawn`, handled));
    console.log(summary(`${how}: input event → frame painted`, painted));
  }
  console.log(summary('frame time while scrolling (rAF interval)', scrollFrames));
  console.log(summary('window drag: handler → image drawn', drag.handled));
  console.log(summary('window drag: input event → frame painted', drag.painted));
  console.log(summary('frame time while dragging (rAF interval)', dragRecording.frames));
  console.log('');
  console.log(
    'Headless Chromium (software rendering, --disable-gpu) on this machine. "handler → drawn" is the viewer’s work ' +
      '(React render, window/level of the frame, drawImage, overlays); "input event → painted" adds the browser’s ' +
      'input and paint pipeline; the rAF interval is the frame time a user sees (16.7 ms = every frame at 60 Hz).',
  );
} finally {
  await browser.close();
  await sandbox.close();
}
