/**
 * Wires an analysis worker (jobs/bullmq-worker.ts) from the configuration, for `npm run worker` (worker-main.ts) and
 * for the worker an API process runs beside its routes (app.ts, RUN_WORKER_IN_API): the pipeline with this process's
 * model session and decode pool, the worker's own SMART Backend Services token (http/backend-services.ts), the seal
 * check of the server's key, and failures described as the API would answer them. Nothing else lives here.
 */
import type { Logger } from 'pino';
import type { AppConfig } from './config';
import { backendTokensFor, type BackendTokens } from './http/backend-services';
import { openSealedJson, type ClientKey } from './http/client-key';
import { jobFailureDescriber } from './http/job-answers';
import type { AnalysisRunner } from './jobs/analysis-jobs';
import { analysisRunner } from './jobs/analysis-runner';
import { createAnalysisWorker, type AnalysisWorker } from './jobs/bullmq-worker';
import type { JobMetrics } from './jobs/job-metrics';
import { queuedAnalysisOf } from './jobs/redis-job-store';
import type { AnalyzeDependencies } from './pipeline/analyze-study';
import { PipelineError } from './pipeline/pipeline-error';
import { imagingOriginsOf } from './trusted-ehrs';
import { UpstreamRequestError } from './upstream/upstream-request-error';

export interface WorkerWiring {
  logger: Logger;
  /** The pipeline's stages, with the decode pool and model session this process owns. */
  deps: AnalyzeDependencies;
  clientKey: () => Promise<ClientKey>;
  /** Names the worker's Redis connections (BullMQ's worker list). */
  name: string;
  /** Counts and times the jobs it runs (the process's registry: http/metrics.ts). */
  metrics?: JobMetrics;
}

export function startAnalysisWorker(config: AppConfig, wiring: WorkerWiring): AnalysisWorker {
  const { logger, deps, clientKey } = wiring;
  if (!config.REDIS_URL) throw new Error('An analysis worker needs REDIS_URL: it takes its jobs from Redis.');
  const tokens = backendTokensFor(config, clientKey);
  return createAnalysisWorker({
    redisUrl: config.REDIS_URL,
    run: retriedWithFreshToken(analysisRunner(config.MODEL_DIR, deps, wiring.metrics), tokens),
    accessTokenFor: (fhirBaseUrl) => tokens.tokenFor(fhirBaseUrl),
    open: async (sealed) => {
      const queued = queuedAnalysisOf(await openSealedJson(await clientKey(), sealed));
      // This worker's own configuration decides where its token may go, whatever the job says.
      if (!config.FHIR_BASE_URLS.includes(queued.data.fhirBaseUrl))
        throw new Error('the job names an EHR this worker does not trust (EHRS_FILE)');
      return {
        ...queued,
        data: { ...queued.data, imagingOrigins: [...imagingOriginsOf(config.EHRS, queued.data.fhirBaseUrl)] },
      };
    },
    describeFailure: jobFailureDescriber(logger),
    concurrency: config.WORKER_CONCURRENCY,
    lockMs: config.JOB_LOCK_MS,
    name: wiring.name,
    ...(wiring.metrics ? { metrics: wiring.metrics } : {}),
    log: (level, fields, message) => {
      logger[level](fields, message);
    },
  });
}

/**
 * Runs an analysis with the server's own Backend Services token, and once more with a fresh one when the EHR refuses
 * it (401: revoked, or expired before its `expires_in` said): without this a worker whose cached token the EHR stopped
 * honouring would fail every job until the token's time ran out. The first run wrote nothing before the refusal, or
 * the second finds what it wrote (the writes are conditional: one report). Any other failure is the job's.
 */
export function retriedWithFreshToken(run: AnalysisRunner, tokens: BackendTokens): AnalysisRunner {
  return async (data, token, controls) => {
    try {
      return await run(data, token, controls);
    } catch (error) {
      if (upstreamStatusOf(error) !== 401 || controls.signal.aborted) throw error;
      tokens.forget(data.fhirBaseUrl, token);
      return run(data, await tokens.tokenFor(data.fhirBaseUrl), controls);
    }
  };
}

function upstreamStatusOf(error: unknown): number | undefined {
  if (error instanceof UpstreamRequestError) return error.status;
  if (error instanceof PipelineError && error.kind === 'upstream') return error.upstream?.status;
  return undefined;
}
