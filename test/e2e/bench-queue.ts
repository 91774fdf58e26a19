/**
 * `npm run bench -- --workers N [--concurrency M] [--in-flight K] …`: analyses through the queue, end to end, as a
 * deployment with Redis runs them (docs/deploy.md §Scaling). The command line: bench-args.ts.
 *
 * Starts, each on a free loopback port: Debian's redis-server (its append-only file in a temporary folder), Orthanc
 * (server/src/cli/orthanc.ts) holding the phantom studies at `--size` in `--syntax` as the in-process bench stores
 * them, the mock EHR in this process with one patient per study whose ImagingStudy's Endpoint is the Orthanc (so the
 * workers retrieve from the PACS itself, as the in-process bench does, not through the EHR's proxy), one API process
 * (`server/src/main.ts`, RUN_WORKER_IN_API=false) and N worker processes (`server/src/worker-main.ts`, each with its
 * own ONNX session, WORKER_CONCURRENCY = M), with one shared CLIENT_KEY_FILE — the workers act with their own SMART
 * Backend Services token, registered in smart-config/clients.json as it ships.
 *
 * Each study is submitted through the API, `POST /api/analyses` with a clinician's token from an EHR launch in that
 * patient's chart, and followed on its Server-Sent Events (`GET /api/analyses/jobs/{id}/events`) to the final one, as
 * the panel does: the API is what a clinician waits on, so end to end includes its token check, the sealing, the
 * wait in the queue and the events' way back through Redis. Per study: end to end (submit → final event received),
 * POST → 202, queue wait and run (the job's createdAt → startedAt → finishedAt); per pipeline stage, each worker's own
 * timing (its `analysis finished` log line, the stages of the in-process bench); the write (SR, FHIR) from the queue's
 * events. The first 2 × N studies warm up (each worker's codecs and model session) and are not counted.
 *
 * Per process (the API, each worker, Redis, Orthanc, and this process with the mock EHR and the clients): the peak
 * resident memory over its life (VmHWM), the peak sampled every 200 ms during the measured studies, and the CPU time
 * it spent on them. The machine shares its cores among all of them: on a small machine the bench, the EHR and the
 * PACS take CPU from the workers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DiagnosticReport, Endpoint } from '@medplum/fhirtypes';
import { QueueEvents } from 'bullmq';
import { createParser } from 'eventsource-parser';
import { pino } from 'pino';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import { generatePhantomStudy, type GeneratedStudy } from '../../models/synthetic';
import { benchPart10, mb, PIPELINE_STAGES, quantile, type InProcessBenchOptions } from '../../server/src/cli/bench-cli';
import { findFreePort } from '../../server/src/cli/free-port';
import { startOrthanc } from '../../server/src/cli/orthanc';
import { loadOrCreateClientKey } from '../../server/src/http/client-key';
import { isFinishedState, type AnalysisJobSnapshot } from '../../server/src/jobs/analysis-jobs';
import { bullConnection, isProgressRecord, QUEUE_NAME } from '../../server/src/jobs/redis-job-store';
import { isWritingStage } from '../../server/src/pipeline/analysis-progress';
import type { PipelineStage } from '../../server/src/pipeline/analyze-images';
import { startNodeChild, type NodeChild } from '../support/node-child';
import { readProcessUsage } from '../support/process-usage';
import { startRedisServer } from '../support/redis-server';
import { launchAndAuthorize } from '../support/smart-launch';

export interface QueueBenchOptions extends InProcessBenchOptions {
  workers: number;
  /** Studies submitted and unfinished at once; default all. (`concurrency`: each worker's WORKER_CONCURRENCY.) */
  inFlight?: number;
}

/** What a worker's pino lines said: `model loaded` and `worker ready` at its start, `analysis finished` per study. */
interface WorkerLog {
  executionProvider?: string;
  requested?: string;
  why?: string;
  model?: string;
  analyses: { ms: number; stages: Partial<Record<PipelineStage, number>> }[];
}

interface Worker {
  child: NodeChild;
  log: WorkerLog;
}

