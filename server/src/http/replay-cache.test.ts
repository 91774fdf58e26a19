import { describe, expect, it } from 'vitest';
import { createMemoryReplayCache, replayTtlMs, type ReplayCache } from './replay-cache';

describe('createMemoryReplayCache', () => {
  it('when a key is used again within its time to live, then the second use is seen', async () => {
    let now = 1_000_000;
    const cache: ReplayCache = createMemoryReplayCache({ now: () => now });
    expect(await cache.seen('iss jti-1', 60_000)).toBe(false);
    now += 59_000;
    expect(await cache.seen('iss jti-1', 60_000)).toBe(true);
    expect(await cache.seen('iss jti-2', 60_000)).toBe(false);
  });

  it('when the time to live has passed, then its key is forgotten', async () => {
    let now = 1_000_000;
    const cache = createMemoryReplayCache({ now: () => now });
    const ttl = replayTtlMs(now / 1000 + 60, 30, now);
    expect(ttl).toBe(90_000);
    expect(await cache.seen('iss jti', ttl)).toBe(false);
    now += 89_000;
    expect(await cache.seen('iss jti', ttl)).toBe(true);
    now += 2_000;
    expect(await cache.seen('iss jti', ttl)).toBe(false);
  });

  it('when more keys arrive than it may hold, then the least recently seen is forgotten first', async () => {
    const cache = createMemoryReplayCache({ max: 2 });
    await cache.seen('a', 300_000);
    await cache.seen('b', 300_000);
    await cache.seen('c', 300_000);
    expect(await cache.seen('c', 300_000)).toBe(true);
    expect(await cache.seen('a', 300_000)).toBe(false);
  });
});
