/**
 * The in-process mode of `npm run bench` (test/e2e/bench.ts parses the command line; `--workers N` runs the queue
 * mode instead, test/e2e/bench-queue.ts):
 * `npm run bench -- [--studies N] [--size 256|512] [--ep auto|cpu|webgpu|cuda] [--syntax UID] [--batch N]
 *                   [--decode-threads N] [--concurrency N] [--model DIR] [--local]`
 *
 * `--local`: the images already local — each study's Part 10 files parsed in memory and served to the pipeline as a
 * folder of DICOM files would be (folder-source.ts), no PACS — the measure of issue 23's GPU goal (a 25-slice study
 * end to end once its images are local), and what the device script runs on a GPU host without Orthanc
 * (test/e2e/device/).
 *
 * Analyzes N synthetic phantom studies through a real DICOMweb server: an Orthanc started here
 * (Debian orthanc + orthanc-dicomweb, loopback, temporary storage) — and prints per stage (QIDO, metadata,
 * retrieve, decode, preprocess, inference, postprocess) the median and p95 in ms per study, end-to-end latency,
 * studies/min, slices/s, RSS along the run and peak, and the execution provider. `--size 512` upsamples the
 * 256² phantom to 512² (the clinical matrix); `--syntax` stores the studies transcoded (DCMTK/GDCM);
 * `--concurrency` analyses run at once in this one process, sharing its model session.
 * The first two studies warm up (WASM codecs, onnxruntime) and are not counted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { generatePhantomStudy, type GeneratedStudy } from '../../../models/synthetic';
import { startOrthanc } from './orthanc';
import { transcodePart10, type TranscodableSyntax } from '../../../models/synthetic/transcode';
import { loadConfig } from '../config';
import { createDicomwebRetriever } from '../dicomweb/dicomweb-retriever';
import { createDetectorSession } from '../inference/detector-session';
import type { ExecutionProviderSetting } from '../inference/execution-provider';
import { levelFindingToReportLine } from '../findings/findings';
import { analyzeImages, type PipelineStage, type StudySource } from '../pipeline/analyze-images';
import { part10StudySource } from '../pipeline/folder-source';
import { readPart10 } from '../dicom/part10';
import { decoderFor, pipelineOptionsFromConfig } from '../pipeline/analyze-study';

const require = createRequire(import.meta.url);
interface DcmjsDict {
  dict: Record<string, { vr: string; Value?: unknown[] }>;
  write(): ArrayBuffer;
}
const dcmjs = require('dcmjs') as {
  data: { DicomMessage: { readFile(buffer: ArrayBuffer): DcmjsDict } };
};

export const PIPELINE_STAGES: PipelineStage[] = [
  'qido',
  'metadata',
  'retrieve',
  'decode',
  'preprocess',
  'inference',
  'postprocess',
];

/** Doubles a 16-bit phantom slice to 2× its matrix (nearest neighbour), halving PixelSpacing. */
function upsample(part10: Uint8Array, factor: number): Uint8Array {
  if (factor === 1) return part10;
  const file = dcmjs.data.DicomMessage.readFile(part10.slice().buffer);
  const rows = Number(file.dict['00280010']?.Value?.[0]);
  const columns = Number(file.dict['00280011']?.Value?.[0]);
  const source = new Uint16Array(file.dict['7FE00010']?.Value?.[0] as ArrayBuffer);
  const out = new Uint16Array(rows * columns * factor * factor);
  for (let y = 0; y < rows * factor; y++) {
    for (let x = 0; x < columns * factor; x++) {
      out[y * columns * factor + x] = source[Math.floor(y / factor) * columns + Math.floor(x / factor)] ?? 0;
    }
  }
  const spacing = (file.dict['00280030']?.Value ?? []).map((v) => Number(v) / factor);
  file.dict['00280010'] = { vr: 'US', Value: [rows * factor] };
  file.dict['00280011'] = { vr: 'US', Value: [columns * factor] };
  file.dict['00280030'] = { vr: 'DS', Value: spacing };
  file.dict['7FE00010'] = { vr: 'OW', Value: [out.buffer] };
  return new Uint8Array(file.write());
}

