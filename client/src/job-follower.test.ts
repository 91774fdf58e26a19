/**
 * Following a job against a real loopback HTTP server that speaks the jobs API's Server-Sent Events: events in
 * order to the end, chunks cut anywhere, a connection destroyed mid-stream, a stream that ends early or goes quiet,
 * refusals, the fallback to polling, a fresh token per connection, and a stop from the caller.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type AnalysisJob } from './api';
import { backoffDelay, followJob, JobGoneError, type FollowJobOptions, type JobConnection } from './job-follower';
import { someFindings } from './test-factories';

const JOB_ID = '6f1c8e2a-4b7d-4e0f-9a3c-2d5b8e1f7a90';
const EVENTS_PATH = `/api/analyses/jobs/${JOB_ID}/events`;
const JOB_PATH = `/api/analyses/jobs/${JOB_ID}`;

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  fhirServer: string | undefined;
  accept: string | undefined;
  /** The request's connection was closed by the client before the response ended. */
  closed: Promise<void>;
}

let server: Server;
let baseUrl = '';
/** The answers, in order, for each path; the last one repeats. */
const script = new Map<string, Handler[]>();
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    let closeSeen: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      closeSeen = resolve;
    });
    res.on('close', closeSeen);
    seen.push({
      method: req.method ?? '',
      path,
      authorization: req.headers.authorization,
      fhirServer: req.headers['x-fhir-server'] as string | undefined,
      accept: req.headers.accept,
      closed,
    });
    const handlers = script.get(`${req.method ?? ''} ${path}`) ?? [];
    const handler = handlers.length > 1 ? handlers.shift() : handlers[0];
    if (!handler) {
      res.writeHead(500).end();
      return;
    }
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html`;
});

afterEach(() => {
  script.clear();
  seen.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function snapshot(state: AnalysisJob['state'], progress: Partial<AnalysisJob['progress']> = {}, extra = {}) {
  return {
    id: JOB_ID,
    state,
    imagingStudy: 'ImagingStudy/st1',
    model: { id: 'msu-ldh', version: '1.8.0' },
    progress: { stage: 'retrieving', text: 'Retrieving images', ...progress },
    createdAt: '2025-06-03T09:12:01.114Z',
    ...extra,
  };
}

const retrieving = (done: number) =>
  snapshot('running', { stage: 'retrieving', done, total: 40, text: `Retrieving images ${done}/40` });
const result = { findings: someFindings(), diagnosticReport: 'DiagnosticReport/dr1', observations: ['Observation/o1'] };
const completed = () =>
  snapshot('completed', { stage: 'writing-fhir', text: 'Done: 5 levels' }, { result: { ...result, created: true } });

/** One event as the server writes it (server/src/http/event-stream.ts formatEvent). */
function event(id: number, type: string, body: unknown): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(body)}\n\n`;
}

function openStream(res: ServerResponse, retryMs = 20): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  res.write(`retry: ${retryMs}\n\n`);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stream that sends these events, `gapMs` apart, then ends (or stays open when `end` is false). */
function streamOf(events: string[], { gapMs = 5, end = true, retryMs = 20 } = {}): Handler {
  return async (_req, res) => {
    openStream(res, retryMs);
    for (const text of events) {
      await pause(gapMs);
      res.write(text);
    }
    if (end) res.end();
  };
}

function json(status: number, body: unknown): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  };
}

const outcome = (diagnostics: string) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'processing', diagnostics }],
});

interface Run {
  updates: AnalysisJob[];
  connections: JobConnection[];
  promise: Promise<AnalysisJob>;
  controller: AbortController;
}