interface LogLine {
  msg?: string;
  executionProvider?: string;
  requested?: string;
  why?: string;
  model?: string;
  ms?: number;
  stages?: Partial<Record<PipelineStage, number>>;
}

function watchWorkerLog(log: WorkerLog, line: string): void {
  if (!line.startsWith('{')) return;
  let entry: LogLine;
  try {
    entry = JSON.parse(line) as LogLine;
  } catch {
    return;
  }
  if (entry.msg === 'model loaded') {
    log.executionProvider = entry.executionProvider;
    log.requested = entry.requested;
    log.why = entry.why;
  } else if (entry.msg === 'worker ready') {
    log.model = entry.model;
    log.executionProvider ??= entry.executionProvider;
  } else if (entry.msg === 'analysis finished') {
    log.analyses.push({ ms: entry.ms ?? NaN, stages: entry.stages ?? {} });
  }
}

/** The servers of a queue deployment on loopback, and the mock EHR they serve. */
interface Deployment {
  redisUrl: string;
  ehr: MockEhr;
  apiBaseUrl: string;
  workers: Worker[];
  /** The processes whose memory and CPU are reported. */
  processes: { name: string; pid: number }[];
  close(): Promise<void>;
}

async function startDeployment(options: QueueBenchOptions, studies: number): Promise<Deployment> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-bench-queue-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dataDir, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  };
  try {
    const redis = await startRedisServer();
    cleanups.unshift(() => redis.stop());
    const orthanc = await startOrthanc({ dir: path.join(dataDir, 'orthanc') });
    cleanups.unshift(() => orthanc.close());

    // One patient per study, with the phantom of the in-process bench (seed 1000 + i); the same studies go to the
    // Orthanc at the bench's size and syntax, and the EHR's DICOMweb Endpoint is pointed at it.
    const generated: GeneratedStudy[] = [];
    const [ehrPort, apiPort] = [await findFreePort(), await findFreePort()];
    const apiBaseUrl = `http://localhost:${apiPort}`;
    const ehr = await startMockEhr({
      port: ehrPort,
      publicBaseUrl: `http://localhost:${ehrPort}`,
      appBaseUrl: apiBaseUrl,
      dataDir: path.join(dataDir, 'ehr'),
      logger: pino({ level: 'silent' }),
      patientCount: studies,
      generateStudy: (studyOptions) => {
        const study = generatePhantomStudy(studyOptions);
        generated.push(study);
        return study;
      },
    });
    cleanups.unshift(() => ehr.close());
    const uploadStart = performance.now();
    for (const study of generated.splice(0)) {
      for (const instance of study.instances)
        await orthanc.upload(benchPart10(instance.part10, options.size, options.syntax));
    }
    const endpoint = await ehr.repo.readResource<Endpoint>('Endpoint', ehr.seed.endpointId);
    await ehr.repo.updateResource<Endpoint>({ ...endpoint, address: orthanc.dicomWebUrl });
    console.log(
      `Orthanc ${orthanc.dicomWebUrl}: stored ${studies} studies (${options.size}², ${options.syntax ?? 'explicit VR little endian'}) in ${Math.round(performance.now() - uploadStart)} ms`,
    );

    const ehrsFile = path.join(dataDir, 'ehrs.json');
    const imagingOrigins = [new URL(orthanc.dicomWebUrl).origin];
    await writeFile(ehrsFile, JSON.stringify({ ehrs: [{ fhirBaseUrl: ehr.fhirBaseUrl, imagingOrigins }] }));
    // One key for every process, as a deployment shares CLIENT_KEY_FILE; the mock EHR reads its public half from the
    // API's /.well-known/jwks.json, as smart-config/clients.json registers it.
    const clientKeyFile = path.join(dataDir, 'client-key.json');
    await loadOrCreateClientKey(clientKeyFile);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL: redis.url,
      RUN_WORKER_IN_API: 'false',
      // Only the bench's studies: no watcher queues the seeded ones as new arrivals.
      ANALYZE_ON_ARRIVAL: 'off',
      EHRS_FILE: ehrsFile,
      CLIENT_KEY_FILE: clientKeyFile,
      CDS_CLIENTS_FILE: path.join(dataDir, 'no-cds-clients.json'),
      CLIENT_DIST_DIR: path.join(dataDir, 'no-client'),
      WORKER_CONCURRENCY: String(options.concurrency),
      // One clinician submits every study: the per-user and per-token limits would refuse the burst.
      MAX_QUEUED_ANALYSES: String(studies),
      MAX_CONCURRENT_ANALYSES_PER_USER: String(Math.min(studies, 1024)),
      RATE_LIMIT_API_PER_TOKEN: '10000000',
      RATE_LIMIT_API_PER_IP: '10000000',
      ...(options.model !== undefined ? { MODEL_DIR: options.model } : {}),
      ...(options.ep !== undefined ? { INFERENCE_EP: options.ep } : {}),
      ...(options.batch !== undefined ? { INFERENCE_BATCH: String(options.batch) } : {}),
      ...(options.decodeThreads !== undefined ? { DECODE_THREADS: String(options.decodeThreads) } : {}),
    };
    const stopAtEnd = (child: NodeChild): NodeChild => {
      cleanups.unshift(() => child.stop());
      return child;
    };
    const apiStart = startNodeChild('server/src/main.ts', {
      env: { ...env, APP_PORT: String(apiPort), APP_BASE_URL: apiBaseUrl, LOG_LEVEL: 'warn' },
      readyPrefix: 'app ready ',
    }).then(stopAtEnd);
    const workerStarts = Array.from({ length: options.workers }, async (): Promise<Worker> => {
      const log: WorkerLog = { analyses: [] };
      const child = await startNodeChild('server/src/worker-main.ts', {
        // info: its `model loaded` line says which execution provider runs and why, `analysis finished` its stages.
        env: { ...env, LOG_LEVEL: 'info' },
        readyPrefix: 'worker ready ',
        onLine: (line) => {
          watchWorkerLog(log, line);
        },
      }).then(stopAtEnd);
      return { child, log };
    });
    // Every start settles before a failure is thrown, so that each child that did start is stopped.
    const failed = (await Promise.allSettled([apiStart, ...workerStarts])).find(
      (result) => result.status === 'rejected',
    );
    if (failed) throw failed.reason;
    const api = await apiStart;
    const workers = await Promise.all(workerStarts);
    return {
      redisUrl: redis.url,
      ehr,
      apiBaseUrl,
      workers,
      processes: [
        { name: 'API', pid: api.pid },
        ...workers.map((worker, i) => ({ name: `worker ${i + 1}`, pid: worker.child.pid })),
        { name: 'redis-server', pid: redis.pid },
        { name: 'Orthanc', pid: orthanc.pid },
        { name: 'bench (mock EHR, clients)', pid: process.pid },
      ],
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A clinician's token per patient, from an EHR launch in that patient's chart (the app's own client and scopes). */
async function clinicianTokens(ehr: MockEhr, apiBaseUrl: string): Promise<string[]> {
  const tokens: string[] = [];
  for (const patient of ehr.seed.patients) {
    const token = await launchAndAuthorize({
      fhirBaseUrl: ehr.fhirBaseUrl,
      launch: ehr.createLaunch(patient.patientId),
      clientId: SMART_CLIENT_ID,
      redirectUri: `${apiBaseUrl}/index.html`,
      scope: SMART_SCOPE,
    });
    tokens.push(token.access_token);
  }
  return tokens;
}

/** What the queue's event stream says of a job: when it began writing and ended (Redis's clock, ms), its slices. */
interface QueueTimes {
  writing?: number;
  end?: number;
  /** Slices through the model (the `inferring` total). */
  slices?: number;
}

/**
 * Reads the queue's event stream, which the workers' progress and BullMQ's `completed` are added to: an entry's id is
 * Redis's clock when it was added (`<ms>-<n>`, XADD). Good for the write, which begins once the worker's work on the
 * images is done; not for the stages before it: a worker sends its progress one update after another, and while its
 * thread is busy (decoding, pre- and post-processing) they wait, so they reach Redis seconds late on a loaded CPU.
 */
async function watchQueue(redisUrl: string): Promise<{ of(jobId: string): QueueTimes; close(): Promise<void> }> {
  const jobs = new Map<string, QueueTimes>();
  const of = (jobId: string): QueueTimes => {
    let times = jobs.get(jobId);
    if (!times) jobs.set(jobId, (times = {}));
    return times;
  };
  const atOf = (streamId: string): number => Number(streamId.split('-')[0]);
  const events = new QueueEvents(QUEUE_NAME, bullConnection(redisUrl));
  events.on('progress', ({ jobId, data }, streamId) => {
    if (!isProgressRecord(data) || data.state !== 'running') return;
    const times = of(jobId);
    const { stage, total } = data.progress;
    if (isWritingStage(stage)) times.writing ??= atOf(streamId);
    if (stage === 'inferring' && total !== undefined) times.slices = total;
  });
  for (const name of ['completed', 'failed'] as const)
    events.on(name, ({ jobId }: { jobId: string }, streamId: string) => {
      of(jobId).end ??= atOf(streamId);
    });
  await events.waitUntilReady();
  return { of, close: () => events.close() };
}

/**
 * Reads a job's Server-Sent Events, as the panel does, until the final one; connects again (up to twice) when the
 * connection breaks first — a new stream starts with the job's snapshot.
 */
async function followJob(url: string, headers: Record<string, string>): Promise<AnalysisJobSnapshot> {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(url, { headers });
      const reader = response.body?.getReader();
      if (!response.ok || !reader) throw new Error(`GET ${new URL(url).pathname} answered ${response.status}`);
      let final: AnalysisJobSnapshot | undefined;
      const parser = createParser({
        onEvent: ({ data }) => {
          const snapshot = JSON.parse(data) as AnalysisJobSnapshot;
          if (isFinishedState(snapshot.state)) final = snapshot;
        },
      });
      const decoder = new TextDecoder();
      while (!final) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      await reader.cancel();
      if (final) return final;
      throw new Error('the job’s event stream ended before the job finished');
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

interface Measured {
  snapshot: AnalysisJobSnapshot;
  /** Date.now() in this process. */
  submitted: number;
  answered: number;
  done: number;
}

interface ProcessFigures {
  name: string;
  pid: number;
  /** Over its whole life: VmHWM, or the sampled peak where that is higher. */
  peakRss: number;
  /** The highest VmRSS sampled while the studies ran. */
  sampledPeakRss: number;
  cpuMs: number;
}

/** Samples the processes' memory every 200 ms until `stop`, which gives each one's figures since the start. */
function watchProcesses(processes: { name: string; pid: number }[]): { stop(): ProcessFigures[] } {
  const watched = processes.map(({ name, pid }) => ({
    name,
    pid,
    sampledPeakRss: 0,
    cpuMsBefore: readProcessUsage(pid)?.cpuMs ?? NaN,
  }));
  const sample = (): void => {
    for (const entry of watched)
      entry.sampledPeakRss = Math.max(entry.sampledPeakRss, readProcessUsage(entry.pid)?.rssBytes ?? 0);
  };
  const timer = setInterval(sample, 200);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return watched.map(({ name, pid, sampledPeakRss, cpuMsBefore }) => {
        const usage = readProcessUsage(pid);
        return {
          name,
          pid,
          // Linux updates VmHWM lazily: it may lag the RSS just read.
          peakRss: Math.max(usage?.peakRssBytes ?? NaN, sampledPeakRss),
          sampledPeakRss,
          cpuMs: (usage?.cpuMs ?? NaN) - cpuMsBefore,
        };
      });
    },
  };
}

export async function benchThroughQueue(options: QueueBenchOptions): Promise<void> {
  const count = options.studies;
  const warmup = 2 * options.workers;
  const total = count + warmup;
  const inFlight = Math.min(options.inFlight ?? count, count);
  const deployment = await startDeployment(options, total);
  try {
    const { ehr, workers } = deployment;
    const tokens = await clinicianTokens(ehr, deployment.apiBaseUrl);
    const queue = await watchQueue(deployment.redisUrl);
    try {
      const apiUrl = deployment.apiBaseUrl.replace('localhost', '127.0.0.1');
      const analyze = async (i: number): Promise<Measured> => {
        const headers = { Authorization: `Bearer ${tokens[i] ?? ''}`, 'X-FHIR-Server': ehr.fhirBaseUrl };
        const submitted = Date.now();
        const response = await fetch(`${apiUrl}/api/analyses`, {
          method: 'POST',
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: JSON.stringify({ imagingStudy: `ImagingStudy/${ehr.seed.patients[i]?.imagingStudyId ?? ''}` }),
        });
        const answered = Date.now();
        const body = (await response.json()) as AnalysisJobSnapshot;
        if (response.status !== 202)
          throw new Error(`POST /api/analyses answered ${response.status}: ${JSON.stringify(body).slice(0, 500)}`);
        const snapshot = await followJob(`${apiUrl}/api/analyses/jobs/${body.id}/events`, headers);
        return { snapshot, submitted, answered, done: Date.now() };
      };
      /** Studies [from, to), at most `limit` of them submitted and unfinished at once. */
      const analyzeRange = async (from: number, to: number, limit: number): Promise<Measured[]> => {
        const results: Measured[] = [];
        let next = from;
        await Promise.all(
          Array.from({ length: Math.min(limit, to - from) }, async () => {
            while (next < to) results.push(await analyze(next++));
          }),
        );
        return results;
      };

      await analyzeRange(0, warmup, warmup);
      // After the warm-up: a worker's pino lines may come after its plain ready line.
      for (const [i, { child, log }] of workers.entries()) {
        console.log(
          `worker ${i + 1} (pid ${child.pid}): ${log.model ?? 'model ?'}, execution provider ${log.executionProvider ?? '?'}` +
            (log.requested ? ` (INFERENCE_EP=${log.requested}${log.why ? `: ${log.why}` : ''})` : ''),
        );
      }
      const warmedUp = workers.map((worker) => worker.log.analyses.length);
      const usage = watchProcesses(deployment.processes);
      const measuredStart = Date.now();
      let measured: Measured[];
      let processFigures: ProcessFigures[];
      try {
        measured = await analyzeRange(warmup, total, inFlight);
      } finally {
        processFigures = usage.stop();
      }
      const measuredMs = Date.now() - measuredStart;
      // The queue's `completed` entries may reach this process's reader just after the API's final events.
      const deadline = Date.now() + 2000;
      while (measured.some((m) => queue.of(m.snapshot.id).end === undefined) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      printReport({
        options,
        warmup,
        inFlight,
        measured,
        measuredMs,
        queueTimes: (m) => queue.of(m.snapshot.id),
        workers,
        warmedUp,
        reportsPerStudy: await reportsPerStudy(ehr),
        processFigures,
      });
    } finally {
      await queue.close();
    }
  } finally {
    await deployment.close();
  }
}

/** DiagnosticReports per `ImagingStudy/<id>`: each study must have exactly one. */
async function reportsPerStudy(ehr: MockEhr): Promise<Map<string, number>> {
  const reports = await ehr.repo.searchResources<DiagnosticReport>({ resourceType: 'DiagnosticReport', count: 10_000 });
  const counts = new Map<string, number>();
  for (const report of reports)
    for (const { reference } of report.imagingStudy ?? [])
      if (reference) counts.set(reference, (counts.get(reference) ?? 0) + 1);
  return counts;
}

function printReport(report: {
  options: QueueBenchOptions;
  warmup: number;
  inFlight: number;
  measured: Measured[];
  measuredMs: number;
  queueTimes: (m: Measured) => QueueTimes;
  workers: Worker[];
  warmedUp: number[];
  reportsPerStudy: Map<string, number>;
  processFigures: ProcessFigures[];
}): void {
  const { options, measured, measuredMs, queueTimes, workers, warmedUp } = report;
  const count = measured.length;
  const completed = measured.filter((m) => m.snapshot.state === 'completed');
  const slices = completed.reduce((sum, m) => sum + (queueTimes(m).slices ?? 0), 0);
  const workerAnalyses = workers.flatMap((worker, i) => worker.log.analyses.slice(warmedUp[i] ?? 0));
  const ms = (from?: string, to?: string): number => (from && to ? Date.parse(to) - Date.parse(from) : NaN);
  const row = (name: string, values: number[]): string =>
    `${name.padEnd(36)} ${quantile(values, 0.5).toFixed(1).padStart(9)} ${quantile(values, 0.95).toFixed(1).padStart(9)}`;

  console.log(
    `\nldh-cds bench through the queue: ${count} studies (+${report.warmup} warm-up), ${quantile(
      measured.map((m) => queueTimes(m).slices ?? NaN).filter((n) => !Number.isNaN(n)),
      0.5,
    )} slices of ${options.size}×${options.size} each, model ${workers[0]?.log.model ?? '?'}, ` +
      `${workers.length} worker(s) × ${options.concurrency} analyses at once (WORKER_CONCURRENCY), ` +
      `${report.inFlight === count ? 'all submitted at once' : `${report.inFlight} in flight at a time`}, ` +
      `1 API process, ${os.cpus().length} CPU(s)`,
  );
  console.log(`${'per study (ms)'.padEnd(36)} ${'median'.padStart(9)} ${'p95'.padStart(9)}`);
  console.log(
    row(
      'end to end (submit → done)',
      measured.map((m) => m.done - m.submitted),
    ),
  );
  console.log(
    row(
      'POST /api/analyses (→ 202)',
      measured.map((m) => m.answered - m.submitted),
    ),
  );
  console.log(
    row(
      'queue wait (created → started)',
      measured.map((m) => ms(m.snapshot.createdAt, m.snapshot.startedAt)),
    ),
  );
  console.log(
    row(
      'run (started → finished)',
      measured.map((m) => ms(m.snapshot.startedAt, m.snapshot.finishedAt)),
    ),
  );
  console.log(
    row(
      '  pipeline (images → findings)',
      workerAnalyses.map((a) => a.ms),
    ),
  );
  for (const stage of PIPELINE_STAGES)
    console.log(
      row(
        `    ${stage}`,
        workerAnalyses.map((a) => a.stages[stage] ?? 0),
      ),
    );
  console.log(
    row(
      '  write (SR, FHIR)',
      measured.map((m) => {
        const { writing, end } = queueTimes(m);
        return writing !== undefined && end !== undefined ? end - writing : NaN;
      }),
    ),
  );
  console.log(
    `throughput: ${((completed.length / measuredMs) * 60_000).toFixed(1)} studies/min, ${((slices / measuredMs) * 1000).toFixed(1)} slices/s (${(measuredMs / 1000).toFixed(1)} s from the first submit to the last done)`,
  );
  const unfinished = measured.filter((m) => m.snapshot.state !== 'completed');
  const exactlyOne = measured.filter((m) => report.reportsPerStudy.get(m.snapshot.imagingStudy) === 1).length;
  console.log(
    `completed ${completed.length}/${count}` +
      (unfinished.length > 0
        ? ` (${unfinished.map((m) => `${m.snapshot.state} ${m.snapshot.error?.status ?? ''}`.trim()).join(', ')})`
        : '') +
      `; exactly one DiagnosticReport: ${exactlyOne}/${count}; analyses per worker: ` +
      workers
        .map((worker, i) => `${worker.log.analyses.length - (warmedUp[i] ?? 0)} (+${warmedUp[i] ?? 0} warm-up)`)
        .join(', '),
  );
  console.log(
    `${'process'.padEnd(26)} ${'pid'.padStart(8)} ${'peak RSS'.padStart(10)} ${'peak measured'.padStart(14)} ${'CPU s measured'.padStart(15)}`,
  );
  for (const figures of report.processFigures) {
    console.log(
      `${figures.name.padEnd(26)} ${String(figures.pid).padStart(8)} ${mb(figures.peakRss).padStart(10)} ${mb(figures.sampledPeakRss).padStart(14)} ${(figures.cpuMs / 1000).toFixed(1).padStart(15)}`,
    );
  }
}