/** A phantom instance as the bench stores it: at `size`² (upsampled from 256²), in `syntax` when one is given. */
export function benchPart10(part10: Uint8Array, size: BenchSize, syntax?: TranscodableSyntax): Uint8Array {
  const bytes = upsample(part10, size / 256);
  return syntax ? transcodePart10(bytes, syntax) : bytes;
}

export const quantile = (values: number[], q: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
};
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export type BenchSize = 256 | 512;

export interface InProcessBenchOptions {
  studies: number;
  size: BenchSize;
  /** Default: INFERENCE_EP. */
  ep?: ExecutionProviderSetting;
  syntax?: TranscodableSyntax;
  /** Default: MODEL_DIR. */
  model?: string;
  /** Default: INFERENCE_BATCH. */
  batch?: number;
  /** Default: DECODE_THREADS. */
  decodeThreads?: number;
  /** Analyses in flight at once in this process. */
  concurrency: number;
  /** The images in memory (no PACS): qido, metadata and retrieve read them there. */
  local?: boolean;
}

export async function benchInProcess(options: InProcessBenchOptions): Promise<void> {
  const config = loadConfig();
  const { concurrency, size } = options;
  const count = options.studies;
  const ep = options.ep ?? config.INFERENCE_EP;
  const warmup = 2;
  const total = count + warmup;

  let why = '';
  const detector = await createDetectorSession(
    options.model ?? config.MODEL_DIR,
    (message, fields) => {
      if (message === 'model loaded' && typeof fields.why === 'string') why = fields.why;
    },
    { executionProvider: ep, batchSize: options.batch ?? config.INFERENCE_BATCH },
  );

  // Only UIDs and ground truth stay in memory; pixels live on the server (so RSS measures the pipeline) — or, with
  // --local, in this process, each study's files parsed as a folder of them would be.
  const studies: (Pick<GeneratedStudy, 'studyInstanceUid' | 'groundTruth'> & { local?: StudySource })[] = [];
  const generateStart = performance.now();
  const generated = (i: number): GeneratedStudy => generatePhantomStudy({ seed: 1000 + i, patientId: `BENCH-${i}` });
  let source: StudySource | undefined;
  let close = (): Promise<void> => Promise.resolve();
  if (options.local) {
    for (let i = 0; i < total; i++) {
      const study = generated(i);
      const objects = study.instances.map((instance) => readPart10(benchPart10(instance.part10, size, options.syntax)));
      studies.push({
        studyInstanceUid: study.studyInstanceUid,
        groundTruth: study.groundTruth,
        local: part10StudySource(objects),
      });
    }
    console.log(
      `in memory: ${total} studies (${size}², ${options.syntax ?? 'explicit VR little endian'}) generated in ${Math.round(performance.now() - generateStart)} ms; no PACS`,
    );
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-bench-'));
    const orthanc = await startOrthanc({ dir });
    close = async (): Promise<void> => {
      await orthanc.close();
      await rm(dir, { recursive: true, force: true });
    };
    for (let i = 0; i < total; i++) {
      const study = generated(i);
      studies.push({ studyInstanceUid: study.studyInstanceUid, groundTruth: study.groundTruth });
      for (const instance of study.instances) await orthanc.upload(benchPart10(instance.part10, size, options.syntax));
    }
    console.log(
      `Orthanc ${orthanc.dicomWebUrl}: stored ${total} studies (${size}², ${options.syntax ?? 'explicit VR little endian'}) in ${Math.round(performance.now() - generateStart)} ms`,
    );
    source = createDicomwebRetriever(orthanc.dicomWebUrl, { concurrency: config.DICOMWEB_CONCURRENCY });
  }

  const perStage = new Map<PipelineStage, number[]>(PIPELINE_STAGES.map((s) => [s, []]));
  const latencies: number[] = [];
  const rss: number[] = [];
  let slices = 0;
  let correct = 0;
  let measuredMs = 0;
  const decode = pipelineOptionsFromConfig(config).decode;
  const decodeThreads = options.decodeThreads ?? decode?.threads;
  const decoder = decoderFor({ ...decode, ...(decodeThreads !== undefined ? { threads: decodeThreads } : {}) });
  const analyzeOne = async (i: number): Promise<void> => {
    const study = studies[i];
    if (!study) return;
    const stageMs = new Map<PipelineStage, number>();
    const start = performance.now();
    const studySource = study.local ?? source;
    if (!studySource) throw new Error('no study source');
    const analysis = await analyzeImages(studySource, study.studyInstanceUid, detector, {
      onStage: (stage, ms) => stageMs.set(stage, (stageMs.get(stage) ?? 0) + ms),
      decoder,
    });
    const elapsed = performance.now() - start;
    rss.push(process.memoryUsage().rss);
    if (i < warmup) return;
    latencies.push(elapsed);
    slices += analysis.slices;
    for (const stage of PIPELINE_STAGES) perStage.get(stage)?.push(stageMs.get(stage) ?? 0);
    const lines = analysis.findings.levels.map(levelFindingToReportLine).join('|');
    if (lines === study.groundTruth.levels.map(levelFindingToReportLine).join('|')) correct++;
  };
  let runsBefore = 0;
  try {
    for (let i = 0; i < warmup; i++) await analyzeOne(i);
    runsBefore = detector.stats?.().runs ?? 0;
    const measuredStart = performance.now();
    // `concurrency` analyses in flight at once, as an app serving several clinicians would have.
    let next = warmup;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) await analyzeOne(next++);
      }),
    );
    measuredMs = performance.now() - measuredStart;
  } finally {
    await decoder.close();
    await close();
  }

  const row = (name: string, values: number[]): string =>
    `${name.padEnd(22)} ${quantile(values, 0.5).toFixed(1).padStart(9)} ${quantile(values, 0.95).toFixed(1).padStart(9)}`;
  const notInference = latencies.map((l, i) => l - (perStage.get('inference')?.[i] ?? 0));
  console.log(
    `\nldh-cds bench: ${count} studies (+${warmup} warm-up), ${slices / count} slices of ${size}×${size} each${options.local ? ', images local (in memory)' : ' from Orthanc (DICOMweb)'}, model ${detector.manifest.id} ${detector.manifest.version} (input ${detector.manifest.input.shape.slice(2).join('×')}), execution provider ${detector.executionProvider}, batch ${detector.batchSize ?? '?'}, decode ${decodeThreads ? `${decodeThreads} worker thread(s)` : 'in-thread'}, ${os.cpus().length} CPU(s)`,
  );
  console.log(`execution provider ${detector.executionProvider} (INFERENCE_EP=${ep}): ${why}`);
  console.log(`${'stage (ms per study)'.padEnd(22)} ${'median'.padStart(9)} ${'p95'.padStart(9)}`);
  for (const stage of PIPELINE_STAGES) console.log(row(stage, perStage.get(stage) ?? []));
  console.log(row('end to end', latencies));
  console.log(row('all but inference', notInference));
  const inference = perStage.get('inference') ?? [];
  const perSlice = inference.reduce((a, b) => a + b, 0) / slices;
  console.log(`inference per slice: ${perSlice.toFixed(2)} ms`);
  console.log(
    `throughput: ${((count / measuredMs) * 60_000).toFixed(1)} studies/min, ${((slices / measuredMs) * 1000).toFixed(1)} slices/s (${concurrency} stud${concurrency === 1 ? 'y' : 'ies'} at a time)`,
  );
  const runs = (detector.stats?.().runs ?? 0) - runsBefore;
  if (runs > 0)
    console.log(
      `inference runs: ${runs}, ${(slices / runs).toFixed(1)} slices per run (batches shared across studies)`,
    );
  const at = (i: number): string => mb(rss[Math.min(rss.length - 1, i)] ?? 0);
  console.log(
    `RSS after study ${warmup + 1}: ${at(warmup)}, after ${Math.round(total / 2)}: ${at(Math.round(total / 2) - 1)}, after ${total}: ${at(total - 1)}; peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`,
  );
  // The bench studies are phantoms: only the phantom detector is expected to reproduce their truth exactly.
  console.log(
    `findings equal to the phantom ground truth: ${correct}/${count}` +
      (detector.manifest.id === 'msu-ldh-phantom' ? '' : ' (a sanity check only: exact with models/msu-ldh-phantom)'),
  );
  await detector.release?.();
}
