/**
 * CDS feedback counted in Redis for the whole deployment, against Debian's redis-server: two stores on two connections
 * stand for two app server processes on two hosts (each with its own file). And the issued cards shared the same way,
 * so that feedback reaching another process than the one that issued the card is counted by the card's kind.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../../test/support/redis-server';
import { findFreePort } from '../cli/free-port';
import type { FeedbackRecord } from './feedback-store';
import { createRedisIssuedCards } from './issued-cards';
import { createRedisFeedbackStore, type RedisFeedbackStore } from './redis-feedback-store';

const COMMENT = 'Patient Jane Synthetic, seen 2026-05-02: bulge already known';

const record = (
  card: string,
  outcome: FeedbackRecord['outcome'],
  extra: Partial<FeedbackRecord> = {},
): FeedbackRecord => ({
  receivedAt: '2026-05-02T10:00:00.000Z',
  service: 'ldh-cds-order-select',
  client: 'http://ehr',
  card,
  kind: 'findings',
  model: 'msu-ldh@1.8.0',
  outcome,
  outcomeTimestamp: '2026-05-02T10:00:00Z',
  ...extra,
});

let redis: RedisServer;
const stores: { close(): Promise<void> }[] = [];
async function hostStore(url = redis.url): Promise<{ store: RedisFeedbackStore; file: string }> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'cds-feedback-')), 'feedback.jsonl');
  const store = createRedisFeedbackStore(url, file);
  stores.push(store);
  return { store, file };
}

beforeAll(async () => {
  redis = await startRedisServer();
}, 60_000);

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await redis.stop();
});

describe('the feedback counts shared through Redis', () => {
  it('when two processes receive feedback, then both show the same counts, repeats counted once, and comments stay on each host', async () => {
    const [first, second] = [await hostStore(), await hostStore()];
    await first.store.add([
      record('c1', 'accepted', { acceptedSuggestions: ['s1'] }),
      record('c2', 'overridden', { overrideReason: { code: 'already-reviewed' }, userComment: COMMENT }),
    ]);
    // The same card's override again, at the other process (a client retry), and at once from both (a race).
    await Promise.all([
      second.store.add([record('c2', 'overridden', { overrideReason: { code: 'already-reviewed' } })]),
      first.store.add([record('c3', 'overridden', { kind: 'notAnalyzed', model: undefined })]),
      second.store.add([record('c3', 'overridden', { kind: 'notAnalyzed', model: undefined })]),
    ]);
    const expected = {
      items: 5,
      counted: 3,
      unreadable: 0,
      counts: [
        {
          kind: 'findings',
          model: 'msu-ldh@1.8.0',
          accepted: 1,
          overridden: 1,
          overrideReasons: { 'already-reviewed': 1 },
        },
        { kind: 'notAnalyzed', model: 'none', accepted: 0, overridden: 1, overrideReasons: { none: 1 } },
      ],
    };
    expect(await first.store.summary()).toEqual(expected);
    expect(await second.store.summary()).toEqual(expected);
    // A process started later (a restart) reads the same counts.
    expect(await (await hostStore()).store.summary()).toEqual(expected);

    // Each host's file is the durable record with the comment; Redis has neither the comment nor the card ids.
    expect((await readFile(first.file, 'utf8')).trim().split('\n')).toHaveLength(3);
    expect(await readFile(first.file, 'utf8')).toContain(COMMENT);
    expect((await readFile(second.file, 'utf8')).trim().split('\n')).toHaveLength(2);
    const client = new Redis(redis.url);
    try {
      const dump = [
        ...(await client.smembers('ldh-cds:cds-feedback:seen')),
        ...Object.entries(await client.hgetall('ldh-cds:cds-feedback:counts')).flat(),
      ].join('\n');
      expect(dump).toContain('already-reviewed');
      for (const secret of ['Jane', 'c1', 'c2', 'http://ehr']) expect(dump).not.toContain(secret);
    } finally {
      client.disconnect();
    }
  });

  it('when Redis cannot be reached, then adding feedback fails (the client retries) and the item is still on disk', async () => {
    const { store, file } = await hostStore(`redis://127.0.0.1:${await findFreePort()}`);
    await expect(store.add([record('c9', 'accepted')])).rejects.toThrow();
    expect(await readFile(file, 'utf8')).toContain('"card":"c9"');
  });
});

describe('the issued cards shared through Redis', () => {
  it('when a card issued at one process gets its feedback at another, then the other knows its kind and model', async () => {
    const [first, second] = [createRedisIssuedCards(redis.url), createRedisIssuedCards(redis.url)];
    stores.push(first, second);
    const card = {
      kind: 'findings' as const,
      model: { id: 'msu-ldh', version: '1.8.0' },
      service: 'ldh-cds-order-select',
    };
    first.remember('card-1', card);
    await expect.poll(() => second.find('card-1')).toEqual(card);
    expect(await second.find('card-never-issued')).toBeUndefined();
  });

  it('when Redis cannot be reached, then a hook call still remembers its card here and feedback elsewhere reads unknown', async () => {
    const cards = createRedisIssuedCards(`redis://127.0.0.1:${await findFreePort()}`);
    stores.push(cards);
    cards.remember('card-2', { kind: 'priorMri', service: 'ldh-cds-order-sign' });
    expect(await cards.find('card-2')).toEqual({ kind: 'priorMri', service: 'ldh-cds-order-sign' });
    expect(await cards.find('card-3')).toBeUndefined();
  });
});
