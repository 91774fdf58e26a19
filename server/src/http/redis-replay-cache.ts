/**
 * The replay store shared by every app server process of one deployment (REDIS_URL): a CDS Hooks JWT used at one
 * process is refused at all of them until it expires (CDS Hooks 2.0 §Trusting CDS Clients: `jti` "used to prevent
 * replay attacks"). One Redis command per check, `SET key 1 PX ttl NX`: atomic, so two processes that receive the
 * same token at once cannot both accept it, and Redis forgets the key when the token could no longer be accepted
 * anyway. The key is a SHA-256 of the issuer and `jti` under a fixed prefix, so nothing a caller sent is stored.
 *
 * When Redis cannot answer, the check fails and the call is refused: accepting a token whose reuse cannot be checked
 * would reopen the replay this store closes.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ReplayCache } from './replay-cache';

const KEY_PREFIX = 'ldh-cds:jwt-replay:';

export interface RedisReplayCache extends ReplayCache {
  close(): Promise<void>;
}

export function createRedisReplayCache(redisUrl: string): RedisReplayCache {
  // No offline queue and one try per command: a call waits for no reconnection, it is refused at once.
  const redis = new Redis(redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // Reconnection errors are reported by the commands that meet them; without a listener ioredis prints each one.
  redis.on('error', () => undefined);
  let connecting: Promise<void> | undefined;
  const connected = (): Promise<void> => {
    if (redis.status === 'ready') return Promise.resolve();
    if (redis.status === 'wait') connecting ??= redis.connect();
    return connecting ?? Promise.resolve();
  };
  return {
    async seen(key, ttlMs) {
      await connected();
      const hashed = KEY_PREFIX + createHash('sha256').update(key).digest('hex');
      const answer = await redis.set(hashed, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      // 'OK': the key was not there (first use); null: it was (a replay).
      return answer === null;
    },
    async close() {
      if (redis.status === 'wait' || redis.status === 'end') {
        redis.disconnect();
        return;
      }
      await redis.quit().catch(() => {
        redis.disconnect();
      });
    },
  };
}
