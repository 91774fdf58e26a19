/**
 * `POST /arrivals/notify`: where an EHR's rest-hook Subscription notifies ldh-cds (subscription.ts; docs/deploy.md
 * §Analyze on arrival). One route:
 *
 *   POST /arrivals/notify   Authorization: Bearer <the Subscription's secret>   → 200, and the EHR is read now
 *                           anything else                                      → 401, nothing happens
 *
 * The caller is known by the secret ldh-cds put in its Subscription's `channel.header`: its SHA-256 is compared,
 * in constant time, with each trusted EHR's (the arrival store: this process, or Redis for every API process). A
 * notification only wakes the watcher — in whichever process holds that EHR — to make its usual read of
 * `ImagingStudy?_lastUpdated=ge<cursor>`; its body is never read, so a notification cannot tell ldh-cds what to
 * analyze. The secret is never logged.
 */
import { timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import type { ArrivalLog } from './arrival-watcher';
import type { ArrivalStore } from './arrival-store';
import { NOTIFICATION_PATH, sha256Hex } from './subscription';

export interface NotificationRouterOptions {
  store: ArrivalStore;
  /** The trusted EHRs' FHIR bases (EHRS_FILE). */
  fhirBaseUrls: readonly string[];
  log: ArrivalLog;
  /** How long the EHRs' secret hashes are reused before they are read again (default 1 s). */
  cacheMs?: number;
  now?: () => number;
}

const refusal = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'login',
      diagnostics:
        'This notification does not carry the secret of an ldh-cds Subscription (Authorization: Bearer, from Subscription.channel.header).',
    },
  ],
};

export function arrivalNotificationRouter(options: NotificationRouterOptions): Router {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 1000;
  let cached: { at: number; hashes: Promise<(string | undefined)[]> } | undefined;
  // At most one read of the store per `cacheMs`, however many requests come: a flood costs a hash each.
  const hashes = (): Promise<(string | undefined)[]> => {
    if (!cached || now() - cached.at >= cacheMs) {
      const read = Promise.all(options.fhirBaseUrls.map((base) => options.store.notificationSecretHash(base)));
      cached = { at: now(), hashes: read };
      read.catch(() => (cached = undefined));
    }
    return cached.hashes;
  };

  const handleNotification: RequestHandler = async (req, res) => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.get('Authorization') ?? '')?.[1];
    const presented = Buffer.from(sha256Hex(bearer ?? ''), 'hex');
    const known = bearer === undefined ? [] : await hashes();
    const index = known.findIndex((hash) => hash !== undefined && timingSafeEqual(Buffer.from(hash, 'hex'), presented));
    const fhirBaseUrl = options.fhirBaseUrls[index];
    if (fhirBaseUrl === undefined) {
      options.log(
        'warn',
        { bearer: bearer !== undefined },
        'arrival notification refused: not from an ldh-cds Subscription',
      );
      res.status(401).set('WWW-Authenticate', 'Bearer').type('application/fhir+json').send(JSON.stringify(refusal));
      return;
    }
    await options.store.requestRead(fhirBaseUrl);
    options.log('info', { ehr: fhirBaseUrl }, 'arrival notification: reading the EHR now');
    res.status(200).end();
  };

  const router = Router();
  router.post(NOTIFICATION_PATH, handleNotification);
  return router;
}
