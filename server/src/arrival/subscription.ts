/**
 * A FHIR R4 rest-hook Subscription (R4 subscription.html) that tells ldh-cds when an ImagingStudy is created or
 * changed, where the EHR offers one (ANALYZE_ON_ARRIVAL=subscription or auto; docs/deploy.md §Analyze on arrival).
 *
 * Offered means: the EHR's CapabilityStatement (`GET [base]/metadata`, R4 capabilitystatement.html) lists the
 * `Subscription` resource with the `create` interaction. R4 has no element that names the channel types a server
 * delivers (R5's SubscriptionTopic and the R4 Subscriptions Backport IG add them), so rest-hook — the channel every R4
 * server with Subscriptions implements — is tried; an EHR that refuses it, or sets the Subscription to `error` or
 * `off`, is polled instead.
 *
 * The Subscription: `criteria` `ImagingStudy?` (every create and update of a study: selection is ours, after the read),
 * `channel.type` `rest-hook`, `channel.endpoint` the app's notification URL, no `channel.payload` (R4: the notification
 * then carries nothing; we would not read it anyway), and one `channel.header`, `Authorization: Bearer <secret>`, with
 * a secret of 256 random bits made here. Only its SHA-256 is kept (the arrival store: memory, or Redis for every API
 * process), and a notification without it is refused (notification-router.ts). The secret is made anew whenever the
 * Subscription is requested again: at each start of a one-process install, and whenever the EHR's copy is not active
 * or no longer carries the header this deployment knows.
 *
 * Managing it needs its own Backend Services token with `system/Subscription.cus` (search for ours, create it, update
 * it), asked for separately from the analysis's scopes so that a site that does not use Subscriptions need not grant it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Subscription } from 'fhir/r4';
import type { FhirClient } from '../fhir/fhir-client';
import type { ArrivalStore } from './arrival-store';
import type { SubscriptionRegistrar } from './arrival-watcher';

/** What managing ldh-cds's Subscription needs (SMART v2: create, update, search). */
export const SUBSCRIPTION_SCOPE = 'system/Subscription.cus';
/** Where the app takes notifications (APP_BASE_URL + this). */
export const NOTIFICATION_PATH = '/arrivals/notify';
/** Every create and update of an ImagingStudy. */
export const SUBSCRIPTION_CRITERIA = 'ImagingStudy?';

export const sha256Hex = (value: string): string => createHash('sha256').update(value).digest('hex');

export interface SubscriptionRegistrarOptions {
  /** The app's notification URL: APP_BASE_URL + NOTIFICATION_PATH. */
  endpoint: string;
  store: ArrivalStore;
  /** A Backend Services token with SUBSCRIPTION_SCOPE for this EHR. */
  subscriptionToken: (fhirBaseUrl: string) => Promise<string>;
  fhirClient: (fhirBaseUrl: string, accessToken: string) => FhirClient;
  /** Time for the CapabilityStatement (default 10 s). */
  timeoutMs?: number;
}

/** Whether a CapabilityStatement offers Subscriptions a client may create. */
export function offersSubscriptions(capability: unknown): boolean {
  const listOf = (value: unknown, key: string): Record<string, unknown>[] => {
    const list = (value as Record<string, unknown> | null | undefined)?.[key];
    return Array.isArray(list)
      ? list.filter((item): item is Record<string, unknown> => typeof item === 'object' && item !== null)
      : [];
  };
  return listOf(capability, 'rest').some(
    (rest) =>
      rest.mode === 'server' &&
      listOf(rest, 'resource').some(
        (resource) =>
          resource.type === 'Subscription' &&
          listOf(resource, 'interaction').some((interaction) => interaction.code === 'create'),
      ),
  );
}

/** The bearer secret in a Subscription's `Authorization` channel header, hashed; undefined without one. */
function headerSecretHash(subscription: Subscription): string | undefined {
  for (const header of subscription.channel.header ?? []) {
    const match = /^authorization:\s*bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1]) return sha256Hex(match[1]);
  }
  return undefined;
}

export function createSubscriptionRegistrar(options: SubscriptionRegistrarOptions): SubscriptionRegistrar {
  const { endpoint, store } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function readCapabilityStatement(fhirBaseUrl: string): Promise<{ capability: unknown } | { status: number }> {
    // Public (R4 http.html#capabilities): no token goes with it.
    const response = await fetch(`${fhirBaseUrl}/metadata`, {
      headers: { Accept: 'application/fhir+json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return { status: response.status };
    }
    return { capability: (await response.json()) as unknown };
  }

  return {
    async register(fhirBaseUrl) {
      const read = await readCapabilityStatement(fhirBaseUrl);
      if ('status' in read) {
        // 5xx: the EHR is down now, not without Subscriptions; the watcher tries again.
        if (read.status >= 500) throw new Error(`the EHR's CapabilityStatement answered HTTP ${read.status}`);
        return { active: false, offered: false, reason: `its CapabilityStatement answered HTTP ${read.status}` };
      }
      if (!offersSubscriptions(read.capability))
        return { active: false, offered: false, reason: 'its CapabilityStatement offers no Subscription to create' };
      let token: string;
      try {
        token = await options.subscriptionToken(fhirBaseUrl);
      } catch (error) {
        return {
          active: false,
          offered: true,
          reason: `no token for ${SUBSCRIPTION_SCOPE}: ${(error as Error).message}`,
        };
      }
      const fhir = options.fhirClient(fhirBaseUrl, token);
      const ours = async (): Promise<Subscription | undefined> =>
        (await fhir.search<Subscription>('Subscription', { url: endpoint })).find(
          (subscription) => subscription.channel.endpoint === endpoint,
        );
      const existing = await ours();
      const known = await store.notificationSecretHash(fhirBaseUrl);
      if (
        existing?.status === 'active' &&
        existing.criteria === SUBSCRIPTION_CRITERIA &&
        known !== undefined &&
        headerSecretHash(existing) === known
      )
        return { active: true };

      const secret = randomBytes(32).toString('base64url');
      // Known before the EHR can use it: a notification that follows the request at once is accepted.
      await store.setNotificationSecretHash(fhirBaseUrl, sha256Hex(secret));
      const requested: Subscription = {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'ldh-cds analyze on arrival: a new or changed ImagingStudy is read and, if a lumbar MRI, analyzed',
        criteria: SUBSCRIPTION_CRITERIA,
        channel: { type: 'rest-hook', endpoint, header: [`Authorization: Bearer ${secret}`] },
      };
      if (existing?.id) {
        const versionId = existing.meta?.versionId;
        await fhir.update({ ...requested, id: existing.id }, versionId === undefined ? {} : { ifMatch: versionId });
      } else {
        // A conditional create: a repeat after a lost answer finds the first one instead of making a second.
        await fhir.transaction({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: requested,
              request: { method: 'POST', url: 'Subscription', ifNoneExist: `url=${encodeURIComponent(endpoint)}` },
            },
          ],
        });
      }
      const now = await ours();
      if (now?.status === 'active' || now?.status === 'requested') return { active: true };
      return {
        active: false,
        offered: true,
        reason: `the EHR set ldh-cds's Subscription to ${now?.status ?? 'nothing'}${now?.error ? ` (${now.error})` : ''}`,
      };
    },
  };
}
