/**
 * The device bundle's entry: `npm run bench -- --local …` without the queue mode, so that the bundle carries only the
 * in-process bench (server/src/cli/bench-cli.ts) and not the mock EHR. Built by build.sh into .device/bench.mjs.
 */
import { benchInProcess } from '../../../server/src/cli/bench-cli';
import { parseBenchArgs } from '../bench-args';

try {
  const { workers, ...options } = parseBenchArgs(process.argv.slice(2));
  if (workers > 0) throw new Error('the device bundle runs the in-process bench only (no --workers)');
  await benchInProcess({ ...options, local: true });
} catch (error) {
  // The message, not a stack into minified code: a provider that will not start says why in it.
  console.error(`error: ${(error as Error).message.slice(0, 4000)}`);
  process.exitCode = 1;
}
