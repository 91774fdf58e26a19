/**
 * Liveness and readiness, for a load balancer or an orchestrator (Kubernetes' probes read only the status):
 *
 *   GET /healthz   200 `{ "status": "alive" }` whenever the process serves HTTP at all.
 *   GET /readyz    200 `{ "status": "ready", checks }` when the model opens (the detector session loads, or is
 *                  loaded), the configuration the server can only check at run time holds (the built panel is
 *                  there) and, with REDIS_URL, the job queue's Redis answers (`checks.queue`, with the number of
 *                  worker connections); else 503 `{ "status": "not ready", reason, checks }` with a sentence per
 *                  failed check.
 *
 * Neither needs a token, and neither says anything about a patient: model name and version, the configuration's
 * problems in words. The first /readyz starts loading the model; while it loads, /readyz answers 503 "loading".
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';

export interface ModelSummary {
  id: string;
  version: string;
  executionProvider: string;
}

export interface ConfigurationReport {
  /** Sentences naming the key and what is wrong: the server cannot do its work (not ready). */
  problems: string[];
  /** Sentences about what works less than it could (still ready). */
  warnings: string[];
}

export interface HealthRouterOptions {
  /** Opens the detector session (or returns the one already open). */
  model: () => Promise<ModelSummary>;
  configuration: () => ConfigurationReport;
  /** How long /readyz waits for the model before it answers "still loading" (default 2,000 ms). */
  modelWaitMs?: number;
  /** With REDIS_URL: whether the job queue's Redis answers (jobs/bullmq-jobs.ts `health`). */
  queue?: () => Promise<CheckResult>;
}

export interface CheckResult {
  ok: boolean;
  detail: string;
}

/** What the app server can only check at run time, from its configuration (config.ts validated the rest at start). */
export function configurationReport(facts: { clientDistDir: string; trustedCdsClients: number }): ConfigurationReport {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!existsSync(path.join(facts.clientDistDir, 'index.html')))
    problems.push(
      `CLIENT_DIST_DIR (${facts.clientDistDir}) has no index.html: the panel cannot be served (run npm run build).`,
    );
  if (facts.trustedCdsClients === 0)
    warnings.push('CDS_CLIENTS_FILE names no trusted CDS client: every CDS Hooks call is refused.');
  return { problems, warnings };
}

const LOADING = Symbol('loading');

async function checkModel(options: HealthRouterOptions): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<typeof LOADING>((resolve) => {
    timer = setTimeout(() => {
      resolve(LOADING);
    }, options.modelWaitMs ?? 2000);
  });
  try {
    const model = await Promise.race([options.model(), waited]);
    if (model === LOADING) return { ok: false, detail: 'The model is still loading.' };
    return { ok: true, detail: `${model.id} ${model.version} on ${model.executionProvider}` };
  } catch (error) {
    // ModelLoadError and manifest errors name the file and the field; nothing of a patient.
    return { ok: false, detail: error instanceof Error ? error.message : 'The model cannot be loaded.' };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(options: HealthRouterOptions): Router {
  const handleHealthz: RequestHandler = (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'alive' });
  };

  const handleReadyz: RequestHandler = async (_req, res) => {
    const model = await checkModel(options);
    const { problems, warnings } = options.configuration();
    const configuration: CheckResult =
      problems.length === 0 ? { ok: true, detail: 'valid' } : { ok: false, detail: problems.join(' ') };
    const queue = options.queue ? await options.queue() : undefined;
    const failed = [model, configuration, ...(queue ? [queue] : [])]
      .filter((check) => !check.ok)
      .map((check) => check.detail);
    res
      .status(failed.length === 0 ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({
        status: failed.length === 0 ? 'ready' : 'not ready',
        ...(failed.length === 0 ? {} : { reason: failed.join(' ') }),
        checks: { model, configuration, ...(queue ? { queue } : {}) },
        ...(warnings.length === 0 ? {} : { warnings }),
      });
  };

  const router = Router();
  router.get('/healthz', handleHealthz);
  router.get('/readyz', handleReadyz);
  return router;
}
