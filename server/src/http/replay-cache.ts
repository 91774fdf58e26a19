/**
 * Remembers each signed token's `jti` until the token expires, so that a second use of the same token is refused
 * (CDS Hooks 2.0 §Trusting CDS Clients; RFC 7523 §3 item 7 for client assertions).
 *
 * `ReplayCache` is the one interface: `seen(key, ttlMs)` records the key for `ttlMs` and says whether it was already
 * there — the shape of Redis's `SET key 1 NX PX ttlMs` (nil → seen), so a store shared between processes can stand
 * in for the in-memory one without touching its callers. The in-memory one is the default: a cache (lru-cache) with
 * a TTL per entry, so entries leave when their token could no longer be accepted anyway, holding at most `max`. It
 * never forgets a key before its time to make room — a forgotten `jti` could be replayed — so when it is full of
 * unexpired keys it refuses the new one (`ReplayCacheFullError`: the caller answers 503, try later), failing closed
 * as the Redis store does when Redis cannot be reached.
 */
import { LRUCache } from 'lru-cache';

export interface ReplayCache {
  /**
   * Records `key` (issuer and jti) as used for `ttlMs` milliseconds; resolves true when it was already recorded and
   * has not expired — a replay — and false on its first use.
   */
  seen(key: string, ttlMs: number): Promise<boolean>;
}

/** The in-memory store holds `max` keys none of which has expired: a new one can be checked only once some expire. */
export class ReplayCacheFullError extends Error {
  constructor(readonly max: number) {
    super(`The JWT replay cache holds ${max} unexpired jti values; try again shortly`);
    this.name = 'ReplayCacheFullError';
  }
}

export interface MemoryReplayCacheOptions {
  /**
   * Most unexpired keys kept at once (default 100,000: at `RATE_LIMIT_CDS_PER_CLIENT`'s default of 1,200 calls a
   * minute, each key kept at most 5½ minutes, the calls of 15 EHRs at their limit).
   */
  max?: number;
  /** The clock, in milliseconds since the epoch (tests pass their own; default Date.now). */
  now?: () => number;
}

/** When full, expired keys are swept at most this often: a sweep walks every key, and a flood must not buy one per call. */
const SWEEP_INTERVAL_MS = 1000;

export function createMemoryReplayCache({ max = 100_000, now = Date.now }: MemoryReplayCacheOptions = {}): ReplayCache {
  // The cache's TTL clock is the verifier's, read at every check (ttlResolution 0), so an entry expires exactly when
  // its token does for the verifier. Its own `max` is never reached: `seen` refuses before it would evict.
  const entries = new LRUCache<string, true>({ max: max + 1, perf: { now }, ttlResolution: 0 });
  let lastSweep = -Infinity;
  return {
    seen(key, ttlMs) {
      if (entries.has(key)) return Promise.resolve(true);
      if (entries.size >= max && now() - lastSweep >= SWEEP_INTERVAL_MS) {
        lastSweep = now();
        entries.purgeStale();
      }
      if (entries.size >= max) return Promise.reject(new ReplayCacheFullError(max));
      entries.set(key, true, { ttl: Math.max(1, Math.ceil(ttlMs)) });
      return Promise.resolve(false);
    },
  };
}

/** The verifier's clock counts whole seconds: a key is kept one second past the last one it could accept in. */
const WHOLE_SECOND_MARGIN_S = 1;

/**
 * How long a token's `jti` must be remembered: for as long as the verifier could still accept the token — until its
 * `exp`, or its `iat` plus the largest age accepted if that comes first (a token with a far `exp` is refused by age
 * anyway) — plus the clock tolerance, plus one second: jose compares whole seconds (the current time rounded down), so
 * a token whose age limit falls at second S is still accepted until S + 1 (RFC 7519 §4.1.6 leaves the precision to the
 * verifier). Times in seconds since the epoch.
 */
export function replayTtlMs(
  token: { expiresAtS: number; issuedAtS?: number | undefined },
  limits: { maxAgeS?: number; clockToleranceS: number },
  nowMs: number,
): number {
  const lastAcceptedS = Math.min(
    token.expiresAtS,
    token.issuedAtS === undefined || limits.maxAgeS === undefined ? Infinity : token.issuedAtS + limits.maxAgeS,
  );
  return (lastAcceptedS + limits.clockToleranceS + WHOLE_SECOND_MARGIN_S) * 1000 - nowMs;
}
