/**
 * Runs one exported function of a TypeScript module in a worker thread with a small heap, so a test can show that
 * an input which would exhaust the heap — fatal and uncatchable in the test's own thread — is refused instead: the
 * worker answers with the function's result or error, or reports that it ran out of memory or time.
 */
import { Worker } from 'node:worker_threads';

export type BoundedOutcome =
  | { kind: 'returned'; value: unknown }
  | { kind: 'threw'; name: string; message: string }
  | { kind: 'out-of-memory'; message: string }
  | { kind: 'timed-out' };

// An eval'd worker is CommonJS: it registers tsx's loader itself, then imports the TypeScript module.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import('tsx/esm/api')
  .then((tsx) => { tsx.register(); return import(workerData.moduleUrl); })
  .then((module) => module[workerData.exportName](...workerData.args))
  .then(
    (value) => parentPort.postMessage({ kind: 'returned', value }),
    (error) => parentPort.postMessage({ kind: 'threw', name: error && error.name, message: String(error && error.message) }),
  );
`;

export function runInBoundedWorker(
  moduleUrl: URL,
  exportName: string,
  args: unknown[],
  { heapMb = 64, timeoutMs = 20_000 }: { heapMb?: number; timeoutMs?: number } = {},
): Promise<BoundedOutcome> {
  return new Promise((resolve) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { moduleUrl: moduleUrl.href, exportName, args },
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.min(16, heapMb) },
    });
    let settled = false;
    const settle = (outcome: BoundedOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      settle({ kind: 'timed-out' });
    }, timeoutMs);
    worker.on('message', (outcome: BoundedOutcome) => {
      settle(outcome);
    });
    worker.on('error', (error: Error & { code?: string }) => {
      settle(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { kind: 'out-of-memory', message: error.message }
          : { kind: 'threw', name: error.name, message: error.message },
      );
    });
  });
}
