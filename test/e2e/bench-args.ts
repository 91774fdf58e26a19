/**
 * The command line of `npm run bench` (test/e2e/bench.ts), both modes:
 *
 *   npm run bench -- [--studies 20] [--size 256|512] [--ep auto|cpu|webgpu|cuda] [--syntax UID] [--batch N]
 *                    [--decode-threads N] [--model DIR] [--concurrency 1]
 *                    [--workers N [--in-flight K]] [--local]
 *
 * - `--workers` absent or 0: in-process (server/src/cli/bench-cli.ts) — the pipeline in this process, no queue;
 * - `--workers N` (N ≥ 1): through the queue (bench-queue.ts) — Redis, one API process and N worker processes.
 * - `--concurrency M`: the analyses one analyzing process runs at once, sharing its model session (batches shared
 *   across studies): in-process, this process; through the queue, each worker (its WORKER_CONCURRENCY). So N workers
 *   run N × M at once.
 * - `--in-flight K` (queue only): studies submitted and not yet finished at any time, a closed loop; default: all
 *   submitted at once, a burst, so that the queue wait shows how long a backlog takes to drain. K = N × M keeps every
 *   worker busy without a backlog: end to end ≈ run time.
 * - `--local` (in-process only): the images in memory, no PACS — the analysis once the images are local.
 * - `--ep`, `--batch`, `--decode-threads`, `--model`: in-process, this process's settings; through the queue, the
 *   workers' INFERENCE_EP, INFERENCE_BATCH, DECODE_THREADS and MODEL_DIR. Absent: the environment's (config.ts).
 */
import { parseArgs } from 'node:util';
import { TRANSCODINGS, type TranscodableSyntax } from '../../models/synthetic/transcode';
import type { InProcessBenchOptions } from '../../server/src/cli/bench-cli';
import { EXECUTION_PROVIDERS, type ExecutionProviderSetting } from '../../server/src/inference/execution-provider';

/** The in-process bench's options, and the queue's: `concurrency` is then each worker's WORKER_CONCURRENCY. */
export interface BenchArgs extends InProcessBenchOptions {
  /** 0: in-process. */
  workers: number;
  /** Queue only; undefined: all at once. */
  inFlight?: number;
}

function integer(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < min)
    throw new Error(`--${flag} must be a whole number of at least ${min}, not "${value}"`);
  return number;
}

function isExecutionProvider(value: string): value is ExecutionProviderSetting {
  return (EXECUTION_PROVIDERS as readonly string[]).includes(value);
}

function isTranscodableSyntax(value: string): value is TranscodableSyntax {
  return Object.hasOwn(TRANSCODINGS, value);
}

/** Throws with a message that names the flag and what it takes. */
export function parseBenchArgs(args: string[]): BenchArgs {
  const { values } = parseArgs({
    args,
    options: {
      studies: { type: 'string', default: '20' },
      size: { type: 'string', default: '256' },
      ep: { type: 'string' },
      syntax: { type: 'string' },
      model: { type: 'string' },
      batch: { type: 'string' },
      'decode-threads': { type: 'string' },
      concurrency: { type: 'string', default: '1' },
      workers: { type: 'string', default: '0' },
      'in-flight': { type: 'string' },
      local: { type: 'boolean', default: false },
    },
  });
  const size = Number(values.size);
  if (size !== 256 && size !== 512) throw new Error(`--size must be 256 or 512, not "${values.size}"`);
  const { ep, syntax } = values;
  if (ep !== undefined && !isExecutionProvider(ep))
    throw new Error(`--ep must be one of ${EXECUTION_PROVIDERS.join(', ')}, not "${ep}"`);
  if (syntax !== undefined && !isTranscodableSyntax(syntax))
    throw new Error(`--syntax must be one of the transfer syntax UIDs ${Object.keys(TRANSCODINGS).join(', ')}`);
  const workers = integer('workers', values.workers, 0) ?? 0;
  const inFlight = integer('in-flight', values['in-flight'], 1);
  if (workers === 0 && inFlight !== undefined)
    throw new Error('--in-flight is for the queue: give --workers N (1 or more) with it');
  if (workers > 0 && values.local)
    throw new Error('--local is for the in-process bench: the queue workers read the studies from the PACS');
  const batch = integer('batch', values.batch, 1);
  const decodeThreads = integer('decode-threads', values['decode-threads'], 0);
  return {
    studies: integer('studies', values.studies, 1) ?? 20,
    size,
    concurrency: integer('concurrency', values.concurrency, 1) ?? 1,
    workers,
    ...(ep !== undefined ? { ep } : {}),
    ...(syntax !== undefined ? { syntax } : {}),
    ...(values.model !== undefined ? { model: values.model } : {}),
    ...(batch !== undefined ? { batch } : {}),
    ...(decodeThreads !== undefined ? { decodeThreads } : {}),
    ...(inFlight !== undefined ? { inFlight } : {}),
    ...(values.local ? { local: true } : {}),
  };
}
