/**
 * Remembers each signed token's `jti` until the token expires, so that a second use of the same token is refused
 * (CDS Hooks 2.0 §Trusting CDS Clients; RFC 7523 §3 item 7 for client assertions).
 *
 * `ReplayCache` is the one interface: `seen(key, ttlMs)` records the key for `ttlMs` and says whether it was already
 * there — the shape of Redis's `SET key 1 NX PX ttlMs` (nil → seen), so a store shared between processes can stand
 * in for the in-memory one without touching its callers. The in-memory one is the default: an LRU cache (lru-cache)
 * with a TTL per entry, so entries leave when their token could no longer be accepted anyway, and at most `max` are
 * kept — past that the least recently seen is forgotten first, which bounds memory under a flood of tokens at the
 * cost of remembering the oldest ones less long.
 */
import { LRUCache } from 'lru-cache';

export interface ReplayCache {
  /**
   * Records `key` (issuer and jti) as used for `ttlMs` milliseconds; resolves true when it was already recorded and
   * has not expired — a replay — and false on its first use.
   */
  seen(key: string, ttlMs: number): Promise<boolean>;
}

export interface MemoryReplayCacheOptions {
  /** Most entries kept at once (default 10,000). */
  max?: number;
  /** The clock, in milliseconds since the epoch (tests pass their own; default Date.now). */
  now?: () => number;
}

export function createMemoryReplayCache({ max = 10_000, now = Date.now }: MemoryReplayCacheOptions = {}): ReplayCache {
  // The cache's TTL clock is the verifier's, read at every check (ttlResolution 0), so an entry expires exactly when
  // its token does for the verifier.
  const entries = new LRUCache<string, true>({ max, perf: { now }, ttlResolution: 0 });
  return {
    seen(key, ttlMs) {
      if (entries.has(key)) return Promise.resolve(true);
      entries.set(key, true, { ttl: Math.max(1, Math.ceil(ttlMs)) });
      return Promise.resolve(false);
    },
  };
}

/** How long a token's `jti` must be remembered: until its `exp` (seconds since the epoch) plus the clock tolerance. */
export function replayTtlMs(expiresAtS: number, graceS: number, nowMs: number): number {
  return (expiresAtS + graceS) * 1000 - nowMs;
}