function follow(overrides: Partial<FollowJobOptions> = {}): Run {
  const updates: AnalysisJob[] = [];
  const connections: JobConnection[] = [];
  const controller = new AbortController();
  const promise = followJob({
    jobId: JOB_ID,
    baseUrl,
    getSession: () => Promise.resolve({ accessToken: 'tok-1', fhirServer: 'http://ehr.example/fhir' }),
    onUpdate: (job) => updates.push(job),
    onConnection: (connection) => connections.push(connection),
    signal: controller.signal,
    timing: { firstRetryMs: 10, maxRetryMs: 50, pollIntervalMs: 10, idleTimeoutMs: 2000 },
    random: () => 0.5,
    ...overrides,
  });
  return { updates, connections, promise, controller };
}

const texts = (updates: AnalysisJob[]) => updates.map((job) => job.progress.text);

describe('following a job by its events', () => {
  it('when the stream brings the snapshot, progress and completed, then each is seen in order and the result ends it', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      streamOf([
        event(2, 'snapshot', retrieving(1)),
        ': heartbeat\n\n',
        event(3, 'progress', retrieving(12)),
        event(
          4,
          'progress',
          snapshot('running', { stage: 'inferring', done: 8, total: 40, text: 'Analyzing slices 8/40' }),
        ),
        event(5, 'completed', completed()),
      ]),
    ]);
    const run = follow();
    const final = await run.promise;
    expect(final.state).toBe('completed');
    expect(final.result?.diagnosticReport).toBe('DiagnosticReport/dr1');
    expect(final.result?.findings.levels).toHaveLength(5);
    expect(texts(run.updates)).toEqual([
      'Retrieving images 1/40',
      'Retrieving images 12/40',
      'Analyzing slices 8/40',
      'Done: 5 levels',
    ]);
    expect(run.connections).toEqual(['streaming']);
    // The token in the header, never in the URL; the FHIR base beside it.
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'GET',
      path: EVENTS_PATH,
      authorization: 'Bearer tok-1',
      fhirServer: 'http://ehr.example/fhir',
      accept: 'text/event-stream',
    });
  });

  it('when the events arrive cut at any byte, then they are read whole', async () => {
    const text = [event(1, 'snapshot', retrieving(3)), event(2, 'completed', completed())].join('');
    script.set(`GET ${EVENTS_PATH}`, [
      async (_req, res) => {
        openStream(res);
        for (let at = 0; at < text.length; at += 7) {
          res.write(text.slice(at, at + 7));
          if (at % 70 === 0) await pause(1);
        }
        res.end();
      },
    ]);
    const run = follow();
    expect((await run.promise).state).toBe('completed');
    expect(texts(run.updates)).toEqual(['Retrieving images 3/40', 'Done: 5 levels']);
  });

  it('when the job failed, then the failed snapshot ends the follow with its status and OperationOutcome', async () => {
    const failed = snapshot(
      'failed',
      { text: 'No axial T2 series' },
      { error: { status: 422, outcome: outcome('No axial T2 series in this study.') } },
    );
    script.set(`GET ${EVENTS_PATH}`, [streamOf([event(1, 'snapshot', retrieving(1)), event(2, 'failed', failed)])]);
    const final = await follow().promise;
    expect(final).toMatchObject({ state: 'failed', error: { status: 422 } });
  });

  it('when the stream ends with events that are not this job’s, or not JSON, then they are skipped', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      streamOf([
        'event: progress\ndata: <html>\n\n',
        event(1, 'progress', { ...retrieving(2), id: 'another-job' }),
        event(2, 'snapshot', retrieving(4)),
        event(3, 'cancelled', snapshot('cancelled', { text: 'Cancelled: nothing was written' })),
      ]),
    ]);
    const run = follow();
    expect((await run.promise).state).toBe('cancelled');
    expect(texts(run.updates)).toEqual(['Retrieving images 4/40', 'Cancelled: nothing was written']);
  });
});

