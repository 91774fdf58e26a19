/**
 * The DICOM fuzzer (`npm run fuzz`, and a seeded subset in `npm test`): mutated copies of the corpus (corpus.ts,
 * mutations.ts) through the decoder and the pipeline in worker processes (fuzz-worker.ts), each file within a time
 * limit and each worker within a heap limit (--max-old-space-size). A worker that dies (out of memory, an uncaught
 * error) is a crash, one that does not answer in time a hang; either is killed and replaced and the run goes on. Every file
 * ends with a reason: accepted, or refused with the product's own message. Crashes, hangs, unclassified errors
 * (an exception the product does not throw on purpose) and non-finite output are failures.
 *
 * Case i depends only on the seed and i (not on which worker ran it or when), so any failure replays with
 * `--seed S --only i`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRng, type Rng } from '../../models/synthetic/prng';
import { buildTinyModel, TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { buildCorpus, type BaseFile, type Corpus } from './corpus';
import type { FuzzAnswer, FuzzTask, FuzzWorkerData, StageOutcome } from './fuzz-worker';
import { mutate } from './mutations';

export interface FuzzOptions {
  files: number;
  seed: number;
  /** Worker threads running cases at once (default 2). */
  workers?: number;
  /** A file still running after this is a hang (default 30 s). */
  fileTimeoutMs?: number;
  /** The decode pool's per-frame limit inside a worker (default 5 s): a codec spinning longer is refused, as in the app. */
  frameTimeoutMs?: number;
  /** Each worker process's heap (old generation) limit, MiB (default 512). */
  heapMb?: number;
  /** Stop starting new files after this long (default: no limit). */
  timeLimitMs?: number;
  /** Run only these case numbers (replay). */
  only?: number[];
  /** Where to write the failing cases' files. */
  failuresDir?: string;
  /** Skip the realistic and Enhanced MR studies (faster corpus). */
  phantomOnly?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export type FailureKind = 'crash' | 'hang' | 'unclassified' | 'bad-output';

export interface FuzzFailure {
  index: number;
  base: string;
  mutation: string;
  kind: FailureKind;
  stage: 'decoder' | 'pipeline' | 'worker';
  message: string;
  stack?: string;
  file?: string;
}

/** A case that raised its worker's peak resident set: replay it with `--seed S --only index`. */
export interface RssCase {
  index: number;
  base: string;
  mutation: string;
  /** The worker's peak RSS after the case, MiB. */
  peakMb: number;
  /** How far the case raised the worker's peak (after − before), MiB. */
  riseMb: number;
}

export interface ReasonGroup {
  stage: 'decoder' | 'pipeline';
  /** `accepted`, or the refusal's kind (error class or PipelineError kind), or a failure's. */
  kind: string;
  count: number;
  /** The most frequent messages (numbers and UIDs replaced by N), with their counts. */
  examples: { message: string; count: number }[];
}

export interface FuzzReport {
  seed: number;
  requested: number;
  files: number;
  ms: number;
  corpusMs: number;
  corpusFiles: number;
  corpusNotes: string[];
  /** The fuzzer's own process, and the largest worker process, at their peak. */
  peakRssBytes: number;
  peakWorkerRssBytes: number;
  /**
   * What made the largest worker as large as it got: of the cases that worker ran, the one that raised its peak RSS
   * the most (undefined when no case answered). The cases after it may each add a little; this one is the cause.
   */
  peakWorkerRssCase?: RssCase;
  /** The cases that raised a worker's peak RSS the most (at most 10, largest rise first). */
  largestRssRises: RssCase[];
  heapLimitMb: number;
  /** The largest heap a worker reported after a file, MiB. */
  maxWorkerHeapMb: number;
  slowestFileMs: number;
  /** Per file, both stages accepted / at least one refused (and no failure) / failed. */
  totals: { accepted: number; refused: number; failed: number };
  failures: FuzzFailure[];
  reasons: ReasonGroup[];
  mutations: { kind: string; count: number }[];
  stoppedByTimeLimit: boolean;
}

/** A case's own random stream: from the seed and its number only. */
function caseRng(seed: number, index: number): Rng {
  return createRng(createHash('sha256').update(`${seed}:${index}`).digest().readUInt32LE(0));
}

function pickBase(files: readonly BaseFile[], rng: Rng): BaseFile {
  const total = files.reduce((sum, file) => sum + file.weight, 0);
  let at = rng.next() * total;
  for (const file of files) {
    at -= file.weight;
    if (at < 0) return file;
  }
  return files[files.length - 1] as BaseFile;
}

export function makeCase(
  corpus: Corpus,
  seed: number,
  index: number,
): { base: BaseFile; bytes: Uint8Array; mutation: string } {
  const rng = caseRng(seed, index);
  const base = pickBase(
    corpus.files.filter((file) => file.weight > 0),
    rng,
  );
  const { bytes, label } = mutate(base.bytes, rng);
  return { base, bytes, mutation: label };
}

