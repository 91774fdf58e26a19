/**
 * `npm run bench`: in-process (server/src/cli/bench-cli.ts) or, with `--workers N`, through the queue
 * (bench-queue.ts). The command line: bench-args.ts. Each mode is imported only when it runs: the in-process figures
 * include this process's memory, which the queue mode's modules (the mock EHR among them) must not swell.
 */
import { parseBenchArgs } from './bench-args';

async function main(): Promise<void> {
  const { workers, inFlight, ...options } = parseBenchArgs(process.argv.slice(2));
  if (workers === 0) {
    const { benchInProcess } = await import('../../server/src/cli/bench-cli');
    await benchInProcess(options);
  } else {
    const { benchThroughQueue } = await import('./bench-queue');
    await benchThroughQueue({ ...options, workers, ...(inFlight !== undefined ? { inFlight } : {}) });
  }
}

main().catch((error: unknown) => {
  // The whole message: a server that would not start says why in its last lines.
  console.error(`error: ${(error as Error).message.slice(0, 4000)}`);
  process.exitCode = 1;
});
