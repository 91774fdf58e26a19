/**
 * Remembers each signed token's `jti` until the token expires, so that a second use of the same token is refused
 * (CDS Hooks 2.0 §Trusting CDS Clients; RFC 7523 §3 item 7 for client assertions). Bounded: an LRU cache
 * (lru-cache) with a TTL per entry, so entries leave when their token could no longer be accepted anyway, and at most
 * `max` are kept — past that the least recently seen is forgotten first, which bounds memory under a flood of
 * tokens at the cost of remembering the oldest ones less long.
 */
import { LRUCache } from 'lru-cache';

export interface ReplayCache {
  /**
   * Records `key` (issuer and jti) as used until `expiresAtS` (seconds since the epoch) plus the grace; false when
   * it was already recorded and has not expired — a replay.
   */
  firstUse(key: string, expiresAtS: number): boolean;
}

export interface ReplayCacheOptions {
  /** Most entries kept at once (default 10,000). */
  max?: number;
  /** Seconds an entry outlives its token's `exp`: the verifier's clock tolerance (default 0). */
  graceS?: number;
  /** The clock, in milliseconds since the epoch (tests pass their own; default Date.now). */
  now?: () => number;
}

export function createReplayCache({ max = 10_000, graceS = 0, now = Date.now }: ReplayCacheOptions = {}): ReplayCache {
  // The cache's TTL clock is the verifier's, read at every check (ttlResolution 0), so an entry expires exactly when
  // its token does for the verifier.
  const seen = new LRUCache<string, true>({ max, perf: { now }, ttlResolution: 0 });
  return {
    firstUse(key, expiresAtS) {
      if (seen.has(key)) return false;
      seen.set(key, true, { ttl: Math.max(1, (expiresAtS + graceS) * 1000 - now()) });
      return true;
    },
  };
}
