/**
 * Starts an analysis worker from the environment (`npm run worker`): it takes analysis jobs from Redis (REDIS_URL)
 * and runs WORKER_CONCURRENCY of them at once with one model session (one worker per GPU), reading the same
 * configuration as the app server (MODEL_DIR, EHRS_FILE, CLIENT_KEY_FILE, the pipeline's limits …). It serves no HTTP.
 * docs/deploy.md.
 */
import { hostname } from 'node:os';
import { pino } from 'pino';
import { createArrivalMetrics } from './arrival/arrival-metrics';
import { configFromEnvironmentOrExit, exitWithReason as fail } from './cli/start-up';
import { loadOrCreateClientKey, sealJson } from './http/client-key';
import { createBullmqJobs } from './jobs/bullmq-jobs';
import { withLogRedaction } from './http/log-serializers';
import { createProcessMetrics, detectorWithMetrics, startMetricsServer } from './http/metrics';
import { decoderFor, defaultDependencies, pipelineOptionsFromConfig } from './pipeline/analyze-study';
import { startArrivalWatcher } from './watch-arrivals';
import { startAnalysisWorker } from './worker';

const config = configFromEnvironmentOrExit();
if (!config.REDIS_URL) {
  fail('REDIS_URL is not set: a worker takes its analyses from Redis (redis://host:port). See docs/deploy.md.');
}

const logger = withLogRedaction(pino({ level: config.LOG_LEVEL, name: 'ldh-cds-worker' }));
const options = pipelineOptionsFromConfig(config);
const decoder = decoderFor(options.decode);
const pipelineDeps = {
  ...defaultDependencies((message, fields) => {
    logger.info(fields, message);
  }, options),
  decoder,
};
// This process's metrics, served on WORKER_METRICS_PORT when set (http/metrics.ts, docs/deploy.md).
const metrics = createProcessMetrics();
const deps = {
  ...pipelineDeps,
  detector: detectorWithMetrics(pipelineDeps.detector, metrics, config.INFERENCE_EP),
};
/** How long SIGTERM waits for the running analyses to finish. */
const STOP_TIMEOUT_MS = 120_000;
const name = `ldh-cds-worker:${hostname()}:${process.pid}`;

try {
  const clientKey = await loadOrCreateClientKey(config.CLIENT_KEY_FILE);
  // The model first: a worker whose model cannot be opened stops here with the reason, before it takes a job.
  const { manifest, executionProvider } = await deps.detector(config.MODEL_DIR);
  const worker = startAnalysisWorker(config, {
    logger,
    deps,
    clientKey: () => Promise.resolve(clientKey),
    name,
    metrics: metrics.jobs,
  });
  await worker.ready();
  logger.info(
    { model: `${manifest.id} ${manifest.version}`, executionProvider, concurrency: config.WORKER_CONCURRENCY },
    'worker ready',
  );
  // Analyze on arrival (ANALYZE_ON_ARRIVAL): every worker runs a watcher, and a lease in Redis lets one of them read
  // each EHR; it queues its analyses as the API does, sealed with the server's key (docs/deploy.md §Analyze on arrival).
  const submitted =
    config.ANALYZE_ON_ARRIVAL === 'off'
      ? undefined
      : createBullmqJobs({
          redisUrl: config.REDIS_URL,
          seal: (payload) => sealJson(clientKey, payload),
          maxQueued: config.MAX_QUEUED_ANALYSES,
          maxPerUser: config.MAX_CONCURRENT_ANALYSES_PER_USER,
          attempts: config.JOB_ATTEMPTS,
          backoffMs: config.JOB_BACKOFF_MS,
        });
  const arrivals = submitted
    ? startArrivalWatcher(config, {
        logger,
        deps,
        clientKey: () => Promise.resolve(clientKey),
        jobs: submitted,
        observe: createArrivalMetrics(metrics.registry),
      })
    : undefined;
  if (config.WORKER_METRICS_PORT !== undefined) {
    const port = config.WORKER_METRICS_PORT;
    const served = await startMetricsServer({
      registry: metrics.registry,
      port,
      host: config.METRICS_HOST,
      token: config.METRICS_TOKEN,
    }).catch((error: unknown) => {
      throw new Error(
        `The worker's metrics cannot listen on ${config.METRICS_HOST}:${port} (WORKER_METRICS_PORT): ${(error as Error).message}. Give each worker on a host its own port.`,
      );
    });
    logger.info({ url: served.url }, 'worker metrics listening');
  }
  // One line a supervisor or a test waits for.
  process.stdout.write(`worker ready ${name}\n`);
  let stopping = false;
  const stop = (): void => {
    // A second signal, or a drain that takes too long (Redis gone), does not wait: BullMQ gives the running analyses
    // to another worker once their lock lapses.
    if (stopping) process.exit(1);
    stopping = true;
    setTimeout(() => process.exit(1), STOP_TIMEOUT_MS).unref();
    void Promise.resolve(arrivals?.close())
      .then(() => Promise.all([submitted?.close(), worker.close()]))
      .then(() => decoder.close())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  fail((error as Error).message);
}
