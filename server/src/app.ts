/**
 * Wires the routers; nothing else lives here. `startAppServer` listens (port 0 allowed) and resolves to the
 * URL and a close function, for main.ts and for tests.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express, { type Express } from 'express';
import { pino, type Logger } from 'pino';
import { createArrivalMetrics } from './arrival/arrival-metrics';
import { backgroundAnalysisRequester } from './cds-hooks/background-analysis';
import { cdsHooksRouter, type AnalysisRequester } from './cds-hooks/cds-router';
import { cdsHookMetrics } from './cds-hooks/hook-metrics';
import { CDS_SERVICES } from './cds-hooks/services';
import { createFileFeedbackStore, type CdsFeedbackStore } from './cds-hooks/feedback-store';
import { createRecordCache } from './cds-hooks/record-cache';
import { createRedisFeedbackStore, type RedisFeedbackStore } from './cds-hooks/redis-feedback-store';
import { createRedisIssuedCards } from './cds-hooks/issued-cards';
import { loadCdsCodes, triggerCodes, type CdsCodesFile } from './cds-hooks/trigger-codes';
import { loadTrustedClients, type TrustedClients } from './cds-hooks/trusted-clients';
import { createCdsJwtVerifier } from './cds-hooks/verify-jwt';
import { tokenSettingsFor, type AppConfig } from './config';
import { analysesRouter } from './http/analyses-router';
import { backendTokensFor } from './http/backend-services';
import { clientKeyRouter, loadOrCreateClientKey, sealJson, type ClientKey } from './http/client-key';
import { handleError, handleNotFound } from './http/error-handler';
import { configurationReport, healthRouter } from './http/health-router';
import { imagingRouter, MODEL_CARD_PATH } from './http/imaging-router';
import { withLogRedaction } from './http/log-serializers';
import { createRedisReplayCache, type RedisReplayCache } from './http/redis-replay-cache';
import { createMemoryReplayCache } from './http/replay-cache';
import { jobFailureDescriber } from './http/job-answers';
import { jobsRouter } from './http/jobs-router';
import { createProcessMetrics, detectorWithMetrics, startMetricsServer, type ProcessMetrics } from './http/metrics';
import { apiRateLimits, cdsRateLimits, type RateLimitSettings } from './http/rate-limits';
import { threadpoolAdvice } from './http/threadpool';
import { requestLogger, securityHeaders } from './http/security';
import { createTokenVerifier, type TokenVerifier } from './http/token-verifier';
import type { AnalysisJobs } from './jobs/analysis-jobs';
import { analysisRunner } from './jobs/analysis-runner';
import { createBullmqJobs, type QueueHealth } from './jobs/bullmq-jobs';
import type { AnalysisWorker } from './jobs/bullmq-worker';
import { createInProcessJobs } from './jobs/in-process-jobs';
import {
  decoderFor,
  defaultDependencies,
  pipelineOptionsFromConfig,
  type AnalyzeDependencies,
} from './pipeline/analyze-study';
import { startAnalysisWorker } from './worker';
import {
  startArrivalNotifications,
  startArrivalWatcher,
  withOwnTokenForSystemJobs,
  type RunningArrivals,
} from './watch-arrivals';
import { readModelInfo } from './pipeline/model-info';

export interface AppOptions {
  logger?: Logger;
  /** Replace pipeline stages (tests). */
  deps?: Partial<AnalyzeDependencies>;
  trustedCdsClients?: TrustedClients;
  /** Verifies the user's SMART token (tests with a stub EHR); default: at each EHR, as configured. */
  tokenVerifier?: TokenVerifier;
  /** The server's client key (CLIENT_KEY_FILE), once read. */
  clientKey?: ClientKey;
  /** The CDS services' trigger codes (default: CDS_CODES_FILE, read at start). */
  cdsCodes?: CdsCodesFile;
  /** Where CDS Hooks feedback is kept (default: the JSON-lines file CDS_FEEDBACK_FILE). */
  cdsFeedback?: CdsFeedbackStore;
  /**
   * Queues the analysis of a study a CDS card says was never analyzed (default: with REDIS_URL, through the queue,
   * whose workers act with their own Backend Services token; without it, in this process with that token when
   * ANALYZE_ON_ARRIVAL is on — the site registered it —, else none, and the card says so).
   */
  requestAnalysis?: AnalysisRequester;
  /** This app's metrics registry (default: a new one per app: tests start several apps in one process). */
  metrics?: ProcessMetrics;
}

/**
 * The app and what it owns beyond its routes: the analysis jobs and, with REDIS_URL and RUN_WORKER_IN_API, the worker
 * that runs them here; both must stop before the decode pool does.
 */
