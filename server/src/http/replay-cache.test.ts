import { describe, expect, it } from 'vitest';
import { createMemoryReplayCache, ReplayCacheFullError, replayTtlMs, type ReplayCache } from './replay-cache';

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
    const ttl = replayTtlMs({ expiresAtS: now / 1000 + 60 }, { clockToleranceS: 30 }, now);
    expect(ttl).toBe(91_000);
    expect(await cache.seen('iss jti', ttl)).toBe(false);
    now += 90_000;
    expect(await cache.seen('iss jti', ttl)).toBe(true);
    now += 1_001;
    expect(await cache.seen('iss jti', ttl)).toBe(false);
  });

  it('when it is full of unexpired keys, then a new key is refused and no remembered one is forgotten', async () => {
    let now = 1_000_000;
    const cache = createMemoryReplayCache({ max: 2, now: () => now });
    await cache.seen('a', 300_000);
    await cache.seen('b', 300_000);
    await expect(cache.seen('c', 300_000)).rejects.toBeInstanceOf(ReplayCacheFullError);
    // Before: the least recently seen key was evicted for 'c', and 'a' could be used again.
    expect(await cache.seen('a', 300_000)).toBe(true);
    expect(await cache.seen('b', 300_000)).toBe(true);
    now += 300_001;
    expect(await cache.seen('c', 300_000)).toBe(false);
  });

  it('when full, then expired keys are swept to make room, at most once a second', async () => {
    let now = 1_000_000;
    const cache = createMemoryReplayCache({ max: 2, now: () => now });
    await cache.seen('short', 500);
    await cache.seen('long', 300_000);
    // The first refusal swept nothing yet ('short' still lives); the next sweep is allowed a second later.
    await expect(cache.seen('c', 300_000)).rejects.toBeInstanceOf(ReplayCacheFullError);
    now += 600;
    await expect(cache.seen('c', 300_000)).rejects.toBeInstanceOf(ReplayCacheFullError);
    now += 400;
    expect(await cache.seen('c', 300_000)).toBe(false);
    expect(await cache.seen('long', 300_000)).toBe(true);
  });
});

describe('replayTtlMs', () => {
  const limits = { maxAgeS: 300, clockToleranceS: 30 };

  it('when the token expires before its age limit, then until its exp plus the tolerance and the whole second', () => {
    expect(replayTtlMs({ expiresAtS: 1_060, issuedAtS: 1_000 }, limits, 1_000_000)).toBe(91_000);
  });

  it('when the token’s exp is far off, then only until iat + the largest age accepted, plus the tolerance and the whole second', () => {
    // Before: a token with exp a day away kept its jti for a day, though it is refused by age after 5½ minutes.
    expect(replayTtlMs({ expiresAtS: 1_000 + 86_400, issuedAtS: 1_000 }, limits, 1_000_000)).toBe(331_000);
  });
});
