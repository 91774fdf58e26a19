/**
 * Prometheus metrics (issue 23, Operations): one registry per process — per app, so that tests that start several
 * apps in one process keep theirs apart — with the job engines' metrics (jobs/job-metrics.ts), the model session's
 * execution provider and model version, and Node's process metrics (prom-client's default ones), all prefixed
 * `ldh_cds_`. docs/deploy.md §What to monitor and alert on names each and what to alert on.
 *
 * Served on a listener of its own (METRICS_PORT for the API process, WORKER_METRICS_PORT for a worker, on
 * METRICS_HOST), never on the app's port: the load balancer in front of the app never forwards it, and the monitoring
 * network reaches the port the firewall opens to Prometheus only (docs/security.md §Metrics). METRICS_TOKEN, where
 * set, is a bearer token Prometheus sends (`authorization: { credentials_file: … }`) for a monitoring network shared
 * with others. The metrics hold no patient, study, UID, user or token: their labels come from closed lists.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { createJobMetrics, type JobMetrics } from '../jobs/job-metrics';
import type { AnalyzeDependencies } from '../pipeline/analyze-study';

export interface ProcessMetrics {
  registry: Registry;
  jobs: JobMetrics;
  /** Records the model session this process opened: its provider (and the INFERENCE_EP that chose it) and model. */
  sessionOpened(session: SessionFacts, requested: string): void;
}

interface SessionFacts {
  executionProvider: string;
  manifest: { id: string; version: string };
}

export function createProcessMetrics(): ProcessMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ldh_cds_' });
  const provider = new Gauge({
    name: 'ldh_cds_inference_execution_provider',
    help: 'The onnxruntime execution provider the model session runs on (1), and the INFERENCE_EP setting that chose it.',
    labelNames: ['provider', 'requested'] as const,
    registers: [registry],
  });
  const model = new Gauge({
    name: 'ldh_cds_model_info',
    help: 'The model this process analyzes with (1): its id and version (MODEL_DIR).',
    labelNames: ['model', 'version'] as const,
    registers: [registry],
  });
  let recorded = '';
  return {
    registry,
    jobs: createJobMetrics(registry),
    sessionOpened(session, requested) {
      // Asked at every analysis (the session is opened once, then reused): set when it changes only.
      const facts = [session.executionProvider, requested, session.manifest.id, session.manifest.version].join(' ');
      if (facts === recorded) return;
      recorded = facts;
      provider.reset();
      provider.set({ provider: session.executionProvider, requested }, 1);
      model.reset();
      model.set({ model: session.manifest.id, version: session.manifest.version }, 1);
    },
  };
}

/** The pipeline's detector, recording each session it opens (a session is opened once and reused: detector-session.ts). */
export function detectorWithMetrics(
  detector: AnalyzeDependencies['detector'],
  metrics: ProcessMetrics,
  requested: string,
): AnalyzeDependencies['detector'] {
  return async (modelDir) => {
    const session = await detector(modelDir);
    metrics.sessionOpened(session, requested);
    return session;
  };
}

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  host: string;
  /** METRICS_TOKEN: when set, a scrape must send `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

export interface MetricsServer {
  /** Where the metrics are: `http://host:port/metrics`. */
  url: string;
  close(): Promise<void>;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** The bearer token compared in constant time (of its SHA-256, so lengths leak nothing either). */
function isAuthorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const match = /^Bearer[ ]+(\S+)$/i.exec(header ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), digest(token));
}

function answer(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

async function handleMetrics(req: IncomingMessage, res: ServerResponse, options: MetricsServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://metrics').pathname;
  if (path !== '/metrics') {
    answer(res, 404, 'Not found: the metrics are at /metrics.\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    answer(res, 405, 'Method not allowed: GET /metrics.\n', { Allow: 'GET, HEAD' });
    return;
  }
  if (!isAuthorized(req.headers.authorization, options.token)) {
    // RFC 6750 §3: a missing or wrong bearer token.
    answer(res, 401, 'Unauthorized: send "Authorization: Bearer <METRICS_TOKEN>".\n', {
      'WWW-Authenticate': 'Bearer realm="ldh-cds metrics"',
    });
    return;
  }
  const text = await options.registry.metrics();
  answer(res, 200, req.method === 'HEAD' ? '' : text, { 'Content-Type': options.registry.contentType });
}

/** Listens on `host:port` (0: any free port) and answers GET /metrics only. */
export function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handleMetrics(req, res, options).catch(() => {
      if (!res.headersSent) answer(res, 500, 'The metrics could not be collected.\n');
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      resolve({
        url: `http://${host}:${port}/metrics`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => {
              if (error) fail(error);
              else done();
            });
            server.closeAllConnections();
          }),
      });
    });
  });
}
