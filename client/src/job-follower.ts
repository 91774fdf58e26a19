/**
 * Follows an analysis job to its end (docs/architecture.md §Analysis jobs, §The client): its Server-Sent Events
 * (`GET /api/analyses/jobs/{id}/events`) read with fetch streaming — EventSource cannot send the `Authorization`
 * header, and the token must not go into a URL — and parsed by eventsource-parser.
 *
 * - Every event carries the whole job; the stream begins with the job now (`snapshot`), so a reconnect needs no
 *   `Last-Event-ID` and the panel simply shows the latest snapshot.
 * - A stream that drops (a server restart, a proxy that cuts long responses), fails to open (network error, 5xx, 429,
 *   a page that is not an event stream), or goes quiet for longer than three heartbeats is opened again after a
 *   backoff: the server's `retry:` (else `firstRetryMs`), doubled at each failure in a row, with jitter, at most
 *   `maxRetryMs`. A connection that brought an event starts the count again.
 * - After `streamFailuresBeforePolling` failures in a row it stops streaming and polls `GET /api/analyses/jobs/{id}`
 *   every `pollIntervalMs` (backing off the same way while that fails) until the job ends.
 * - 404 (the server does not know the job: it restarted, or the job finished more than an hour ago) ends the follow
 *   with `JobGoneError`; 401 and other refusals end it with their ApiError; the caller's signal ends it with an
 *   AbortError. A fresh session is asked for at each (re)connection and poll, so a refreshed token is used.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import {
  analysisJobUrl,
  ApiError,
  buildApiHeaders,
  getAnalysisJob,
  isFinishedJobState,
  toAnalysisJob,
  type AnalysisJob,
  type ApiSession,
  type FetchFn,
} from './api';
import { errorBodyToMessage, requestReferenceOf } from './operation-outcome';

/** How the panel is hearing from the job now. */
export type JobConnection = 'streaming' | 'reconnecting' | 'polling';

export interface FollowTiming {
  /** The first reconnection delay when the server sent no `retry:`, ms. */
  firstRetryMs: number;
  /** The longest delay between two tries, ms. */
  maxRetryMs: number;
  /** Stream failures in a row after which the follow polls instead. */
  streamFailuresBeforePolling: number;
  /** How often a polling follow asks for the job, ms. */
  pollIntervalMs: number;
  /** A stream that brings nothing, not even a heartbeat comment, for this long is dropped and opened again, ms. */
  idleTimeoutMs: number;
}

export const DEFAULT_FOLLOW_TIMING: FollowTiming = {
  firstRetryMs: 1000,
  maxRetryMs: 30_000,
  streamFailuresBeforePolling: 3,
  pollIntervalMs: 2000,
  // The server sends a heartbeat comment every 15 s.
  idleTimeoutMs: 45_000,
};

/** The most a stream may buffer for one event (a completed job carries the findings: tens of kB). */
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

export interface FollowJobOptions {
  jobId: string;
  /** The page the API lives beside. */
  baseUrl: string;
  getSession: () => Promise<ApiSession>;
  /** Every snapshot as it arrives, the last one included. */
  onUpdate: (job: AnalysisJob) => void;
  /** How the follow hears from the job: streaming, waiting to reconnect, or polling. */
  onConnection?: (connection: JobConnection) => void;
  signal: AbortSignal;
  fetch?: FetchFn;
  timing?: Partial<FollowTiming>;
  /** 0 ≤ x < 1, for the jitter (tests pass a constant). */
  random?: () => number;
}

/** The server does not know the job (404): it restarted, or the job ended long ago. */
export class JobGoneError extends ApiError {
  constructor(message: string, reference?: string) {
    super(404, message, reference);
    this.name = 'JobGoneError';
  }
}

const GONE_MESSAGE =
  'The ldh-cds server no longer knows this analysis (it may have been restarted). Analyze the study again to see its result.';

function abortError(): DOMException {
  return new DOMException('The follow of the analysis job was stopped.', 'AbortError');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Worth trying again: the network, a server or proxy that is down or busy. A refusal (401, 403, 404, …) is not. */
function isTransient(error: unknown): boolean {
  if (error instanceof ApiError) return error.status >= 500 || error.status === 429 || error.status === 408;
  return error instanceof TypeError || error instanceof StreamFailure;
}

/** A stream that did not bring the job to its end; the follow tries again. */
class StreamFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamFailure';
  }
}

/** The delay before try number `failures` (1, 2, …): `base` doubled each time, at most `max`, the upper half jittered. */
export function backoffDelay(failures: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

async function refusal(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text()) as unknown;
  } catch {
    body = undefined;
  }
  const message = errorBodyToMessage(body, response.status, response.statusText);
  const reference = requestReferenceOf(response.headers, body);
  // 404: the same sentence as a poll that finds no job (the server's speaks of ids and sessions).
  return response.status === 404
    ? new JobGoneError(GONE_MESSAGE, reference)
    : new ApiError(response.status, message, reference);
}