export interface AppParts {
  app: Express;
  jobs: AnalysisJobs;
  /** Served on METRICS_PORT by startAppServer (http/metrics.ts). */
  metrics: ProcessMetrics;
  worker?: AnalysisWorker;
  /** With REDIS_URL: the CDS Hooks JWT replay store every process shares (http/redis-replay-cache.ts). */
  replayCache?: RedisReplayCache;
  /** With ANALYZE_ON_ARRIVAL, in the process that runs analyses: the arrival watcher (watch-arrivals.ts). */
  arrivals?: RunningArrivals;
  /** With ANALYZE_ON_ARRIVAL subscription or auto: where the EHR's rest-hook Subscription notifies (watch-arrivals.ts). */
  arrivalNotifications?: { close(): Promise<void> };
  /**
   * With REDIS_URL: the CDS feedback counts and the issued cards every process shares (cds-hooks/redis-feedback-store.ts,
   * issued-cards.ts).
   */
  feedbackCounts?: RedisFeedbackStore;
  issuedCards?: ReturnType<typeof createRedisIssuedCards>;
}

export function createApp(config: AppConfig, trustedCdsClients: TrustedClients, options: AppOptions = {}): AppParts {
  const logger = withLogRedaction(options.logger ?? pino({ level: config.LOG_LEVEL }));
  const metrics = options.metrics ?? createProcessMetrics();
  const pipelineDeps: AnalyzeDependencies = {
    ...defaultDependencies((message, fields) => {
      logger.info(fields, message);
    }, pipelineOptionsFromConfig(config)),
    ...options.deps,
  };
  // The provider and model gauges are set when the model session opens (the first analysis, or /readyz).
  const deps: AnalyzeDependencies = {
    ...pipelineDeps,
    detector: detectorWithMetrics(pipelineDeps.detector, metrics, config.INFERENCE_EP),
  };
  let clientKey: Promise<ClientKey> | undefined;
  const readClientKey = (): Promise<ClientKey> =>
    (clientKey ??= options.clientKey
      ? Promise.resolve(options.clientKey)
      : loadOrCreateClientKey(config.CLIENT_KEY_FILE));
  const tokens =
    options.tokenVerifier ??
    createTokenVerifier({
      settingsFor: (fhirBaseUrl) => tokenSettingsFor(config, fhirBaseUrl),
      clientKey: readClientKey,
      cacheTtlMs: config.TOKEN_CACHE_SECONDS * 1000,
    });
  // Analyses are jobs: with REDIS_URL, BullMQ jobs in Redis that workers run (jobs/bullmq-jobs.ts, docs/deploy.md);
  // else they run in this process (jobs/in-process-jobs.ts), at most MAX_CONCURRENT_ANALYSES at once.
  let jobs: AnalysisJobs;
  let queueHealth: (() => Promise<QueueHealth>) | undefined;
  let worker: AnalysisWorker | undefined;
  if (config.REDIS_URL) {
    const queued = createBullmqJobs({
      redisUrl: config.REDIS_URL,
      seal: async (payload) => sealJson(await readClientKey(), payload),
      maxQueued: config.MAX_QUEUED_ANALYSES,
      maxPerUser: config.MAX_CONCURRENT_ANALYSES_PER_USER,
      attempts: config.JOB_ATTEMPTS,
      backoffMs: config.JOB_BACKOFF_MS,
      metrics: metrics.jobs,
    });
    jobs = queued;
    queueHealth = () => queued.health();
    if (config.RUN_WORKER_IN_API) {
      worker = startAnalysisWorker(config, {
        logger,
        deps,
        clientKey: readClientKey,
        name: `ldh-cds-api:${hostname()}:${process.pid}`,
        metrics: metrics.jobs,
      });
    }
  } else {
    jobs = createInProcessJobs({
      // A system job (the arrival watcher's, no user token) runs with the server's own Backend Services token.
      run: withOwnTokenForSystemJobs(
        analysisRunner(config.MODEL_DIR, deps, metrics.jobs),
        backendTokensFor(config, readClientKey),
      ),
      describeFailure: jobFailureDescriber(logger),
      maxRunning: config.MAX_CONCURRENT_ANALYSES,
      maxQueued: config.MAX_QUEUED_ANALYSES,
      maxPerUser: config.MAX_CONCURRENT_ANALYSES_PER_USER,
      metrics: metrics.jobs,
    });
  }
  // Analyze on arrival (ANALYZE_ON_ARRIVAL) runs where analyses run: here without REDIS_URL, or with it when this process
  // runs a worker (RUN_WORKER_IN_API); Redis then lets one process read each EHR (docs/deploy.md §Analyze on arrival).
  const arrivals =
    !config.REDIS_URL || config.RUN_WORKER_IN_API
      ? startArrivalWatcher(config, {
          logger,
          deps,
          clientKey: readClientKey,
          jobs,
          observe: createArrivalMetrics(metrics.registry),
        })
      : undefined;
  const arrivalNotifications = startArrivalNotifications(config, logger, arrivals);
  // With REDIS_URL, a CDS Hooks JWT used at one process is refused at every other (http/redis-replay-cache.ts);
  // else the in-memory store of verify-jwt.ts.
  const replayCache = config.REDIS_URL ? createRedisReplayCache(config.REDIS_URL) : undefined;
  // …and feedback is counted once for all of them, each host's file keeping the items (cds-hooks/redis-feedback-store.ts).
  const feedbackCounts =
    config.REDIS_URL && !options.cdsFeedback
      ? createRedisFeedbackStore(config.REDIS_URL, config.CDS_FEEDBACK_FILE)
      : undefined;
  const issuedCards = feedbackCounts && config.REDIS_URL ? createRedisIssuedCards(config.REDIS_URL) : undefined;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // Probes first: answered without a token, a log line per probe or a rate limit.
  app.use(
    healthRouter({
      model: async () => {
        const { manifest, executionProvider } = await deps.detector(config.MODEL_DIR);
        return { id: manifest.id, version: manifest.version, executionProvider };
      },
      configuration: () =>
        configurationReport({ clientDistDir: config.CLIENT_DIST_DIR, trustedCdsClients: trustedCdsClients.size }),
      ...(queueHealth ? { queue: queueHealth } : {}),
    }),
  );
  app.use(requestLogger(logger));
  app.use(securityHeaders(config.FHIR_BASE_URLS));
  // Rate limits before any work, body parsing included (http/rate-limits.ts).
  const rateLimits: RateLimitSettings = {
    windowSeconds: config.RATE_LIMIT_WINDOW_S,
    apiPerIp: config.RATE_LIMIT_API_PER_IP,
    apiPerToken: config.RATE_LIMIT_API_PER_TOKEN,
    cdsPerIp: config.RATE_LIMIT_CDS_PER_IP,
    cdsPerClient: config.RATE_LIMIT_CDS_PER_CLIENT,
  };
  app.use('/api', apiRateLimits(rateLimits));
  app.use('/cds-services', cdsRateLimits(rateLimits));
  // Before the body parser: a notification's body is never read (arrival/notification-router.ts).
  if (arrivalNotifications) app.use(arrivalNotifications.router);
  app.use(express.json({ limit: '5mb', type: ['application/json', 'application/fhir+json'] }));
  // A hook call brings no token that may write results: only a queue whose workers hold their own credentials can run
  // an analysis for it (cds-hooks/background-analysis.ts); in this process the job would need the user's token.
  // Without the queue, the in-process engine runs such a job with the server's own Backend Services token
  // (withOwnTokenForSystemJobs), which a site registers to turn analyze on arrival on: wired then.
  const requestAnalysis =
    options.requestAnalysis ??
    (config.REDIS_URL || config.ANALYZE_ON_ARRIVAL !== 'off'
      ? backgroundAnalysisRequester({
          jobs,
          ehrs: config.EHRS,
          model: () =>
            readModelInfo(config.MODEL_DIR).then(
              ({ id, version }) => ({ id, version }),
              () => undefined,
            ),
          storeStructuredReport: config.SR_STOW,
        })
      : undefined);
  // The CDS Hooks service is an express application of its own, mounted before the panel's routers so that a hook call
  // passes none of them: its answers are POST responses about one patient, never revalidated, so no ETag is hashed
  // for each (issue 24's speed target, docs/fhir-mapping.md §Speed).
  const cdsService = express();
  cdsService.disable('x-powered-by');
  cdsService.set('etag', false);
  cdsService.use(
    '/cds-services',
    cdsHookMetrics(
      metrics.registry,
      CDS_SERVICES.map((service) => service.id),
    ),
  );
  cdsService.use(
    cdsHooksRouter({
      appBaseUrl: config.APP_BASE_URL,
      trustedFhirBaseUrls: config.FHIR_BASE_URLS,
      verifier: createCdsJwtVerifier(trustedCdsClients, {
        replayCache: replayCache ?? createMemoryReplayCache({ max: config.CDS_REPLAY_CACHE_MAX }),
      }),
      codes: triggerCodes(options.cdsCodes ?? loadCdsCodes(config.CDS_CODES_FILE)),
      feedback: options.cdsFeedback ?? feedbackCounts ?? createFileFeedbackStore(config.CDS_FEEDBACK_FILE),
      ...(issuedCards ? { issuedCards } : {}),
      model: () => readModelInfo(config.MODEL_DIR).catch(() => undefined),
      modelCardPath: MODEL_CARD_PATH,
      recordCache: createRecordCache({ ttlMs: config.CDS_RECORD_CACHE_SECONDS * 1000 }),
      ...(options.deps?.fhirClient ? { fhirClient: options.deps.fhirClient } : {}),
      ...(requestAnalysis ? { requestAnalysis } : {}),
    }),
  );
  // Its errors are answered here, so that they too are sent with the service's settings (no ETag).
  cdsService.use(handleError);
  app.use(cdsService);
  app.use(
    analysesRouter({
      trustedFhirBaseUrls: config.FHIR_BASE_URLS,
      ehrs: config.EHRS,
      modelDir: config.MODEL_DIR,
      storeStructuredReport: config.SR_STOW,
      tokens,
      jobs,
      deps,
    }),
  );
  app.use(jobsRouter({ trustedFhirBaseUrls: config.FHIR_BASE_URLS, tokens, jobs }));
  app.use(
    imagingRouter({
      trustedFhirBaseUrls: config.FHIR_BASE_URLS,
      ehrs: config.EHRS,
      modelDir: config.MODEL_DIR,
      tokens,
      deps,
    }),
  );
  app.use(clientKeyRouter(readClientKey));
  // The built SMART client: /launch.html, /index.html and its hashed assets.
  app.use(express.static(path.resolve(config.CLIENT_DIST_DIR), { index: 'index.html', fallthrough: true }));
  app.use(handleNotFound);
  app.use(handleError);
  return {
    app,
    jobs,
    metrics,
    ...(arrivals ? { arrivals } : {}),
    ...(arrivalNotifications ? { arrivalNotifications } : {}),
    ...(worker ? { worker } : {}),
    ...(replayCache ? { replayCache } : {}),
    ...(feedbackCounts ? { feedbackCounts } : {}),
    ...(issuedCards ? { issuedCards } : {}),
  };
}

