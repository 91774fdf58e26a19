/**
 * The shared replay store against Debian's redis-server: two stores on two connections stand for two app server
 * processes. A CDS Hooks JWT used at one is refused at the other; a key is forgotten when its time is up; a store
 * whose Redis is gone refuses rather than accepts.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../test/support/redis-server';
import { trustedClientsFrom } from '../cds-hooks/trusted-clients';
import { createCdsJwtVerifier } from '../cds-hooks/verify-jwt';
import { findFreePort } from '../cli/free-port';
import { createRedisReplayCache, type RedisReplayCache } from './redis-replay-cache';

const ISS = 'https://ehr.example';
const AUD = 'http://app/cds-services/ldh-cds-order-select';

let redis: RedisServer;
const stores: RedisReplayCache[] = [];
function store(url = redis.url): RedisReplayCache {
  const created = createRedisReplayCache(url);
  stores.push(created);
  return created;
}

beforeAll(async () => {
  redis = await startRedisServer();
}, 60_000);

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await redis.stop();
});

describe('the replay store shared through Redis', () => {
  it('when a key is seen at one process, then the other process sees it as used, and it is forgotten after its ttl', async () => {
    const [first, second] = [store(), store()];
    const key = `${ISS} ${randomUUID()}`;
    expect(await first.seen(key, 300)).toBe(false);
    expect(await second.seen(key, 300)).toBe(true);
    expect(await first.seen(key, 300)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(await second.seen(key, 300)).toBe(false);
  });

  it('when the same key is checked by both processes at once, then exactly one sees it first', async () => {
    const [first, second] = [store(), store()];
    const key = `${ISS} ${randomUUID()}`;
    const answers = await Promise.all([first.seen(key, 5000), second.seen(key, 5000)]);
    expect(answers.sort()).toEqual([false, true]);
  });

  it('when a CDS Hooks JWT is used at one app server, then another app server on the same Redis refuses it as a replay', async () => {
    const pair = await generateKeyPair('ES384');
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES384', use: 'sig' };
    const trusted = trustedClientsFrom({ clients: [{ iss: ISS, jwks: { keys: [jwk] } }] });
    const first = createCdsJwtVerifier(trusted, { replayCache: store() });
    const second = createCdsJwtVerifier(trusted, { replayCache: store() });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'k1', typ: 'JWT' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(pair.privateKey);
    await expect(first.verify(`Bearer ${token}`, AUD)).resolves.toMatchObject({ iss: ISS });
    await expect(second.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/replay/);
  });

  it('when Redis cannot be reached, then the check fails instead of accepting the token', async () => {
    const nowhere = store(`redis://127.0.0.1:${await findFreePort()}`);
    await expect(nowhere.seen(`${ISS} ${randomUUID()}`, 1000)).rejects.toThrow();
  });
});
