/**
 * The arrival store in Redis against Debian's redis-server: two stores on two connections stand for two processes
 * that could watch the same EHR. One holds the lease and renews it while it lives; when it dies without giving it up
 * (SIGKILL: no release, no more renewals), the other takes the EHR once the lease lapses and goes on from the cursor
 * the first wrote; a holder that stops cleanly hands it over at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../test/support/redis-server';
import type { ArrivalCursor } from './arrival-cursor';
import type { ArrivalStore } from './arrival-store';
import { createRedisArrivalStore } from './redis-arrival-store';

/** Short enough for a test, long against a renewal every 500 ms (a third of it) on a busy machine. */
const LEASE_MS = 1500;

let redis: RedisServer;
const stores: ArrivalStore[] = [];
function store(): ArrivalStore {
  const created = createRedisArrivalStore(redis.url, { leaseMs: LEASE_MS });
  stores.push(created);
  return created;
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedisServer();
}, 60_000);

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await redis.stop();
});

const cursor: ArrivalCursor = {
  since: '2026-12-07T10:00:00.000Z',
  handledAtSince: ['study-1'],
  pending: [{ imagingStudy: 'ImagingStudy/study-1', jobId: 'job-1' }],
};

describe('the arrival store shared through Redis', () => {
  it('when the process holding an EHR dies without giving it up, then another takes it only once the lease lapses, and goes on from its cursor', async () => {
    const ehr = 'http://ehr-a.example/fhir';
    const [holder, other] = [store(), store()];
    expect(await holder.hold(ehr)).toBe(true);
    await holder.writeCursor(ehr, cursor);
    expect(await other.hold(ehr)).toBe(false);
    // Alive, the holder renews the lease: over two lease lengths the other never gets it.
    for (let i = 0; i < 6; i++) {
      await sleep(LEASE_MS / 3);
      expect(await other.hold(ehr)).toBe(false);
    }
    // Dies: its connection closes with no release and its renewals stop (store.close gives no lease up).
    await holder.close();
    expect(await other.hold(ehr)).toBe(false);
    await expect.poll(() => other.hold(ehr), { timeout: 5 * LEASE_MS, interval: 50 }).toBe(true);
    expect(await other.readCursor(ehr)).toEqual(cursor);
    // And it keeps it: renewed, a third store does not get it.
    const third = store();
    await sleep(LEASE_MS * 1.5);
    expect(await third.hold(ehr)).toBe(false);
    expect(await other.hold(ehr)).toBe(true);
  });

  it('when the holder stops cleanly (release), then another takes the EHR at once', async () => {
    const ehr = 'http://ehr-b.example/fhir';
    const [holder, other] = [store(), store()];
    expect(await holder.hold(ehr)).toBe(true);
    expect(await other.hold(ehr)).toBe(false);
    await holder.release(ehr);
    expect(await other.hold(ehr)).toBe(true);
    // The released one cannot take back what the other now holds.
    expect(await holder.hold(ehr)).toBe(false);
  });
});
