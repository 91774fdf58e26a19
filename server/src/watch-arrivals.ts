/**
 * Wires the arrival watcher (arrival/arrival-watcher.ts, docs/deploy.md §Analyze on arrival) from the configuration,
 * for the processes that run analyses: the app server without REDIS_URL (the only process; cursor in
 * ARRIVAL_CURSOR_FILE), and with REDIS_URL each worker process and the app server when it runs a worker
 * (RUN_WORKER_IN_API) — Redis keeps the cursor and lets one of them read each EHR. Nothing else lives here.
 */
import type { Logger } from 'pino';
import type { Router } from 'express';
import type { ArrivalObserver } from './arrival/arrival-metrics';
import { createArrivalWatcher, type ArrivalWatcher } from './arrival/arrival-watcher';
import { createFileArrivalStore, type ArrivalStore } from './arrival/arrival-store';
import { arrivalNotificationRouter } from './arrival/notification-router';
import { createRedisArrivalStore } from './arrival/redis-arrival-store';
import { createSubscriptionRegistrar, NOTIFICATION_PATH, SUBSCRIPTION_SCOPE } from './arrival/subscription';
import { loadCdsCodes, triggerCodes } from './cds-hooks/trigger-codes';
import type { AppConfig } from './config';
import {
  backendRegistrationFor,
  backendTokensFor,
  createBackendTokens,
  type BackendTokens,
} from './http/backend-services';
import type { ClientKey } from './http/client-key';
import type { AnalysisJobs, AnalysisRunner } from './jobs/analysis-jobs';
import { findOwnAnalysis, type AnalyzeDependencies } from './pipeline/analyze-study';
import { retriedWithFreshToken } from './worker';

export interface ArrivalWiring {
  logger: Logger;
  /** The pipeline's stages of this process (its FHIR client, its model session). */
  deps: AnalyzeDependencies;
  clientKey: () => Promise<ClientKey>;
  /** Where the watcher submits its analyses: this process's engine, or the Redis queue. */
  jobs: Pick<AnalysisJobs, 'submit' | 'get'>;
  /** This process's arrival metrics (http/metrics.ts). */
  observe?: ArrivalObserver;
}

export interface RunningArrivals {
  watcher: ArrivalWatcher;
  store: ArrivalStore;
  close(): Promise<void>;
}

/** The store of this deployment's shape: Redis with REDIS_URL, else the cursor file. */
export function arrivalStoreFor(config: AppConfig): ArrivalStore {
  return config.REDIS_URL
    ? createRedisArrivalStore(config.REDIS_URL)
    : createFileArrivalStore(config.ARRIVAL_CURSOR_FILE);
}

/** Starts watching every trusted EHR, or nothing when ANALYZE_ON_ARRIVAL is off. */
export function startArrivalWatcher(config: AppConfig, wiring: ArrivalWiring): RunningArrivals | undefined {
  if (config.ANALYZE_ON_ARRIVAL === 'off') return undefined;
  const { logger, deps } = wiring;
  const store = arrivalStoreFor(config);
  const tokens = backendTokensFor(config, wiring.clientKey);
  // Read once at start: a file that cannot be read stops the start with its name, as for the CDS services.
  const codes = triggerCodes(loadCdsCodes(config.CDS_CODES_FILE));
  // Managing the Subscription takes a token of its own (SUBSCRIPTION_SCOPE): the analyses' scopes stay as they are.
  const subscriptionTokens = createBackendTokens({
    clientKey: wiring.clientKey,
    registrationFor: (base) => ({ clientId: backendRegistrationFor(config, base).clientId, scope: SUBSCRIPTION_SCOPE }),
  });
  const subscriptions =
    config.ANALYZE_ON_ARRIVAL === 'poll'
      ? undefined
      : createSubscriptionRegistrar({
          endpoint: `${config.APP_BASE_URL}${NOTIFICATION_PATH}`,
          store,
          subscriptionToken: (fhirBaseUrl) => subscriptionTokens.tokenFor(fhirBaseUrl),
          fhirClient: deps.fhirClient,
        });
  const watcher = createArrivalWatcher({
    ehrs: config.EHRS,
    mode: config.ANALYZE_ON_ARRIVAL,
    pollIntervalMs: config.ARRIVAL_POLL_INTERVAL_S * 1000,
    recheckIntervalMs: config.ARRIVAL_RECHECK_INTERVAL_S * 1000,
    backfillMs: config.ARRIVAL_BACKFILL_HOURS * 3600 * 1000,
    store,
    jobs: wiring.jobs,
    systemToken: (fhirBaseUrl, refused) => {
      if (refused !== undefined) tokens.forget(fhirBaseUrl, refused);
      return tokens.tokenFor(fhirBaseUrl);
    },
    fhirClient: deps.fhirClient,
    findOwnAnalysis: (request) => findOwnAnalysis({ ...request, modelDir: config.MODEL_DIR }, deps),
    isLumbarMri: (study) => codes.isLumbarMri(study),
    storeStructuredReport: config.SR_STOW,
    ...(subscriptions ? { subscriptions } : {}),
    log: (level, fields, message) => {
      logger[level](fields, message);
    },
    ...(wiring.observe ? { observe: wiring.observe } : {}),
  });
  return {
    watcher,
    store,
    async close() {
      await watcher.close();
      await store.close();
    },
  };
}

/**
 * POST /arrivals/notify, where the EHR's rest-hook Subscription notifies (arrival/notification-router.ts), for every
 * API process when ANALYZE_ON_ARRIVAL may use a Subscription: it checks the secret against the arrival store — this
 * process's watcher's, or with REDIS_URL a Redis store of its own — and wakes the watcher that reads that EHR.
 */
export function startArrivalNotifications(
  config: AppConfig,
  logger: Logger,
  arrivals: RunningArrivals | undefined,
): { router: Router; close(): Promise<void> } | undefined {
  if (config.ANALYZE_ON_ARRIVAL === 'off' || config.ANALYZE_ON_ARRIVAL === 'poll') return undefined;
  const store = arrivals?.store ?? arrivalStoreFor(config);
  const owned = store !== arrivals?.store;
  return {
    router: arrivalNotificationRouter({
      store,
      fhirBaseUrls: config.FHIR_BASE_URLS,
      log: (level, fields, message) => {
        logger[level](fields, message);
      },
    }),
    close: async () => {
      if (owned) await store.close();
    },
  };
}

/**
 * The in-process engine's runner, for system jobs too: a job submitted without a user's token — the arrival watcher's
 * — runs with the server's own SMART Backend Services token for the job's EHR (docs/deploy.md §Worker authorization),
 * as a queue worker's would; a user's job runs with that user's token, as before. Only server code submits without a
 * token: the API always hands the verified user's. When the EHR refuses the server's token (401: revoked, or expired
 * before its `expires_in`), the analysis is run once more with a fresh one — it wrote nothing before the refusal, or
 * its conditional creates find what it wrote.
 */
export function withOwnTokenForSystemJobs(run: AnalysisRunner, tokens: BackendTokens): AnalysisRunner {
  const withOwnToken = retriedWithFreshToken(run, tokens);
  return async (data, accessToken, controls) =>
    accessToken !== ''
      ? run(data, accessToken, controls)
      : withOwnToken(data, await tokens.tokenFor(data.fhirBaseUrl), controls);
}
