/**
 * The fuzzer's worker, a child process: the part that may crash, hang or run out of memory, so the fuzzer
 * (run-fuzz.ts) can kill it and carry on. A child process rather than a worker thread: a worker thread that ran out of
 * heap inside Node's own TextDecoder took the whole process down with it (a fatal "ToLocalChecked Empty MaybeLocal"),
 * and a process also bounds what a thread cannot (WebAssembly memory, native allocations). Its heap is limited with
 * --max-old-space-size. Each mutated file goes through
 *
 * 1. the decoder: part10.ts `readPart10`, the study limits on its metadata and bytes, and every frame through the
 *    decode pool (decode-frame.ts; codecs in a pool thread with the frame time limit, as the app runs them);
 * 2. the pipeline: a folder holding the file in place of its original among the rest of its study, read by
 *    folder-source.ts `loadDicomFolder` and analyzed by analyze-images.ts with the phantom model.
 *
 * Each stage answers accepted, refused (an error the product throws on purpose: a typed DICOM error or a
 * PipelineError, with its message) or unclassified (anything else: a TypeError, a RangeError — a bug), and an
 * accepted analysis must hold only finite numbers.
 */
import { link, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pixelModuleFromMetadata } from '../../server/src/dicom/decode-frame';
import { createDecodePool, type FrameDecoder } from '../../server/src/dicom/decode-pool';
import { readPart10 } from '../../server/src/dicom/part10';
import { checkFrameMetadata, checkLimit, DEFAULT_STUDY_LIMITS } from '../../server/src/dicom/study-limits';
import { createDetectorSession, type DetectorSession } from '../../server/src/inference/detector-session';
import { analyzeImages } from '../../server/src/pipeline/analyze-images';
import { loadDicomFolder } from '../../server/src/pipeline/folder-source';
import { PipelineError, toPipelineError } from '../../server/src/pipeline/pipeline-error';

export interface FuzzWorkerData {
  modelDir: string;
  /** Where this worker makes its case folders. */
  scratchDir: string;
  frameTimeoutMs: number;
}

export interface FuzzTask {
  index: number;
  bytes: Uint8Array;
  /** The file's name in its study folder. */
  fileName: string;
  /** The base study's folder (the other files are linked from there), or undefined for a file alone. */
  studyDir: string | undefined;
}

export type StageOutcome =
  | { result: 'accepted'; detail?: string }
  | { result: 'refused'; kind: string; message: string }
  | { result: 'unclassified'; kind: string; message: string; stack?: string };

export interface FuzzAnswer {
  index: number;
  decoder: StageOutcome;
  pipeline: StageOutcome;
  ms: number;
  heapUsedMb: number;
  /** This process's peak resident set so far, MiB (after the case). */
  maxRssMb: number;
  /** The same peak just before the case: `maxRssMb` above it means this case raised the worker's peak. */
  maxRssBeforeMb: number;
}

/** The error classes the product throws on purpose for bad input (by name: errors from the pool arrive renamed). */
const REFUSALS = new Set([
  'DicomFileError',
  'UnsupportedImageError',
  'DicomMetadataError',
  'StudyLimitError',
  'DecodeTimeoutError',
]);

const firstLine = (message: string): string => (message.split('\n')[0] ?? '').slice(0, 300);

function classify(error: unknown): StageOutcome {
  const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
  if (REFUSALS.has(name)) return { result: 'refused', kind: name, message: firstLine(message) };
  return {
    result: 'unclassified',
    kind: name,
    message: firstLine(message),
    ...(stack ? { stack: stack.split('\n').slice(0, 8).join('\n') } : {}),
  };
}

// dcmjs tells stderr about every odd VR and length it meets; in a fuzzer that is every other file.
const dcmjsLog = (
  createRequire(import.meta.url)('dcmjs') as {
    log: { setLevel(level: string): void; getLogger(name: string): { setLevel(level: string): void } };
  }
).log;
dcmjsLog.setLevel('silent');
dcmjsLog.getLogger('validation.dcmjs').setLevel('silent');

const data = JSON.parse(process.argv[2] ?? '{}') as FuzzWorkerData;
const limits = DEFAULT_STUDY_LIMITS;
const pool = createDecodePool({ threads: 1, frameTimeoutMs: data.frameTimeoutMs, maxQueue: 64 });
/**
 * Frames handed to the pool and not yet settled. An analysis that fails stops waiting for its other frames, but
 * their decoding goes on (until done or the frame time limit): a case waits for them before it answers, so that what
 * they cost — time, and RSS (`maxRssMb`) — is counted against the case that asked for them, not the next ones.
 */
