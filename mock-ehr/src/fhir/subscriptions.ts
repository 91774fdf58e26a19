/**
 * FHIR R4 Subscriptions with the rest-hook channel (R4 subscription.html), as much as ldh-cds's analyze on arrival
 * needs and a real EHR offers:
 *
 * - a client creates a Subscription with `status: requested`, a `criteria` search (`ImagingStudy?…`) and a
 *   `channel` of type `rest-hook` with its `endpoint` and `header`s; the server checks it and stores it `active`
 *   (R4 §Subscription status: "requested → active" once the server has accepted it);
 * - each create or update of a resource that matches an active Subscription's criteria is announced by a POST to the
 *   endpoint carrying the channel's headers and, as the channel names no `payload`, no body (R4: "If the payload is
 *   not present, then there is no payload in the notification, just a notification");
 * - a notification the endpoint does not accept (not 2xx, no answer) is tried twice more, 1 s and 2 s later; then the
 *   Subscription is set to `error` with the reason in `Subscription.error`, and the client must request it again.
 *
 * What this mock does not do: payloads (a channel with one is refused, 422), other channel types, `end`, and
 * endpoints off the app's origin: a mock EHR posts only to the app it serves (APP_BASE_URL), never to an address a
 * client names (the server-side request forgery a real EHR guards against by registration).
 */
import { matchesSearchRequest, Operator, parseSearchRequest, type WithId } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { buildOutcome, HttpError } from '../http/errors';

/** MemoryRepository that stores a requested Subscription as active and tells listeners of every write. */
export class NotifyingRepository extends MemoryRepository {
  private readonly listeners = new Set<(resource: Resource) => void>();

  onWrite(listener: (resource: Resource) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // updateResource and patchResource store through createResource: every write passes here.
  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    const stored =
      resource.resourceType === 'Subscription' && resource.status === 'requested'
        ? await super.createResource({ ...resource, status: 'active' })
        : await super.createResource(resource);
    for (const listener of this.listeners) listener(stored);
    return stored;
  }
}

function unprocessable(text: string): HttpError {
  return new HttpError(422, { kind: 'outcome', outcome: buildOutcome('not-supported', `Subscription: ${text}`) });
}

/** Refuses (422) a Subscription this EHR would not deliver: another channel, a payload, an endpoint elsewhere. */
export function assertDeliverableSubscription(subscription: Subscription, allowedOrigins: readonly string[]): void {
  const { channel } = subscription;
  if (channel.type !== 'rest-hook') throw unprocessable(`channel.type ${channel.type} is not offered; use rest-hook`);
  if (channel.payload !== undefined)
    throw unprocessable('notifications here carry no payload: leave channel.payload out');
  let origin: string;
  try {
    const url = new URL(channel.endpoint ?? '');
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    origin = url.origin;
  } catch {
    throw unprocessable('channel.endpoint must be an absolute http(s) URL');
  }
  if (!allowedOrigins.includes(origin))
    throw unprocessable(`this EHR delivers notifications only to ${allowedOrigins.join(', ')}, not to ${origin}`);
  for (const header of channel.header ?? [])
    if (!/^[A-Za-z0-9-]+:\s*\S/.test(header)) throw unprocessable('each channel.header must read "Name: value"');
  try {
    parseSearchRequest(subscription.criteria);
  } catch {
    throw unprocessable('criteria must be a search such as "ImagingStudy?status=available"');
  }
}

export interface SubscriptionDelivery {
  close(): void;
}

/** Delivers rest-hook notifications for every write to `repo` until closed. */
export function startSubscriptionDelivery(
  repo: NotifyingRepository,
  options: { logger: Logger; retryDelaysMs?: readonly number[]; timeoutMs?: number },
): SubscriptionDelivery {
  const retryDelaysMs = options.retryDelaysMs ?? [1000, 2000];
  const timeoutMs = options.timeoutMs ?? 5000;
  const stop = new AbortController();
  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      stop.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });

  async function post(subscription: WithId<Subscription>): Promise<string | undefined> {
    const headers: Record<string, string> = {};
    for (const line of subscription.channel.header ?? []) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
    try {
      const response = await fetch(subscription.channel.endpoint ?? '', {
        method: 'POST',
        headers,
        redirect: 'manual',
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]),
      });
      await response.body?.cancel();
      return response.ok ? undefined : `the endpoint answered HTTP ${response.status}`;
    } catch (error) {
      return `the endpoint did not answer (${(error as Error).message})`;
    }
  }

  async function notify(subscription: WithId<Subscription>): Promise<void> {
    let failure: string | undefined;
    for (let attempt = 0; attempt <= retryDelaysMs.length; attempt++) {
      if (attempt > 0) await wait(retryDelaysMs[attempt - 1] ?? 0);
      if (stop.signal.aborted) return;
      failure = await post(subscription);
      if (failure === undefined) return;
    }
    options.logger.warn(
      { subscription: subscription.id, reason: failure },
      'rest-hook notification failed: Subscription set to error',
    );
    const current = await repo.readResource<Subscription>('Subscription', subscription.id);
    await repo.updateResource({ ...current, status: 'error', error: `Notification failed: ${failure ?? ''}` });
  }

  async function onWrite(resource: Resource): Promise<void> {
    if (resource.resourceType === 'Subscription' || stop.signal.aborted) return;
    const active = await repo.searchResources<Subscription>({
      resourceType: 'Subscription',
      filters: [{ code: 'status', operator: Operator.EQUALS, value: 'active' }],
      count: 1000,
    });
    for (const subscription of active) {
      if (subscription.channel.type !== 'rest-hook') continue;
      let matches: boolean;
      try {
        const criteria = parseSearchRequest(subscription.criteria);
        matches = criteria.resourceType === resource.resourceType && matchesSearchRequest(resource, criteria);
      } catch {
        matches = false;
      }
      if (matches) void notify(subscription);
    }
  }

  const unsubscribe = repo.onWrite((resource) => {
    onWrite(resource).catch((error: unknown) => {
      options.logger.warn({ error: (error as Error).name }, 'rest-hook notifications could not be worked out');
    });
  });
  return {
    close() {
      unsubscribe();
      stop.abort();
    },
  };
}