describe('when the stream drops', () => {
  it('when the connection is destroyed mid-stream (a server restart, a proxy cut), then it reconnects and follows to the end', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      async (req, res) => {
        openStream(res, 30);
        res.write(event(1, 'snapshot', retrieving(1)));
        await pause(10);
        res.write(event(2, 'progress', retrieving(5)));
        await pause(10);
        req.socket.destroy();
      },
      streamOf([event(3, 'snapshot', retrieving(9)), event(4, 'completed', completed())]),
    ]);
    const started = performance.now();
    const run = follow();
    expect((await run.promise).state).toBe('completed');
    expect(texts(run.updates)).toEqual([
      'Retrieving images 1/40',
      'Retrieving images 5/40',
      'Retrieving images 9/40',
      'Done: 5 levels',
    ]);
    expect(run.connections).toEqual(['streaming', 'reconnecting', 'streaming']);
    expect(seen.map((request) => request.path)).toEqual([EVENTS_PATH, EVENTS_PATH]);
    // It waited the server's retry (30 ms, the upper half jittered: 23 ms with random 0.5) before reconnecting.
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
  });

  it('when the stream ends before the job did, then it reconnects', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      streamOf([event(1, 'snapshot', retrieving(1))]),
      streamOf([event(2, 'snapshot', retrieving(2)), event(3, 'completed', completed())]),
    ]);
    const run = follow();
    expect((await run.promise).state).toBe('completed');
    expect(seen).toHaveLength(2);
  });

  it('when the stream goes quiet for longer than the idle limit, then it is dropped and opened again', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      streamOf([event(1, 'snapshot', retrieving(1))], { end: false }),
      streamOf([event(2, 'snapshot', retrieving(2)), event(3, 'completed', completed())]),
    ]);
    const run = follow({ timing: { firstRetryMs: 10, maxRetryMs: 50, pollIntervalMs: 10, idleTimeoutMs: 150 } });
    expect((await run.promise).state).toBe('completed');
    expect(seen).toHaveLength(2);
    // The quiet connection was closed by the client.
    await seen[0]?.closed;
  });

  it('when every reconnection gets a new session, then each carries the token the EHR session has now', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      streamOf([event(1, 'snapshot', retrieving(1))]),
      streamOf([event(2, 'completed', completed())]),
    ]);
    let count = 0;
    const run = follow({
      getSession: () => Promise.resolve({ accessToken: `tok-${++count}`, fhirServer: 'http://ehr.example/fhir' }),
    });
    await run.promise;
    expect(seen.map((request) => request.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });
});

describe('when streaming fails again and again', () => {
  it('when the events answer 503 three times, then it polls the job until it ends', async () => {
    script.set(`GET ${EVENTS_PATH}`, [json(503, outcome('busy'))]);
    script.set(`GET ${JOB_PATH}`, [
      json(200, retrieving(20)),
      json(503, outcome('busy')),
      json(200, retrieving(30)),
      json(200, completed()),
    ]);
    const run = follow();
    expect((await run.promise).state).toBe('completed');
    expect(seen.filter((request) => request.path === EVENTS_PATH)).toHaveLength(3);
    expect(seen.filter((request) => request.path === JOB_PATH)).toHaveLength(4);
    expect(texts(run.updates)).toEqual(['Retrieving images 20/40', 'Retrieving images 30/40', 'Done: 5 levels']);
    expect(run.connections).toEqual(['reconnecting', 'polling', 'reconnecting', 'polling']);
    const polls = seen.filter((request) => request.path === JOB_PATH);
    expect(polls.every((request) => request.authorization === 'Bearer tok-1')).toBe(true);
  });

  it('when a proxy answers the events with a page, not a stream, then that counts as a failure and it ends up polling', async () => {
    script.set(`GET ${EVENTS_PATH}`, [
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>Gateway</html>');
      },
    ]);
    script.set(`GET ${JOB_PATH}`, [json(200, completed())]);
    const run = follow();
    expect((await run.promise).state).toBe('completed');
    expect(run.connections).toEqual(['reconnecting', 'polling']);
  });

  it('when nothing listens any more, then network errors count like the rest, and polling reports the job gone on 404', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    // Nothing listens there: every stream fails to connect; the polls go to the fake fetch below.
    const run = follow({
      baseUrl: `http://127.0.0.1:${port}/index.html`,
      fetch: (url, init) =>
        url.endsWith('/events')
          ? fetch(url, init)
          : Promise.resolve(new Response(JSON.stringify(outcome('No analysis job with this id')), { status: 404 })),
    });
    const error = await run.promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobGoneError);
    expect((error as JobGoneError).status).toBe(404);
    expect((error as JobGoneError).message).toMatch(/no longer knows this analysis/);
  });

  it('when the connection breaks while the body is read (a fetch whose stream errors), then it reconnects', async () => {
    let calls = 0;
    const fakeFetch: FollowJobOptions['fetch'] = () => {
      calls += 1;
      if (calls === 1) {
        // One event, then the connection breaks (erroring at once would drop the queued event).
        let pulls = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            pulls += 1;
            if (pulls === 1) controller.enqueue(new TextEncoder().encode(event(1, 'snapshot', retrieving(7))));
            else controller.error(new TypeError('network error'));
          },
        });
        return Promise.resolve(new Response(body, { headers: { 'Content-Type': 'text/event-stream' } }));
      }
      return Promise.resolve(
        new Response(event(2, 'completed', completed()), { headers: { 'Content-Type': 'text/event-stream' } }),
      );
    };
    const run = follow({ fetch: fakeFetch });
    expect((await run.promise).state).toBe('completed');
    expect(calls).toBe(2);
    expect(texts(run.updates)).toEqual(['Retrieving images 7/40', 'Done: 5 levels']);
  });
});