const inFlight = new Set<Promise<unknown>>();
const decoder: FrameDecoder = {
  decode(...args) {
    const decoding = pool.decode(...args);
    inFlight.add(decoding);
    decoding.then(
      () => inFlight.delete(decoding),
      () => inFlight.delete(decoding),
    );
    return decoding;
  },
  close: () => pool.close(),
};

async function settleInFlight(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}
let detector: DetectorSession;

async function decoderStage(bytes: Uint8Array): Promise<StageOutcome> {
  try {
    const object = readPart10(bytes, { maxFrames: limits.framesPerInstance });
    checkFrameMetadata(object.dataset, limits);
    const pixel = pixelModuleFromMetadata(object.dataset);
    let total = 0;
    for (const frame of object.frames) {
      checkLimit(limits, 'bytesPerFrame', frame.byteLength);
      total += frame.byteLength;
      checkLimit(limits, 'bytesPerInstance', total);
      const image = await decoder.decode(frame, pixel, object.transferSyntaxUid);
      if (image.pixels.length !== image.width * image.height)
        return {
          result: 'unclassified',
          kind: 'bad-output',
          message: 'decoded frame size differs from its dimensions',
        };
      if (!image.pixels.every(Number.isFinite))
        return { result: 'unclassified', kind: 'bad-output', message: 'decoded frame holds non-finite values' };
    }
    return { result: 'accepted', detail: `${object.frames.length} frame(s)` };
  } catch (error) {
    return classify(error);
  }
}

/** Whether every number in the findings is finite: an analysis must never write NaN or Infinity. */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(allFinite);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(allFinite);
  return true;
}

async function pipelineStage(task: FuzzTask, caseDir: string): Promise<StageOutcome> {
  await mkdir(caseDir, { recursive: true });
  if (task.studyDir) {
    for (const name of await readdir(task.studyDir)) {
      if (name !== task.fileName) await link(path.join(task.studyDir, name), path.join(caseDir, name));
    }
  }
  await writeFile(path.join(caseDir, task.fileName), task.bytes);
  let folder;
  try {
    folder = await loadDicomFolder(caseDir, { maxFrames: limits.framesPerInstance });
  } catch (error) {
    return classify(error);
  }
  const problem = folder.problems.find((p) => path.basename(p.file) === task.fileName);
  if (problem) return { result: 'refused', kind: 'file refused', message: problem.reason };
  if (folder.studies.length === 0)
    return { result: 'refused', kind: 'file refused', message: 'no study in the folder' };
  let accepted = 0;
  for (const study of folder.studies) {
    try {
      const analysis = await analyzeImages(study.source, study.studyInstanceUid, detector, { decoder, limits });
      if (!allFinite(analysis.findings))
        return { result: 'unclassified', kind: 'bad-output', message: 'the findings hold non-finite numbers' };
      accepted++;
    } catch (error) {
      const classified = toPipelineError(error);
      if (classified instanceof PipelineError)
        return { result: 'refused', kind: classified.kind, message: firstLine(classified.message) };
      return classify(error);
    }
  }
  return { result: 'accepted', detail: `${accepted} stud${accepted === 1 ? 'y' : 'ies'} analyzed` };
}

async function runCase(task: FuzzTask): Promise<FuzzAnswer> {
  const started = performance.now();
  const maxRssBeforeMb = process.resourceUsage().maxRSS / 1024;
  const caseDir = path.join(data.scratchDir, `case-${task.index}`);
  try {
    const decoderOutcome = await decoderStage(task.bytes);
    const pipelineOutcome = await pipelineStage(task, caseDir);
    await settleInFlight();
    return {
      index: task.index,
      decoder: decoderOutcome,
      pipeline: pipelineOutcome,
      ms: performance.now() - started,
      heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      maxRssBeforeMb,
    };
  } finally {
    await rm(caseDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  detector = await createDetectorSession(data.modelDir, undefined, { executionProvider: 'cpu', intraOpNumThreads: 1 });
  const send = process.send?.bind(process);
  if (!send) throw new Error('fuzz-worker.ts runs as a child process of run-fuzz.ts');
  process.on('message', (task: FuzzTask) => {
    void runCase(task).then((answer) => send(answer));
  });
  send('ready');
}

void main();