interface StreamOutcome {
  /** The job's final snapshot, when the stream brought it. */
  final?: AnalysisJob;
  /** The stream brought at least one event. */
  productive: boolean;
}

export async function followJob(options: FollowJobOptions): Promise<AnalysisJob> {
  const timing: FollowTiming = { ...DEFAULT_FOLLOW_TIMING, ...options.timing };
  const random = options.random ?? Math.random;
  const doFetch = options.fetch ?? fetch;
  const { signal } = options;
  // A function, not the property: the checks below come after awaits, when the signal may have changed.
  const stopped = (): boolean => signal.aborted;
  let serverRetryMs: number | undefined;
  let connection: JobConnection | undefined;
  const report = (next: JobConnection): void => {
    if (next === connection) return;
    connection = next;
    options.onConnection?.(next);
  };
  const delay = (failures: number): number =>
    backoffDelay(
      failures,
      Math.min(serverRetryMs ?? timing.firstRetryMs, timing.maxRetryMs),
      timing.maxRetryMs,
      random,
    );

  /** One connection: the events until the final one, the end of the stream, a failure or the idle limit. */
  const stream = async (): Promise<StreamOutcome> => {
    const session = await options.getSession();
    const controller = new AbortController();
    const stop = (): void => {
      controller.abort();
    };
    signal.addEventListener('abort', stop, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    // Set by the callbacks while the stream is read.
    const seen: { final?: AnalysisJob; productive: boolean; idleExpired: boolean; overflow: boolean } = {
      productive: false,
      idleExpired: false,
      overflow: false,
    };
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        seen.idleExpired = true;
        controller.abort();
      }, timing.idleTimeoutMs);
    };
    const onEvent = (message: EventSourceMessage): void => {
      if (seen.final) return;
      let data: unknown;
      try {
        data = JSON.parse(message.data) as unknown;
      } catch {
        return;
      }
      const job = toAnalysisJob(data);
      if (!job || job.id !== options.jobId) return;
      seen.productive = true;
      report('streaming');
      options.onUpdate(job);
      if (isFinishedJobState(job.state)) seen.final = job;
    };
    const parser = createParser({
      onEvent,
      onRetry: (ms) => {
        if (Number.isFinite(ms) && ms >= 0) serverRetryMs = ms;
      },
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') seen.overflow = true;
      },
      maxBufferSize: MAX_EVENT_CHARS,
    });
    try {
      armIdle();
      const response = await doFetch(analysisJobUrl(options.baseUrl, options.jobId, '/events'), {
        method: 'GET',
        headers: { ...buildApiHeaders(session, false), Accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (!response.ok) throw await refusal(response);
      const type = response.headers.get('content-type') ?? '';
      if (!/^text\/event-stream\b/i.test(type) || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        throw new StreamFailure(`the events answer is not an event stream (${type || 'no type'})`);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      try {
        while (!seen.final) {
          const { done, value } = await reader.read();
          if (done) break;
          armIdle();
          parser.feed(decoder.decode(value, { stream: true }));
          if (seen.overflow) throw new StreamFailure('an event was larger than the app accepts');
        }
      } finally {
        // The final event is the last word: the stream is left, whatever the server still sends.
        await reader.cancel().catch(() => undefined);
      }
      return { ...(seen.final ? { final: seen.final } : {}), productive: seen.productive };
    } catch (error) {
      if (stopped()) throw abortError();
      if (seen.idleExpired) return { productive: seen.productive };
      if (error instanceof ApiError && !isTransient(error)) throw error;
      if (seen.productive) return { productive: true };
      throw error;
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', stop);
    }
  };

  const poll = async (): Promise<AnalysisJob> => {
    report('polling');
    let failures = 0;
    for (;;) {
      try {
        const job = await getAnalysisJob(await options.getSession(), options.jobId, {
          baseUrl: options.baseUrl,
          fetch: doFetch,
          signal,
        });
        if (!job) throw new JobGoneError(GONE_MESSAGE);
        report('polling');
        options.onUpdate(job);
        if (isFinishedJobState(job.state)) return job;
        failures = 0;
        await sleep(timing.pollIntervalMs, signal);
      } catch (error) {
        if (stopped()) throw abortError();
        if (!isTransient(error)) throw error;
        failures += 1;
        report('reconnecting');
        await sleep(Math.max(timing.pollIntervalMs, delay(failures)), signal);
      }
    }
  };

  let failures = 0;
  while (failures < timing.streamFailuresBeforePolling) {
    if (stopped()) throw abortError();
    try {
      const { final, productive } = await stream();
      if (final) return final;
      // Dropped, or quiet for too long: again, counting from this failure when it had brought something.
      failures = productive ? 1 : failures + 1;
    } catch (error) {
      if (stopped()) throw abortError();
      if (!isTransient(error)) throw error;
      failures += 1;
    }
    if (failures >= timing.streamFailuresBeforePolling) break;
    report('reconnecting');
    await sleep(delay(failures), signal);
  }
  return poll();
}
