/**
 * /healthz and /readyz on the real app server: alive whatever its state; ready only when the model opens, the panel
 * is built and, with REDIS_URL, the job queue's Redis answers (a real redis-server); a missing model or panel, or a
 * Redis that does not answer, is 503 with a sentence naming it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL_DIR } from '../../../models/tiny/tiny-model';
import { findFreePort } from '../cli/free-port';
import { startRedisServer, type RedisServer } from '../../../test/support/redis-server';
import { startAppServer, type RunningServer } from '../app';
import { loadConfig } from '../config';

interface Readiness {
  status: string;
  reason?: string;
  checks: {
    model: { ok: boolean; detail: string };
    configuration: { ok: boolean; detail: string };
    queue?: { ok: boolean; detail: string };
  };
  warnings?: string[];
}

let dir: string;
const servers: RunningServer[] = [];

async function startWith(env: Record<string, string>): Promise<RunningServer> {
  const server = await startAppServer(
    loadConfig({
      APP_PORT: '0',
      FHIR_BASE_URLS: 'http://127.0.0.1:9/fhir',
      CDS_CLIENTS_FILE: path.join(dir, 'no-cds-clients.json'),
      DECODE_THREADS: '0',
      LOG_LEVEL: 'silent',
      ...env,
    }),
  );
  servers.push(server);
  return server;
}

/** /readyz, asked again while the model is still loading (the first probe starts the load). */
async function readiness(server: RunningServer): Promise<{ status: number; body: Readiness }> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${server.url}/readyz`);
    const body = (await response.json()) as Readiness;
    if (body.reason !== 'The model is still loading.' || attempt >= 30) return { status: response.status, body };
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

let ready: RunningServer;
let withoutModel: RunningServer;
let withoutPanel: RunningServer;
let redis: RedisServer;
let queued: RunningServer;
let redisAway: RunningServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-health-'));
  const clientDist = path.join(dir, 'dist');
  await mkdir(clientDist);
  await writeFile(path.join(clientDist, 'index.html'), '<!doctype html><title>ldh-cds</title>');
  const emptyModel = path.join(dir, 'empty-model');
  await mkdir(emptyModel);
  ready = await startWith({ MODEL_DIR: TINY_MODEL_DIR, CLIENT_DIST_DIR: clientDist });
  withoutModel = await startWith({ MODEL_DIR: emptyModel, CLIENT_DIST_DIR: clientDist });
  withoutPanel = await startWith({ MODEL_DIR: TINY_MODEL_DIR, CLIENT_DIST_DIR: path.join(dir, 'not-built') });
  redis = await startRedisServer();
  const keyFile = path.join(dir, 'client-key.json');
  queued = await startWith({
    MODEL_DIR: TINY_MODEL_DIR,
    CLIENT_DIST_DIR: clientDist,
    REDIS_URL: redis.url,
    CLIENT_KEY_FILE: keyFile,
  });
  redisAway = await startWith({
    MODEL_DIR: TINY_MODEL_DIR,
    CLIENT_DIST_DIR: clientDist,
    REDIS_URL: `redis://127.0.0.1:${await findFreePort()}`,
    RUN_WORKER_IN_API: 'false',
    CLIENT_KEY_FILE: keyFile,
  });
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('GET /healthz', () => {
  it('when the process serves, then it is alive (200), even with no model and no panel', async () => {
    for (const server of [ready, withoutModel, withoutPanel]) {
      const response = await fetch(`${server.url}/healthz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'alive' });
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
  });
});

describe('GET /readyz', () => {
  it('when the model opens and the panel is built, then 200 ready, naming the model (and warning of no CDS client)', async () => {
    const { status, body } = await readiness(ready);
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.model.ok).toBe(true);
    expect(body.checks.model.detail).toMatch(/^msu-ldh-phantom 0\.1\.0 on /);
    expect(body.checks.configuration).toEqual({ ok: true, detail: 'valid' });
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings?.[0]).toMatch(/CDS_CLIENTS_FILE names no trusted CDS client/);
  });

  it('when the model folder has no model, then 503 with the reason', async () => {
    const { status, body } = await readiness(withoutModel);
    expect(status).toBe(503);
    expect(body.status).toBe('not ready');
    expect(body.checks.model.ok).toBe(false);
    expect(body.reason).toMatch(/manifest\.json/);
  });

  it('when the panel is not built, then 503 naming CLIENT_DIST_DIR', async () => {
    const { status, body } = await readiness(withoutPanel);
    expect(status).toBe(503);
    expect(body.checks.model.ok).toBe(true);
    expect(body.checks.configuration.ok).toBe(false);
    expect(body.reason).toMatch(/^CLIENT_DIST_DIR \(.*not-built\) has no index\.html/);
  });

  it('when analyses queue in Redis and Redis answers, then ready, with the queue check and the worker connections', async () => {
    const { status, body } = await readiness(queued);
    expect(status).toBe(200);
    expect(body.checks.queue?.ok).toBe(true);
    // The API process runs a worker too (RUN_WORKER_IN_API defaults to true).
    expect(body.checks.queue?.detail).toMatch(
      /^Redis at redis:\/\/127\.0\.0\.1:\d+ answers; [1-9]\d* worker connections?\.$/,
    );
  });

  it('when Redis does not answer, then 503 naming REDIS_URL, while the process stays alive', async () => {
    const { status, body } = await readiness(redisAway);
    expect(status).toBe(503);
    expect(body.checks.model.ok).toBe(true);
    expect(body.checks.queue?.ok).toBe(false);
    expect(body.reason).toMatch(/The job queue cannot be reached: Redis at redis:\/\/127\.0\.0\.1:\d+ \(REDIS_URL\)/);
    expect((await fetch(`${redisAway.url}/healthz`)).status).toBe(200);
  });
});
