import { afterEach, describe, expect, it } from 'vitest';
import type { DetectorSession } from '../inference/detector-session';
import { createProcessMetrics, detectorWithMetrics, startMetricsServer, type MetricsServer } from './metrics';

const TOKEN = 'a-monitoring-token-of-some-length';
const servers: MetricsServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(token?: string) {
  const metrics = createProcessMetrics();
  const server = await startMetricsServer({ registry: metrics.registry, port: 0, host: '127.0.0.1', token });
  servers.push(server);
  return { metrics, server };
}

describe('the metrics listener', () => {
  it('when Prometheus scrapes /metrics, then it gets the text format with the process and job metrics, prefixed', async () => {
    const { server } = await serve();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await response.text();
    expect(text).toMatch(/^ldh_cds_process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^ldh_cds_nodejs_eventloop_lag_seconds \d/m);
    expect(text).toContain('ldh_cds_analysis_jobs_finished_total{state="completed"} 0');
  });

  it('when anything but GET /metrics is asked, then 404 or 405, and no metric', async () => {
    const { server } = await serve();
    const other = await fetch(server.url.replace('/metrics', '/api/analyses'));
    expect(other.status).toBe(404);
    expect(await other.text()).not.toContain('ldh_cds_');
    const post = await fetch(server.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('when METRICS_TOKEN is set, then a scrape without it or with another is 401, and with it 200', async () => {
    const { server } = await serve(TOKEN);
    const without = await fetch(server.url);
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toBe('Bearer realm="ldh-cds metrics"');
    expect(await without.text()).not.toContain('ldh_cds_');
    const wrong = await fetch(server.url, { headers: { Authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(server.url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('ldh_cds_analysis_errors_total');
  });

  it('when two apps in one process each have a registry, then neither sees the other', async () => {
    const one = await serve();
    const two = await serve();
    one.metrics.jobs.jobQueued();
    expect(await (await fetch(one.server.url)).text()).toMatch(/^ldh_cds_analysis_jobs_queued_total 1$/m);
    expect(await (await fetch(two.server.url)).text()).toMatch(/^ldh_cds_analysis_jobs_queued_total 0$/m);
  });
});

describe('detectorWithMetrics', () => {
  it('when the model session opens, then the provider it runs on, the setting and the model are gauges of 1', async () => {
    const metrics = createProcessMetrics();
    const session = { executionProvider: 'cpu', manifest: { id: 'msu-ldh', version: '1.8.0' } } as DetectorSession;
    const detector = detectorWithMetrics(() => Promise.resolve(session), metrics, 'auto');
    expect(await metrics.registry.metrics()).not.toContain('ldh_cds_inference_execution_provider{');
    await detector('models/msu-ldh/1.8.0');
    const text = await metrics.registry.metrics();
    expect(text).toContain('ldh_cds_inference_execution_provider{provider="cpu",requested="auto"} 1');
    expect(text).toContain('ldh_cds_model_info{model="msu-ldh",version="1.8.0"} 1');
  });
});