export interface RunningServer {
  url: string;
  /** With METRICS_PORT: where Prometheus scrapes this process (`http://METRICS_HOST:port/metrics`). */
  metricsUrl?: string;
  close(): Promise<void>;
}

export async function startAppServer(config: AppConfig, options: AppOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: config.LOG_LEVEL });
  let trusted = options.trustedCdsClients;
  if (!trusted) {
    if (existsSync(config.CDS_CLIENTS_FILE)) trusted = await loadTrustedClients(config.CDS_CLIENTS_FILE);
    else {
      logger.warn(
        { file: config.CDS_CLIENTS_FILE },
        'CDS_CLIENTS_FILE not found: every CDS Hooks call will be refused',
      );
      trusted = new Map();
    }
  }
  if (!existsSync(config.CLIENT_DIST_DIR))
    logger.warn({ dir: config.CLIENT_DIST_DIR }, 'CLIENT_DIST_DIR not found: run `npm run build`');
  const threadpool = threadpoolAdvice(process.env, availableParallelism());
  if (threadpool) logger.warn(threadpool);
  // The app owns its decode pool: worker threads live as long as the server.
  const decoder = options.deps?.decoder ?? decoderFor(pipelineOptionsFromConfig(config).decode);
  // Read (or created) before listening: a key file that cannot be read stops the start with its name.
  const clientKey = options.clientKey ?? (await loadOrCreateClientKey(config.CLIENT_KEY_FILE));
  const metrics = options.metrics ?? createProcessMetrics();
  // Metrics on a listener of their own, for the monitoring network only (docs/deploy.md, docs/security.md §Metrics).
  const metricsServer =
    config.METRICS_PORT === undefined
      ? undefined
      : await startMetricsServer({
          registry: metrics.registry,
          port: config.METRICS_PORT,
          host: config.METRICS_HOST,
          token: config.METRICS_TOKEN,
        });
  const { app, jobs, arrivals, arrivalNotifications, worker, replayCache, feedbackCounts, issuedCards } = createApp(
    config,
    trusted,
    {
      ...options,
      logger,
      clientKey,
      metrics,
      deps: { decoder, ...options.deps },
    },
  );
  return new Promise((resolve, reject) => {
    const server = app.listen(config.APP_PORT, config.APP_HOST, (error?: Error) => {
      if (error) {
        void metricsServer?.close();
        reject(error);
        return;
      }
      const { port } = server.address() as AddressInfo;
      const host = config.APP_HOST.includes(':') ? `[${config.APP_HOST}]` : config.APP_HOST;
      resolve({
        url: `http://${host}:${port}`,
        ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((closeError) => {
              if (closeError) fail(closeError);
              // The jobs first: they stop (or finish a write) while the decode pool still answers them; a worker
              // here takes no new job and finishes the ones it runs.
              else
                Promise.all([
                  jobs.close(),
                  arrivals?.close(),
                  arrivalNotifications?.close(),
                  worker?.close(),
                  replayCache?.close(),
                  feedbackCounts?.close(),
                  issuedCards?.close(),
                  metricsServer?.close(),
                ])
                  .then(() => decoder.close())
                  .then(done, fail);
            });
            server.closeAllConnections();
          }),
      });
    });
  });
}