describe('refusals and stopping', () => {
  it('when the server does not know the job (404), then JobGoneError at once, without retrying', async () => {
    script.set(`GET ${EVENTS_PATH}`, [json(404, outcome('No analysis job with this id is known to this session'))]);
    const error = await follow().promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobGoneError);
    expect(seen).toHaveLength(1);
  });

  it('when the token is refused (401), then an unauthorized ApiError at once, without retrying', async () => {
    script.set(`GET ${EVENTS_PATH}`, [json(401, outcome('The access token has expired.'))]);
    const error = await follow().promise.catch((e: unknown) => e);
    expect(error instanceof ApiError && error.isUnauthorized).toBe(true);
    expect((error as ApiError).message).toBe('The access token has expired.');
    expect(seen).toHaveLength(1);
  });

  it('when the session cannot be had (expired, not refreshable), then that error ends the follow', async () => {
    const expired = Object.assign(new Error('The SMART access token has expired'), { name: 'SessionExpiredError' });
    const error = await follow({ getSession: () => Promise.reject(expired) }).promise.catch((e: unknown) => e);
    expect(error).toBe(expired);
    expect(seen).toHaveLength(0);
  });

  it('when the caller stops (the panel goes away), then the follow ends with an AbortError and the stream is closed', async () => {
    script.set(`GET ${EVENTS_PATH}`, [streamOf([event(1, 'snapshot', retrieving(1))], { end: false })]);
    const run = follow();
    await expect.poll(() => run.updates.length).toBe(1);
    run.controller.abort();
    const error = await run.promise.catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    await seen[0]?.closed;
  });

  it('when the caller stops while it waits to reconnect, then it ends at once', async () => {
    script.set(`GET ${EVENTS_PATH}`, [json(503, outcome('busy'))]);
    const run = follow({ timing: { firstRetryMs: 10_000, maxRetryMs: 10_000 } });
    await expect.poll(() => run.connections).toEqual(['reconnecting']);
    const started = performance.now();
    run.controller.abort();
    expect(((await run.promise.catch((e: unknown) => e)) as Error).name).toBe('AbortError');
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('backoff', () => {
  it('doubles from the base at each failure in a row, up to the ceiling, with the upper half jittered', () => {
    const [low, high] = [() => 0, () => 0.999];
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 1000, 10_000, low))).toEqual([
      500, 1000, 2000, 4000, 5000, 5000,
    ]);
    expect([1, 2, 3].map((n) => backoffDelay(n, 1000, 10_000, high))).toEqual([1000, 1999, 3998]);
  });
});