/** Messages grouped: numbers, UIDs and quoted values replaced, so one cause is one line. */
export function normalizeMessage(message: string): string {
  return message
    .replace(/\b\d+(\.\d+){3,}\b/g, 'UID')
    .replace(/(?<![\w(,])-?\d[\d,]*(\.\d+)?(e[+-]?\d+)?(?!\w)/gi, 'N')
    .replace(/"[^"]{0,80}"/g, '"…"')
    .slice(0, 160);
}

interface RunningWorker {
  child: ChildProcess;
  ready: Promise<void>;
  /** The last lines the child wrote on stderr (why it died). */
  stderr: string[];
  /** The case that raised this process's peak RSS the most so far. */
  biggestRise?: RssCase;
}

const WORKER_MODULE = fileURLToPath(new URL('./fuzz-worker.ts', import.meta.url));

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ldh-fuzz-'));
  try {
    if (!existsSync(path.join(TINY_MODEL_DIR, 'model.onnx'))) await buildTinyModel();
    const corpus = await buildCorpus(path.join(scratch, 'corpus'), {
      seed: options.seed,
      realistic: !options.phantomOnly,
    });
    log(
      `corpus: ${corpus.files.length} files (phantom in ${new Set(corpus.files.filter((f) => f.name.startsWith('phantom-')).map((f) => f.name.split('/')[0])).size} transfer syntaxes, realistic, Enhanced MR, samples from ${corpus.sampleDir}) in ${(corpus.ms / 1000).toFixed(1)} s`,
    );
    for (const note of corpus.notes) log(`corpus: ${note}`);
    const indices = options.only ?? Array.from({ length: options.files }, (_, i) => i);
    const heapMb = options.heapMb ?? 512;
    const fileTimeoutMs = options.fileTimeoutMs ?? 30_000;
    const workerData: Omit<FuzzWorkerData, 'scratchDir'> = {
      modelDir: TINY_MODEL_DIR,
      frameTimeoutMs: options.frameTimeoutMs ?? 5000,
    };
    let workerNumber = 0;
    const startWorker = (): RunningWorker => {
      const scratchDir = path.join(scratch, `worker-${workerNumber++}`);
      const child = fork(WORKER_MODULE, [JSON.stringify({ ...workerData, scratchDir } satisfies FuzzWorkerData)], {
        execArgv: ['--import', 'tsx', `--max-old-space-size=${heapMb}`],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      const stderr: string[] = [];
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        stderr.push(...chunk.split('\n').filter(Boolean));
        stderr.splice(0, Math.max(0, stderr.length - 20));
      });
      const ready = new Promise<void>((resolve, reject) => {
        const onMessage = (message: unknown): void => {
          if (message !== 'ready') return;
          child.off('message', onMessage);
          resolve();
        };
        child.on('message', onMessage);
        child.once('exit', (code) => {
          reject(new Error(`fuzz worker exited with code ${code} before it was ready: ${stderr.join(' | ')}`));
        });
      });
      return { child, ready, stderr };
    };

    const answers = new Map<number, FuzzAnswer>();
    const failures: FuzzFailure[] = [];
    const mutationCounts = new Map<string, number>();
    let maxWorkerHeapMb = 0;
    let maxWorkerRssMb = 0;
    let peakWorkerRssCase: RssCase | undefined;
    const rssRises: RssCase[] = [];
    let slowestFileMs = 0;
    let stoppedByTimeLimit = false;
    let next = 0;
    let done = 0;

    const recordFailure = async (failure: FuzzFailure, bytes: Uint8Array): Promise<void> => {
      if (options.failuresDir) {
        await mkdir(options.failuresDir, { recursive: true });
        failure.file = path.join(options.failuresDir, `case-${options.seed}-${failure.index}.dcm`);
        await writeFile(failure.file, bytes);
      }
      failures.push(failure);
      log(
        `FAIL #${failure.index} ${failure.kind} (${failure.stage}) ${failure.base} [${failure.mutation}]: ${failure.message}`,
      );
    };

    /** Runs one case on `slot`'s worker; resolves with the worker to use next (a fresh one after a crash or hang). */
    const runOne = async (slot: RunningWorker, index: number): Promise<RunningWorker> => {
      const { base, bytes, mutation } = makeCase(corpus, options.seed, index);
      for (const label of mutation.split('; ')) {
        const key = label.split(':')[0] ?? label;
        mutationCounts.set(key, (mutationCounts.get(key) ?? 0) + 1);
      }
      const task: FuzzTask = { index, bytes, fileName: base.fileName, studyDir: base.studyDir };
      const outcome = await new Promise<{ answer: FuzzAnswer } | { failure: 'crash' | 'hang'; message: string }>(
        (resolve) => {
          const timer = setTimeout(() => {
            cleanup();
            resolve({ failure: 'hang', message: `no answer within ${fileTimeoutMs / 1000} s` });
          }, fileTimeoutMs);
          const onMessage = (answer: FuzzAnswer): void => {
            if (answer.index !== index) return;
            cleanup();
            resolve({ answer });
          };
          const onExit = (code: number | null, signal: string | null): void => {
            cleanup();
            const why =
              slot.stderr.find((line) => /heap out of memory|FATAL ERROR/.test(line)) ?? slot.stderr.at(-1) ?? '';
            resolve({ failure: 'crash', message: `worker died (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}` });
          };
          const cleanup = (): void => {
            clearTimeout(timer);
            slot.child.off('message', onMessage);
            slot.child.off('exit', onExit);
          };
          slot.child.on('message', onMessage);
          slot.child.on('exit', onExit);
          slot.child.send(task);
        },
      );
      done++;
      if (done % 250 === 0) {
        log(
          `${done}/${indices.length} files, ${((performance.now() - started) / 1000).toFixed(0)} s, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, ${failures.length} failure(s)`,
        );
      }
      if ('answer' in outcome) {
        const { answer } = outcome;
        answers.set(index, answer);
        maxWorkerHeapMb = Math.max(maxWorkerHeapMb, answer.heapUsedMb);
        const rssCase: RssCase = {
          index,
          base: base.name,
          mutation,
          peakMb: answer.maxRssMb,
          riseMb: answer.maxRssMb - answer.maxRssBeforeMb,
        };
        if (rssCase.riseMb > (slot.biggestRise?.riseMb ?? 0)) slot.biggestRise = rssCase;
        if (answer.maxRssMb > maxWorkerRssMb) {
          maxWorkerRssMb = answer.maxRssMb;
          peakWorkerRssCase = slot.biggestRise;
        }
        if (rssCase.riseMb > 0) {
          rssRises.push(rssCase);
          rssRises.sort((a, b) => b.riseMb - a.riseMb);
          rssRises.splice(10);
        }
        slowestFileMs = Math.max(slowestFileMs, answer.ms);
        for (const [stage, result] of [
          ['decoder', answer.decoder],
          ['pipeline', answer.pipeline],
        ] as const) {
          if (result.result === 'unclassified') {
            await recordFailure(
              {
                index,
                base: base.name,
                mutation,
                kind: result.kind === 'bad-output' ? 'bad-output' : 'unclassified',
                stage,
                message: `${result.kind}: ${result.message}`,
                ...(result.stack ? { stack: result.stack } : {}),
              },
              bytes,
            );
          }
        }
        return slot;
      }
      await recordFailure(
        { index, base: base.name, mutation, kind: outcome.failure, stage: 'worker', message: outcome.message },
        bytes,
      );
      slot.child.kill('SIGKILL');
      const fresh = startWorker();
      await fresh.ready;
      return fresh;
    };

    const workerCount = Math.max(1, Math.min(options.workers ?? 2, indices.length));
    await Promise.all(
      Array.from({ length: workerCount }, async () => {
        let slot = startWorker();
        await slot.ready;
        try {
          while (next < indices.length) {
            if (options.timeLimitMs !== undefined && performance.now() - started > options.timeLimitMs) {
              stoppedByTimeLimit = true;
              break;
            }
            const index = indices[next++] as number;
            slot = await runOne(slot, index);
          }
        } finally {
          slot.child.kill();
        }
      }),
    );

    const reasons = groupReasons([...answers.values()], failures);
    const failedIndices = new Set(failures.map((failure) => failure.index));
    let accepted = 0;
    let refused = 0;
    for (const answer of answers.values()) {
      if (failedIndices.has(answer.index)) continue;
      if (answer.decoder.result === 'accepted' && answer.pipeline.result === 'accepted') accepted++;
      else refused++;
    }
    return {
      seed: options.seed,
      requested: indices.length,
      files: done,
      ms: performance.now() - started,
      corpusMs: corpus.ms,
      corpusFiles: corpus.files.length,
      corpusNotes: corpus.notes,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      peakWorkerRssBytes: maxWorkerRssMb * 2 ** 20,
      ...(peakWorkerRssCase ? { peakWorkerRssCase } : {}),
      largestRssRises: rssRises,
      heapLimitMb: heapMb,
      maxWorkerHeapMb,
      slowestFileMs,
      totals: { accepted, refused, failed: failedIndices.size },
      failures,
      reasons,
      mutations: [...mutationCounts.entries()]
        .map(([kind, count]) => ({ kind, count }))
        .sort((a, b) => b.count - a.count),
      stoppedByTimeLimit,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function groupReasons(answers: FuzzAnswer[], failures: FuzzFailure[]): ReasonGroup[] {
  const groups = new Map<
    string,
    { stage: 'decoder' | 'pipeline'; kind: string; count: number; messages: Map<string, number> }
  >();
  const add = (stage: 'decoder' | 'pipeline', outcome: StageOutcome): void => {
    const kind =
      outcome.result === 'accepted'
        ? 'accepted'
        : `${outcome.result === 'refused' ? 'refused' : 'FAILED'}: ${outcome.kind}`;
    const key = `${stage}\u0000${kind}`;
    const group = groups.get(key) ?? { stage, kind, count: 0, messages: new Map<string, number>() };
    group.count++;
    if (outcome.result !== 'accepted') {
      const message = normalizeMessage(outcome.message);
      group.messages.set(message, (group.messages.get(message) ?? 0) + 1);
    }
    groups.set(key, group);
  };
  for (const answer of answers) {
    add('decoder', answer.decoder);
    add('pipeline', answer.pipeline);
  }
  for (const failure of failures.filter((f) => f.stage === 'worker')) {
    const key = `pipeline\u0000FAILED: ${failure.kind}`;
    const group = groups.get(key) ?? {
      stage: 'pipeline' as const,
      kind: `FAILED: ${failure.kind}`,
      count: 0,
      messages: new Map<string, number>(),
    };
    group.count++;
    group.messages.set(failure.message, (group.messages.get(failure.message) ?? 0) + 1);
    groups.set(key, group);
  }
  return [...groups.values()]
    .map(({ stage, kind, count, messages }) => ({
      stage,
      kind,
      count,
      examples: [...messages.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([message, n]) => ({ message, count: n })),
    }))
    .sort((a, b) => (a.stage === b.stage ? b.count - a.count : a.stage === 'decoder' ? -1 : 1));
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** A case that grows a worker by more than this is named in the report. */
const BIG_RSS_RISE_MB = 256;

const describeRssCase = (c: RssCase): string =>
  `case ${c.index} (${c.base} [${c.mutation}], +${c.riseMb.toFixed(0)} MiB in that case)`;

export function formatReport(report: FuzzReport): string {
  const bigRises = report.largestRssRises.filter((c) => c.riseMb > BIG_RSS_RISE_MB);
  const lines = [
    `DICOM fuzzing, seed ${report.seed}: ${report.files} of ${report.requested} files in ${(report.ms / 1000).toFixed(1)} s (corpus of ${report.corpusFiles} files built in ${(report.corpusMs / 1000).toFixed(1)} s)${report.stoppedByTimeLimit ? ', stopped by the time limit' : ''}`,
    `peak RSS: worker process ${mib(report.peakWorkerRssBytes)} (the largest${report.peakWorkerRssCase ? `, raised most by ${describeRssCase(report.peakWorkerRssCase)}` : ''}), fuzzer ${mib(report.peakRssBytes)}; worker heap limit ${report.heapLimitMb} MiB, largest heap after a file ${report.maxWorkerHeapMb.toFixed(0)} MiB; slowest file ${(report.slowestFileMs / 1000).toFixed(2)} s`,
    ...(bigRises.length > 0
      ? [
          `cases that raised a worker's RSS by more than ${BIG_RSS_RISE_MB} MiB (replay with --only): ${bigRises.map(describeRssCase).join('; ')}`,
        ]
      : []),
    `files: ${report.totals.accepted} accepted by decoder and pipeline, ${report.totals.refused} refused with a reason, ${report.totals.failed} failed (crash, hang, unclassified error or non-finite output)`,
    '',
    'reasons by kind:',
  ];
  for (const group of report.reasons) {
    lines.push(`  ${group.stage.padEnd(8)} ${String(group.count).padStart(6)}  ${group.kind}`);
    for (const example of group.examples)
      lines.push(`  ${''.padEnd(15)}${String(example.count).padStart(6)} × ${example.message}`);
  }
  lines.push('', `mutations: ${report.mutations.map((m) => `${m.kind} ${m.count}`).join(', ')}`);
  for (const note of report.corpusNotes) lines.push(`corpus note: ${note}`);
  if (report.failures.length > 0) {
    lines.push('', `FAILURES (${report.failures.length}):`);
    for (const failure of report.failures.slice(0, 50)) {
      lines.push(
        `  #${failure.index} ${failure.kind} in the ${failure.stage}: ${failure.base} [${failure.mutation}]: ${failure.message}${failure.file ? ` (${failure.file})` : ''}`,
      );
      if (failure.stack)
        lines.push(
          ...failure.stack
            .split('\n')
            .slice(1, 5)
            .map((line) => `      ${line.trim()}`),
        );
    }
  }
  return lines.join('\n');
}
