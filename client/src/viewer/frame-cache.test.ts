import { describe, expect, it } from 'vitest';
import type { FetchFn } from '../api';
import { FrameCache, frameCacheFor, type FrameLoader } from './frame-cache';
import type { DecodedFrame, FrameRef } from './viewer-api';

const refOf = (n: number): FrameRef => ({ seriesInstanceUid: '1.2.3', sopInstanceUid: `1.2.3.${n}`, frame: 1 });

function frameOf(value: number): DecodedFrame {
  return { columns: 1, rows: 1, pixels: Float32Array.from([value]), window: { center: 0, width: 1 } };
}

/** A loader whose answers the test releases one by one, recording the order of requests. */
function controlledLoader(): {
  loader: FrameLoader;
  requested: string[];
  release: (sop: string, outcome?: 'ok' | 'fail') => void;
} {
  const requested: string[] = [];
  const waiting = new Map<string, { resolve: (frame: DecodedFrame) => void; reject: (error: Error) => void }>();
  return {
    requested,
    loader: (ref) =>
      new Promise((resolve, reject) => {
        requested.push(ref.sopInstanceUid);
        waiting.set(ref.sopInstanceUid, { resolve, reject });
      }),
    release: (sop, outcome = 'ok') => {
      const entry = waiting.get(sop);
      if (!entry) throw new Error(`${sop} was not requested`);
      waiting.delete(sop);
      if (outcome === 'ok') entry.resolve(frameOf(Number(sop.split('.').pop())));
      else entry.reject(new Error('HTTP 502'));
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe('FrameCache', () => {
  it('when the key slice is loaded and the stack prefetched, then the key slice is asked for first and the rest a few at a time', async () => {
    const { loader, requested, release } = controlledLoader();
    const cache = new FrameCache(loader, { concurrency: 2 });
    const key = cache.load(refOf(3));
    const rest = cache.prefetch([1, 2, 4, 5].map(refOf));
    expect(requested).toEqual(['1.2.3.3', '1.2.3.1']);
    release('1.2.3.3');
    expect((await key).pixels[0]).toBe(3);
    expect(requested).toEqual(['1.2.3.3', '1.2.3.1', '1.2.3.2']);
    for (const sop of ['1.2.3.1', '1.2.3.2', '1.2.3.4', '1.2.3.5']) {
      release(sop);
      await tick();
    }
    await rest;
    expect(cache.size).toBe(5);
    expect(cache.get(refOf(5))?.pixels[0]).toBe(5);
  });

  it('when a queued slice is asked for now, then it jumps the queue; the same frame is fetched once', async () => {
    const { loader, requested, release } = controlledLoader();
    const cache = new FrameCache(loader, { concurrency: 1 });
    void cache.prefetch([1, 2, 3, 4].map(refOf));
    const wanted = cache.load(refOf(4));
    const again = cache.load(refOf(4));
    release('1.2.3.1');
    await tick();
    expect(requested).toEqual(['1.2.3.1', '1.2.3.4']);
    release('1.2.3.4');
    expect(await wanted).toBe(await again);
  });

  it('when a frame is cached, then it is answered without a request', async () => {
    let calls = 0;
    const cache = new FrameCache((ref) => {
      calls += 1;
      return Promise.resolve(frameOf(Number(ref.sopInstanceUid.split('.').pop())));
    });
    await cache.load(refOf(1));
    await cache.load(refOf(1));
    await cache.prefetch([refOf(1)]);
    expect(calls).toBe(1);
  });

  it('when a load fails, then the error reaches the caller, nothing is cached and the next ask retries', async () => {
    const { loader, requested, release } = controlledLoader();
    const cache = new FrameCache(loader);
    const first = cache.load(refOf(7));
    release('1.2.3.7', 'fail');
    await expect(first).rejects.toThrow('HTTP 502');
    expect(cache.has(refOf(7))).toBe(false);
    const second = cache.load(refOf(7));
    release('1.2.3.7');
    await expect(second).resolves.toBeDefined();
    expect(requested).toEqual(['1.2.3.7', '1.2.3.7']);
  });

  it('keeps at most maxFrames, dropping the least recently used', async () => {
    const cache = new FrameCache((ref) => Promise.resolve(frameOf(Number(ref.sopInstanceUid.split('.').pop()))), {
      maxFrames: 2,
    });
    await cache.load(refOf(1));
    await cache.load(refOf(2));
    cache.get(refOf(1));
    await cache.load(refOf(3));
    expect([cache.has(refOf(1)), cache.has(refOf(2)), cache.has(refOf(3))]).toEqual([true, false, true]);
  });
});

describe('frameCacheFor', () => {
  it('gives one cache per app server, EHR and study for the session, and loads through the API with the latest token', async () => {
    const urls: string[] = [];
    const tokens: string[] = [];
    const fetch: FetchFn = (url, init) => {
      urls.push(url);
      tokens.push((init?.headers as Record<string, string>).Authorization ?? '');
      return Promise.resolve(
        new Response(new Float32Array([42]).buffer, {
          headers: { 'X-Columns': '1', 'X-Rows': '1', 'X-Window-Center': '40', 'X-Window-Width': '80' },
        }),
      );
    };
    const base = 'http://localhost:3000/index.html';
    const session = { accessToken: 'tok-1', fhirServer: 'http://ehr/fhir' };
    const cache = frameCacheFor(session, base, 'study-cache-test', { fetch });
    expect(frameCacheFor({ ...session, accessToken: 'tok-2' }, base, 'study-cache-test', { fetch })).toBe(cache);
    expect(frameCacheFor(session, base, 'another-study', { fetch })).not.toBe(cache);
    const frame = await cache.load(refOf(9));
    expect(Array.from(frame.pixels)).toEqual([42]);
    expect(tokens).toEqual(['Bearer tok-2']);
    expect(urls[0]).toBe(
      'http://localhost:3000/api/frames?imagingStudy=ImagingStudy%2Fstudy-cache-test&series=1.2.3&instance=1.2.3.9&frame=1',
    );
  });
});
