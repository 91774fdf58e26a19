/**
 * How many analyses run at once: at most `perServer` on this server (503 beyond: the server is busy, nothing is wrong
 * with the request) and at most `perUser` for one user (429 beyond: this user sent too much), each with
 * `Retry-After`. A slot is held from when the analysis starts until it settles — also when the client has gone away
 * meanwhile, since the work goes on — so the count is the work really running.
 *
 * The user is the verified token's `sub` (else its `fhirUser`); a caller the EHR names neither is keyed by a SHA-256
 * of its access token, so one session still counts as one user.
 */
import { createHash } from 'node:crypto';
import { serviceBusy, tooManyRequests } from './http-error';

export interface AnalysisSlots {
  /** Runs `task` in a slot of the server and of `user`, or refuses at once (HttpError 503 or 429). */
  run<T>(user: string, task: () => Promise<T>): Promise<T>;
  /** Analyses running now, on the server and per user. */
  inUse(): { server: number; users: Map<string, number> };
}

export interface AnalysisSlotOptions {
  perServer: number;
  perUser: number;
  /** What a refused caller is told to wait, seconds (default 15: a usual analysis takes 5–30 s on the CPU). */
  retryAfterSeconds?: number;
}

/** The key of the caller's user for the per-user limit: `sub`, else `fhirUser`, else a hash of the access token. */
export function analysisUserKey(
  user: { sub?: string | undefined; fhirUser?: string | undefined } | undefined,
  accessToken: string,
): string {
  if (user?.sub) return `sub:${user.sub}`;
  if (user?.fhirUser) return `fhirUser:${user.fhirUser}`;
  return `token:${createHash('sha256').update(accessToken).digest('base64url')}`;
}

export function createAnalysisSlots({
  perServer,
  perUser,
  retryAfterSeconds = 15,
}: AnalysisSlotOptions): AnalysisSlots {
  let server = 0;
  const users = new Map<string, number>();
  return {
    async run(user, task) {
      const ofUser = users.get(user) ?? 0;
      if (ofUser >= perUser) {
        throw tooManyRequests(
          `You already have ${ofUser} analyses running, the most one user may run at once (MAX_CONCURRENT_ANALYSES_PER_USER). Try again when one has finished, in about ${retryAfterSeconds} seconds.`,
          retryAfterSeconds,
        );
      }
      if (server >= perServer) {
        throw serviceBusy(
          `ldh-cds is running ${server} analyses, the most it runs at once (MAX_CONCURRENT_ANALYSES). Try again in about ${retryAfterSeconds} seconds.`,
          retryAfterSeconds,
        );
      }
      server++;
      users.set(user, ofUser + 1);
      try {
        return await task();
      } finally {
        server--;
        const left = (users.get(user) ?? 1) - 1;
        if (left > 0) users.set(user, left);
        else users.delete(user);
      }
    },
    inUse: () => ({ server, users: new Map(users) }),
  };
}
