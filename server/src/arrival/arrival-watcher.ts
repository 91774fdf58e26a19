/**
 * Analyze on arrival (issue 23; docs/deploy.md §Analyze on arrival): queues every new lumbar MRI for analysis as it
 * arrives at the EHR, with nobody opening the app, so that the CDS card at a spine referral already has findings.
 *
 * One loop per trusted EHR, in the process that holds that EHR's lease (arrival-store.ts). Each read:
 *
 * 1. looks at the jobs it queued before (the cursor's `pending`): finished ones are dropped, ones the engine no longer
 *    knows (an in-process engine restarted) are queued again;
 * 2. reads `ImagingStudy?_lastUpdated=ge<cursor>&_sort=_lastUpdated&_count=N` with the server's own SMART Backend
 *    Services token, page after page until the EHR has no more, and for each study in order:
 *    - one the selection refuses (select-arrival.ts) is skipped with a log line that names the reason, not the study;
 *    - one that already has this model version's report is skipped (`findOwnAnalysis`, as POST /api/analyses does);
 *    - any other is submitted to the analysis jobs as a system job (no user token: the engine acts with its own Backend
 *      Services token), joining the study's job when one is queued or running;
 *    and the cursor moves past it and is written at once.
 *
 * A Subscription notification (subscription.ts) only wakes the loop to make this same read: its payload is never
 * read. When the EHR fails (503, no answer) the read stops where it is — the cursor is not moved past a study that was
 * not handled — and is tried again after a backoff (1 s, doubled, at most ARRIVAL_POLL_INTERVAL_S, or the EHR's
 * Retry-After); a token the EHR refuses (401: expired or revoked) is replaced by a fresh one and the request made
 * again; a full queue (or the watcher's share of it, MAX_CONCURRENT_ANALYSES_PER_USER) is waited out the same way.
 */
import type { ImagingStudy } from 'fhir/r4';
import type { FhirClient } from '../fhir/fhir-client';
import type { ModelRef } from '../findings/findings';
import { isFinishedState, JobRefusedError, type AnalysisJobs } from '../jobs/analysis-jobs';
import { PipelineError } from '../pipeline/pipeline-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import {
  afterStudy,
  arrivalSearchParams,
  emptyCursor,
  isHandled,
  withoutPending,
  withPending,
  type ArrivalCursor,
} from './arrival-cursor';
import type { ArrivalObserver } from './arrival-metrics';
import type { ArrivalMode } from './arrival-mode';
import type { ArrivalStore } from './arrival-store';
import { arrivalDecision, SKIP_REASON_TEXT } from './select-arrival';

/** Studies asked for per page. */
export const ARRIVAL_PAGE_SIZE = 50;
/** Pages one read goes through at most before it lets the loop breathe (it goes on at once). */
const MAX_PAGES_PER_READ = 200;
/** How often a process that does not hold an EHR's lease tries to take it. */
const LEASE_TRY_MS = 10_000;

export type ArrivalLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  fields: Record<string, unknown>,
  message: string,
) => void;

/** Registers ldh-cds's rest-hook Subscription at an EHR (subscription.ts). */
export interface SubscriptionRegistrar {
  /** Notifications will come (`active`), or why they will not (the EHR offers no Subscription, refused it, …). */
  register(fhirBaseUrl: string): Promise<{ active: true } | { active: false; reason: string; offered: boolean }>;
}

export interface ArrivalWatcherOptions {
  ehrs: readonly { fhirBaseUrl: string; imagingOrigins: readonly string[] }[];
  mode: Exclude<ArrivalMode, 'off'>;
  pollIntervalMs: number;
  /** With a Subscription: reads made anyway, in case a notification was lost. */
  recheckIntervalMs: number;
  /** A first read (no cursor yet) starts this far back; 0: at the newest study the EHR holds. */
  backfillMs: number;
  pageSize?: number;
  store: ArrivalStore;
  jobs: Pick<AnalysisJobs, 'submit' | 'get'>;
  /** The server's own Backend Services token for this EHR; `refused`: the EHR just refused that one, get another. */
  systemToken: (fhirBaseUrl: string, refused?: string) => Promise<string>;
  fhirClient: (fhirBaseUrl: string, accessToken: string) => FhirClient;
  /** The model that would analyze the study and, when the EHR holds its analysis already, that analysis. */
  findOwnAnalysis: (request: {
    fhirBaseUrl: string;
    accessToken: string;
    imagingStudy: string;
  }) => Promise<{ model: ModelRef; stored?: unknown }>;
  /** The CDS services' rule for a lumbar MRI (cds-hooks/trigger-codes.ts, CDS_CODES_FILE). */
  isLumbarMri: (study: ImagingStudy) => boolean;
  storeStructuredReport: boolean;
  /** With `subscription` and `auto`. */
  subscriptions?: SubscriptionRegistrar;
  log: ArrivalLog;
  /** Counts the reads and the studies queued (arrival-metrics.ts); none: nothing counted. */
  observe?: ArrivalObserver;
  now?: () => number;
}

