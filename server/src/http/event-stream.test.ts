/**
 * The Server-Sent Events stream through a real Express app on loopback, read as a client reads it (fetch streaming):
 * the headers that keep caches and proxies from holding events back, `retry:` first, `id:` and `event:` on each event,
 * multi-line data as several `data:` lines, heartbeat comments, at most one event per interval with a waiting event
 * replaced by a newer one of the same key (never of another), and the end after what waits has gone out.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatEvent, openEventStream } from './event-stream';

let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  // A burst: three counts of one stage, then another stage, then the end — all in one turn.
  app.get('/burst', (req, res) => {
    const stream = openEventStream(req, res, { minIntervalMs: 100, heartbeatMs: 60_000 });
    stream.send({ id: '1', event: 'snapshot', data: '{"n":0}' });
    for (let n = 1; n <= 3; n++)
      stream.send({ id: String(n + 1), event: 'progress', data: `{"n":${n}}`, coalesce: 'a' });
    stream.send({ id: '5', event: 'progress', data: '{"n":4}', coalesce: 'b' });
    stream.send({ id: '6', event: 'completed', data: 'line one\nline two' });
    stream.end();
  });
  // Quiet: only heartbeats until the client leaves.
  app.get('/quiet', (req, res) => {
    openEventStream(req, res, { heartbeatMs: 50, retryMs: 1234 });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
});

/** The stream's chunks as they arrive, each with the time it came, until the server ends it. */
async function readAll(
  path: string,
): Promise<{ response: Response; text: string; arrivals: { at: number; text: string }[] }> {
  const response = await fetch(`${base}${path}`);
  const arrivals: { at: number; text: string }[] = [];
  const decoder = new TextDecoder();
  const reader = response.body?.getReader();
  if (!reader) throw new Error('no body');
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    arrivals.push({ at: performance.now(), text: decoder.decode(value, { stream: true }) });
  }
  return { response, text: arrivals.map((arrival) => arrival.text).join(''), arrivals };
}

describe('openEventStream', () => {
  it('when events come in a burst, then the headers are an event stream no one buffers, retry comes first, the waiting count of a stage is replaced by the newest, no stage is skipped, and the stream ends after the last', async () => {
    const { response, text, arrivals } = await readAll('/burst');
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(text.startsWith('retry: 3000\n\n')).toBe(true);
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((match) => match[1]);
    // 2 and 3 waited behind 1 and were replaced by 4 (same key); 5 (another key) and 6 were not.
    expect(ids).toEqual(['1', '4', '5', '6']);
    expect(text).toContain('id: 6\nevent: completed\ndata: line one\ndata: line two\n\n');
    const eventTimes = arrivals.filter((arrival) => arrival.text.includes('id: ')).map((arrival) => arrival.at);
    expect(eventTimes).toHaveLength(4);
    // At most one every 100 ms (a little less on arrival: the network may bunch what was written apart).
    for (let i = 1; i < eventTimes.length; i++) {
      expect((eventTimes[i] ?? 0) - (eventTimes[i - 1] ?? 0)).toBeGreaterThan(60);
    }
  });

  it('when nothing happens, then a heartbeat comment keeps the connection, after the retry time the client is told', async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/quiet`, { signal: controller.signal });
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    const decoder = new TextDecoder();
    let text = '';
    while ((text.match(/^: heartbeat$/gm) ?? []).length < 2) {
      const { value } = await reader.read();
      text += decoder.decode(value, { stream: true });
    }
    controller.abort();
    expect(text.startsWith('retry: 1234\n\n: heartbeat\n\n')).toBe(true);
  });
});

describe('formatEvent', () => {
  it('when the data has line breaks of any kind, then each line is its own data field (WHATWG HTML §9.2.6)', () => {
    expect(formatEvent({ id: '7', event: 'progress', data: 'a\r\nb\rc\nd' })).toBe(
      'id: 7\nevent: progress\ndata: a\ndata: b\ndata: c\ndata: d\n\n',
    );
  });
});
