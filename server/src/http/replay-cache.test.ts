import { describe, expect, it } from 'vitest';
import { createReplayCache } from './replay-cache';

describe('createReplayCache', () => {
  it('when a key is used again before its token expires, then the second use is refused', () => {
    let now = 1_000_000;
    const cache = createReplayCache({ now: () => now });
    expect(cache.firstUse('iss jti-1', now / 1000 + 60)).toBe(true);
    now += 59_000;
    expect(cache.firstUse('iss jti-1', now / 1000 + 60)).toBe(false);
    expect(cache.firstUse('iss jti-2', now / 1000 + 60)).toBe(true);
  });

  it('when the token has expired (past the grace), then its key is forgotten', () => {
    let now = 1_000_000;
    const cache = createReplayCache({ graceS: 30, now: () => now });
    const exp = now / 1000 + 60;
    expect(cache.firstUse('iss jti', exp)).toBe(true);
    now += 89_000;
    expect(cache.firstUse('iss jti', exp)).toBe(false);
    now += 2_000;
    expect(cache.firstUse('iss jti', exp)).toBe(true);
  });

  it('when more keys arrive than it may hold, then the least recently seen is forgotten first', () => {
    const cache = createReplayCache({ max: 2 });
    const exp = Date.now() / 1000 + 300;
    cache.firstUse('a', exp);
    cache.firstUse('b', exp);
    cache.firstUse('c', exp);
    expect(cache.firstUse('c', exp)).toBe(false);
    expect(cache.firstUse('a', exp)).toBe(true);
  });
});