export interface ArrivalWatcher {
  /** Stops the loops (a read under way ends at its next study) and gives the leases up. */
  close(): Promise<void>;
}

/** The requester of the watcher's jobs: who reads them, and whose share of the queue they count against. */
export const arrivalRequester = (fhirBaseUrl: string): string => `arrival:${fhirBaseUrl}`;

/** A read that must stop and be tried again later; the cursor stays where it is. */
class RetryLater extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly quiet = false,
  ) {
    super(message);
    this.name = 'RetryLater';
  }
}

/** The HTTP status of an upstream failure, wherever the stage or the pipeline put it. */
function upstreamStatusOf(error: unknown): number | undefined {
  if (error instanceof UpstreamRequestError) return error.status;
  if (error instanceof PipelineError && error.kind === 'upstream') return error.upstream?.status;
  return undefined;
}

const isStopped = (error: unknown): boolean => error instanceof Error && error.name === 'ArrivalWatcherClosed';

export function createArrivalWatcher(options: ArrivalWatcherOptions): ArrivalWatcher {
  const { store, jobs, log } = options;
  const now = options.now ?? Date.now;
  const pageSize = options.pageSize ?? ARRIVAL_PAGE_SIZE;
  let closed = false;
  const loops = new Map<string, { wake: () => void; done: Promise<void> }>();

  function stopIfClosed(): void {
    if (closed) {
      const error = new Error('the arrival watcher was closed');
      error.name = 'ArrivalWatcherClosed';
      throw error;
    }
  }

  /** One EHR: a token that is renewed when refused, and the read. */
  function readerOf(fhirBaseUrl: string, imagingOrigins: readonly string[]) {
    const requester = arrivalRequester(fhirBaseUrl);
    let token: string | undefined;

    /** Runs `request` with the system token; once more with a fresh one when the EHR refuses it (401). */
    async function withToken<T>(request: (accessToken: string) => Promise<T>): Promise<T> {
      token ??= await options.systemToken(fhirBaseUrl);
      try {
        return await request(token);
      } catch (error) {
        if (upstreamStatusOf(error) !== 401) throw error;
        log(
          'info',
          { ehr: fhirBaseUrl },
          'arrival watcher: the EHR refused its token (HTTP 401); asking for a new one',
        );
        token = await options.systemToken(fhirBaseUrl, token);
        return request(token);
      }
    }

    async function firstCursor(): Promise<ArrivalCursor> {
      if (options.backfillMs > 0) return emptyCursor(new Date(now() - options.backfillMs).toISOString());
      // The newest study the EHR holds now: it and everything before it are not arrivals.
      const [newest] = await withToken((t) =>
        options
          .fhirClient(fhirBaseUrl, t)
          .search<ImagingStudy>('ImagingStudy', { _sort: '-_lastUpdated', _count: '1' }),
      );
      return newest ? afterStudy(emptyCursor(), newest) : emptyCursor();
    }

    /** Queues the study unless this model version's analysis is on file; the cursor with it pending, or as it was. */
    async function queue(cursor: ArrivalCursor, imagingStudy: string): Promise<ArrivalCursor> {
      let own: { model: ModelRef; stored?: unknown };
      try {
        own = await withToken((accessToken) => options.findOwnAnalysis({ fhirBaseUrl, accessToken, imagingStudy }));
      } catch (error) {
        const status = upstreamStatusOf(error);
        const kind = error instanceof PipelineError ? error.kind : undefined;
        if (kind === 'not-found' || kind === 'unprocessable' || status === 404 || status === 410) {
          log('info', { ehr: fhirBaseUrl, kind, status }, 'arrival skipped: the study cannot be opened');
          return withoutPending(cursor, imagingStudy);
        }
        if (status === 403)
          throw new Error(
            `the EHR refused ldh-cds's own token reading a study or its reports (HTTP 403): it must allow BACKEND_CLIENT_ID the scopes of BACKEND_SCOPES (docs/deploy.md §Worker authorization)`,
          );
        throw error;
      }
      if (own.stored !== undefined) {
        log(
          'info',
          { ehr: fhirBaseUrl, model: `${own.model.id} ${own.model.version}` },
          'arrival skipped: already analyzed with this model version',
        );
        return withoutPending(cursor, imagingStudy);
      }
      let submitted;
      try {
        submitted = await jobs.submit(
          {
            fhirBaseUrl,
            imagingStudy,
            model: own.model,
            imagingOrigins: [...imagingOrigins],
            storeStructuredReport: options.storeStructuredReport,
          },
          // A system job: no user, no user token. The engine acts with the server's own Backend Services token.
          { reader: requester, user: requester, accessToken: '' },
        );
      } catch (error) {
        if (error instanceof JobRefusedError)
          throw new RetryLater(
            error.reason === 'queue-full'
              ? 'the analysis queue is full (MAX_QUEUED_ANALYSES)'
              : 'the watcher has as many analyses unfinished as one requester may (MAX_CONCURRENT_ANALYSES_PER_USER)',
            error.retryAfterSeconds * 1000,
            true,
          );
        throw error;
      }
      const { snapshot, joined } = submitted;
      log('info', { ehr: fhirBaseUrl, job: snapshot.id, joined }, 'arrival queued for analysis');
      options.observe?.queued(fhirBaseUrl);
      return withPending(cursor, { imagingStudy, jobId: snapshot.id });
    }

    /** The jobs queued before: finished ones dropped, lost ones queued again. */
    async function lookAtPending(start: ArrivalCursor): Promise<ArrivalCursor> {
      let cursor = start;
      for (const pending of start.pending) {
        stopIfClosed();
        const snapshot = await jobs.get(pending.jobId, requester);
        if (snapshot && !isFinishedState(snapshot.state)) continue;
        if (snapshot) {
          const failed = snapshot.state === 'failed' ? { status: snapshot.error?.status } : {};
          log(
            snapshot.state === 'completed' ? 'info' : 'warn',
            { ehr: fhirBaseUrl, job: snapshot.id, state: snapshot.state, ...failed },
            'arrival analysis finished',
          );
          cursor = withoutPending(cursor, pending.imagingStudy);
        } else {
          // Unknown to the engine: an in-process engine that restarted lost it. Queue it again (or find it done).
          log(
            'info',
            { ehr: fhirBaseUrl, job: pending.jobId },
            'arrival job no longer known to the engine: queuing the study again',
          );
          cursor = await queue(withoutPending(cursor, pending.imagingStudy), pending.imagingStudy);
        }
        await store.writeCursor(fhirBaseUrl, cursor);
      }
      return cursor;
    }

    /** One read: what was pending, then every study that arrived since the cursor, oldest first. */
    return async function read(): Promise<void> {
      let cursor = await store.readCursor(fhirBaseUrl);
      if (!cursor) {
        cursor = await firstCursor();
        await store.writeCursor(fhirBaseUrl, cursor);
        log(
          'info',
          { ehr: fhirBaseUrl, since: cursor.since ?? 'the first study' },
          'arrival watcher: first read of this EHR',
        );
      }
      cursor = await lookAtPending(cursor);
      let pageUrl: string | undefined;
      for (let pages = 0; pages < MAX_PAGES_PER_READ; pages++) {
        stopIfClosed();
        const params = arrivalSearchParams(cursor, pageSize);
        const page = await withToken((t) =>
          options
            .fhirClient(fhirBaseUrl, t)
            .searchPage<ImagingStudy>('ImagingStudy', params, pageUrl === undefined ? {} : { pageUrl }),
        );
        assertOldestFirst(page.resources);
        const fresh = page.resources.filter((study) => !isHandled(cursor as ArrivalCursor, study));
        for (const study of fresh) {
          stopIfClosed();
          const decision = arrivalDecision(study, options.isLumbarMri);
          if (decision.queue) cursor = await queue(cursor, `ImagingStudy/${study.id ?? ''}`);
          else
            log(
              'info',
              { ehr: fhirBaseUrl, reason: decision.reason },
              `arrival skipped: ${SKIP_REASON_TEXT[decision.reason]}`,
            );
          cursor = afterStudy(cursor, study);
          await store.writeCursor(fhirBaseUrl, cursor);
        }
        if (page.next === undefined) return;
        // More to come. Read on from the cursor, which holds when studies change between pages (an offset does not);
        // a page with nothing new (studies of one instant, more than a page of them) is left by its `next` link.
        pageUrl = fresh.length > 0 ? undefined : page.next;
      }
      throw new RetryLater(`more than ${MAX_PAGES_PER_READ} pages of new studies: reading on at once`, 0, true);
    };
  }

  function assertOldestFirst(studies: readonly ImagingStudy[]): void {
    const instants = studies.map((study) => Date.parse(study.meta?.lastUpdated ?? ''));
    if (instants.some((at, index) => index > 0 && at < (instants[index - 1] ?? at)))
      throw new Error(
        'the EHR does not sort ImagingStudy by _lastUpdated (_sort=_lastUpdated): analyze on arrival cannot poll it. Use a Subscription (ANALYZE_ON_ARRIVAL=subscription) or turn it off.',
      );
  }

  /** Decides how this EHR tells of arrivals: true when a Subscription will notify us. */
  async function prepare(fhirBaseUrl: string): Promise<boolean> {
    if (options.mode === 'poll' || !options.subscriptions) return false;
    const outcome = await options.subscriptions.register(fhirBaseUrl);
    if (outcome.active) {
      log(
        'info',
        { ehr: fhirBaseUrl, recheckS: options.recheckIntervalMs / 1000 },
        'arrival watcher: notified by a FHIR Subscription (rest-hook)',
      );
      return true;
    }
    const level = options.mode === 'subscription' || outcome.offered ? 'warn' : 'info';
    log(
      level,
      { ehr: fhirBaseUrl, reason: outcome.reason, pollS: options.pollIntervalMs / 1000 },
      'arrival watcher: no Subscription, polling instead',
    );
    return false;
  }

  function backoffMs(failures: number, error: unknown): number {
    if (error instanceof RetryLater && error.retryAfterMs !== undefined) return error.retryAfterMs;
    const asked = error instanceof UpstreamRequestError ? error.retryAfterSeconds : undefined;
    const doubling = Math.min(options.pollIntervalMs, 1000 * 2 ** Math.min(failures - 1, 20));
    return Math.max(doubling, (asked ?? 0) * 1000);
  }

  function startLoop(ehr: { fhirBaseUrl: string; imagingOrigins: readonly string[] }): void {
    const { fhirBaseUrl } = ehr;
    const read = readerOf(fhirBaseUrl, ehr.imagingOrigins);
    let wakeUp: (() => void) | undefined;
    /** A read was asked for while one ran: make another right after. */
    let again = false;
    const sleep = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        if (again || closed) {
          again = false;
          resolve();
          return;
        }
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          wakeUp = undefined;
          resolve();
        }
        wakeUp = done;
      });
    const wake = (): void => {
      if (wakeUp) wakeUp();
      else again = true;
    };

    async function loop(): Promise<void> {
      options.observe?.started(fhirBaseUrl, now());
      let holding = false;
      let notified = false;
      /** When the Subscription was last registered or checked (it is again every ARRIVAL_RECHECK_INTERVAL_S). */
      let preparedAt: number | undefined;
      let failures = 0;
      while (!closed) {
        let delay: number;
        try {
          if (await store.hold(fhirBaseUrl)) {
            if (!holding) log('info', { ehr: fhirBaseUrl, mode: options.mode }, 'arrival watcher: reading this EHR');
            holding = true;
            if (preparedAt === undefined || now() - preparedAt >= options.recheckIntervalMs) {
              notified = await prepare(fhirBaseUrl);
              preparedAt = now();
            }
            await read();
            options.observe?.read(fhirBaseUrl, 'ok', now());
            if (failures > 0)
              log('info', { ehr: fhirBaseUrl, failures }, 'arrival watcher: reading again after the failures');
            failures = 0;
            delay = notified ? options.recheckIntervalMs : options.pollIntervalMs;
          } else {
            if (holding) log('warn', { ehr: fhirBaseUrl }, 'arrival watcher: another process reads this EHR now');
            holding = false;
            preparedAt = undefined;
            delay = Math.min(LEASE_TRY_MS, options.pollIntervalMs);
          }
        } catch (error) {
          if (isStopped(error)) break;
          options.observe?.read(fhirBaseUrl, error instanceof RetryLater && error.quiet ? 'deferred' : 'failed', now());
          failures++;
          delay = backoffMs(failures, error);
          const fields = {
            ehr: fhirBaseUrl,
            failures,
            retryInS: Math.round(delay / 100) / 10,
            ...(upstreamStatusOf(error) === undefined ? {} : { status: upstreamStatusOf(error) }),
            reason: (error as Error).message,
          };
          if (error instanceof RetryLater && error.quiet)
            log('info', fields, 'arrival watcher: waiting before reading on');
          else log('warn', fields, 'arrival watcher: the read failed; the cursor stays, trying again');
        }
        await sleep(delay);
      }
      if (holding) await store.release(fhirBaseUrl).catch(() => undefined);
    }

    loops.set(fhirBaseUrl, { wake, done: loop() });
  }

  for (const ehr of options.ehrs) startLoop(ehr);
  // A notification, taken here or by another process (arrival-store.ts): the loop of that EHR reads now.
  store.onReadRequested((fhirBaseUrl) => loops.get(fhirBaseUrl)?.wake());

  return {
    async close() {
      closed = true;
      for (const { wake } of loops.values()) wake();
      await Promise.all([...loops.values()].map(({ done }) => done));
    },
  };
}
