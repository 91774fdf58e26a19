/**
 * The cards this process issued, by uuid, so that feedback — which names only the card — is counted by the card's
 * kind and model version. Bounded (50,000 cards) and kept a day: feedback comes within minutes of the card. A card
 * issued by another process or before a restart is counted as kind `unknown`; a shared store (Redis) would close that
 * gap, behind the same two functions.
 */
import { LRUCache } from 'lru-cache';
import type { CardMeta } from './cards';

export interface IssuedCard extends CardMeta {
  service: string;
}

export interface IssuedCards {
  remember(uuid: string, card: IssuedCard): void;
  find(uuid: string): IssuedCard | undefined;
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
    find: (uuid) => cards.get(uuid),
  };
}
