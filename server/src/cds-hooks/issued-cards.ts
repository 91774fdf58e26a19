/**
 * The cards this process issued, by uuid, so that feedback — which names only the card — is counted by the card's
 * kind and model version. Bounded (50,000 cards) and kept a day: feedback comes within minutes of the card. A card
 * issued by another process or before a restart is counted as kind `unknown` — unless, with REDIS_URL, every process
 * also keeps them in Redis (`createRedisIssuedCards`): the card's kind, model version and service only, never what it
 * said, under its random uuid.
 */
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { CardMeta } from './cards';

export interface IssuedCard extends CardMeta {
  service: string;
}

export interface IssuedCards {
  remember(uuid: string, card: IssuedCard): void;
  find(uuid: string): Promise<IssuedCard | undefined>;
}

export const ISSUED_CARDS_MAX = 50_000;
export const ISSUED_CARDS_TTL_MS = 24 * 60 * 60 * 1000;

export function createIssuedCards(options: { max?: number; ttlMs?: number } = {}): IssuedCards {
  const cards = new LRUCache<string, IssuedCard>({
    max: options.max ?? ISSUED_CARDS_MAX,
    ttl: options.ttlMs ?? ISSUED_CARDS_TTL_MS,
  });
  return {
    remember: (uuid, card) => {
      cards.set(uuid, card);
    },
    find: (uuid) => Promise.resolve(cards.get(uuid)),
  };
}

const REDIS_KEY_PREFIX = 'ldh-cds:cds-card:';

/**
 * This process's cards, and every process's in Redis. `remember` does not wait for Redis (a hook call is not slowed
 * or failed by it: a card Redis missed is counted `unknown` if its feedback reaches another process); `find` asks
 * Redis only for a card this process did not issue, and reads `unknown` when Redis cannot answer.
 */
export function createRedisIssuedCards(
  redisUrl: string,
  options: { max?: number; ttlMs?: number } = {},
): IssuedCards & { close(): Promise<void> } {
  const local = createIssuedCards(options);
  const ttlMs = options.ttlMs ?? ISSUED_CARDS_TTL_MS;
  // Commands wait for the connection (the first cards after a start are not lost), a second at most.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 1000 });
  redis.on('error', () => undefined);
  return {
    remember(uuid, card) {
      local.remember(uuid, card);
      const value: IssuedCard = {
        kind: card.kind,
        service: card.service,
        ...(card.model ? { model: card.model } : {}),
      };
      redis.set(REDIS_KEY_PREFIX + uuid, JSON.stringify(value), 'PX', ttlMs).catch(() => undefined);
    },
    async find(uuid) {
      const mine = await local.find(uuid);
      if (mine) return mine;
      const stored = await redis.get(REDIS_KEY_PREFIX + uuid).catch(() => null);
      return stored ? (JSON.parse(stored) as IssuedCard) : undefined;
    },
    async close() {
      await redis.quit().catch(() => {
        redis.disconnect();
      });
    },
  };
}
