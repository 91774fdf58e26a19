/**
 * The arrival store of a scaled deployment (REDIS_URL; arrival-store.ts has the interface): every process that runs
 * analyses runs a watcher, and Redis makes exactly one of them read each EHR.
 *
 * - The lease: `SET <ehr>:lease <owner> NX PX 30000`, renewed every 10 s by its holder with a script that extends it
 *   only while the value is still its own, given up on close with one that deletes it only then. A holder that dies
 *   stops renewing, and another process takes the EHR within the lease's 30 s and its own next try. Two watchers can
 *   overlap only when a holder is paused for longer than the lease; what they do twice is harmless: a study queued
 *   twice joins its job, and one already analyzed is skipped (docs/deploy.md §Analyze on arrival).
 * - The cursor: one JSON string per EHR, written after each study, read when a process takes the lease.
 * - "Read now": a Redis PUBLISH on one channel, with the EHR's FHIR base: the API process that took the notification
 *   need not hold the lease.
 * - The notification secret's SHA-256, which every API process checks a notification against.
 *
 * Keys are under `ldh-cds:arrival:` and a SHA-256 of the FHIR base; they hold EHR resource ids, job ids and a hash,
 * nothing about a patient (docs/deploy.md §Redis).
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { parseCursor } from './arrival-cursor';
import type { ArrivalStore } from './arrival-store';

const PREFIX = 'ldh-cds:arrival:';
const READ_CHANNEL = `${PREFIX}read`;
/** How long a lease lasts without renewal, and how often its holder renews it. */
export const LEASE_MS = 30_000;
const RENEW_MS = 10_000;

/** Extends the lease only while it is still the caller's. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Deletes the lease only while it is still the caller's. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

const keyOf = (fhirBaseUrl: string, part: string): string =>
  `${PREFIX}${createHash('sha256').update(fhirBaseUrl).digest('hex').slice(0, 32)}:${part}`;

export function createRedisArrivalStore(redisUrl: string, options: { leaseMs?: number } = {}): ArrivalStore {
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const renewMs = Math.min(RENEW_MS, Math.floor(leaseMs / 3));
  // A command while Redis is away fails at once (one try, no offline queue): the watcher backs off and tries again.
  const redis = new Redis(redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  let subscriber: Redis | undefined;
  const owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  /** Leases this process holds, each with its renewal timer. */
  const held = new Map<string, NodeJS.Timeout>();
  let connecting: Promise<void> | undefined;
  const connected = (): Promise<void> => {
    if (redis.status === 'ready') return Promise.resolve();
    if (redis.status === 'wait') connecting ??= redis.connect();
    return connecting ?? Promise.resolve();
  };

  function stopRenewing(fhirBaseUrl: string): void {
    clearInterval(held.get(fhirBaseUrl));
    held.delete(fhirBaseUrl);
  }

  async function renew(fhirBaseUrl: string): Promise<boolean> {
    const renewed = (await redis.eval(RENEW, 1, keyOf(fhirBaseUrl, 'lease'), owner, String(leaseMs))) === 1;
    if (!renewed) stopRenewing(fhirBaseUrl);
    return renewed;
  }

  return {
    async readCursor(fhirBaseUrl) {
      await connected();
      const stored = await redis.get(keyOf(fhirBaseUrl, 'cursor'));
      if (stored === null) return undefined;
      try {
        return parseCursor(JSON.parse(stored));
      } catch (error) {
        throw new Error(
          `The arrival cursor of ${fhirBaseUrl} in Redis is unreadable (${(error as Error).message}); delete the key ${keyOf(fhirBaseUrl, 'cursor')} to start over from ARRIVAL_BACKFILL_HOURS back.`,
        );
      }
    },
    async writeCursor(fhirBaseUrl, cursor) {
      await connected();
      await redis.set(keyOf(fhirBaseUrl, 'cursor'), JSON.stringify(cursor));
    },
    async hold(fhirBaseUrl) {
      await connected();
      if (held.has(fhirBaseUrl)) return renew(fhirBaseUrl);
      const taken = (await redis.set(keyOf(fhirBaseUrl, 'lease'), owner, 'PX', leaseMs, 'NX')) === 'OK';
      if (taken) {
        const timer = setInterval(() => {
          // A renewal Redis does not answer leaves the lease to lapse: the next hold() says whether it still is ours.
          renew(fhirBaseUrl).catch(() => undefined);
        }, renewMs);
        timer.unref();
        held.set(fhirBaseUrl, timer);
      }
      return taken;
    },
    async release(fhirBaseUrl) {
      if (!held.has(fhirBaseUrl)) return;
      stopRenewing(fhirBaseUrl);
      await connected();
      await redis.eval(RELEASE, 1, keyOf(fhirBaseUrl, 'lease'), owner);
    },
    async requestRead(fhirBaseUrl) {
      await connected();
      await redis.publish(READ_CHANNEL, fhirBaseUrl);
    },
    onReadRequested(listener) {
      if (!subscriber) {
        // Its own connection (a subscribed connection takes no other command), re-subscribed after a reconnection.
        subscriber = new Redis(redisUrl, { maxRetriesPerRequest: null });
        subscriber.on('error', () => undefined);
        void subscriber.subscribe(READ_CHANNEL).catch(() => undefined);
      }
      subscriber.on('message', (channel: string, message: string) => {
        if (channel === READ_CHANNEL) listener(message);
      });
    },
    async notificationSecretHash(fhirBaseUrl) {
      await connected();
      return (await redis.get(keyOf(fhirBaseUrl, 'notification'))) ?? undefined;
    },
    async setNotificationSecretHash(fhirBaseUrl, sha256Hex) {
      await connected();
      await redis.set(keyOf(fhirBaseUrl, 'notification'), sha256Hex);
    },
    async close() {
      for (const fhirBaseUrl of [...held.keys()]) stopRenewing(fhirBaseUrl);
      const quit = async (connection: Redis): Promise<void> => {
        if (connection.status === 'wait' || connection.status === 'end') {
          connection.disconnect();
          return;
        }
        await connection.quit().catch(() => {
          connection.disconnect();
        });
      };
      await Promise.all([quit(redis), ...(subscriber ? [quit(subscriber)] : [])]);
    },
  };
}
