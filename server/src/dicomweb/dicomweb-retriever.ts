/**
 * DICOMweb retrieval (PS3.18 QIDO-RS / WADO-RS) through dicomweb-client, made robust for real PACS:
 * - frames are asked for as stored (`transfer-syntax=*`, PS3.18 §8.7.3.5.2) and decoded by us; when the server
 *   refuses that (400/406) — or the caller asks — they are asked for in Explicit VR Little Endian, which any
 *   server must transcode to;
 * - every request has a timeout, requests share a bounded concurrency, 429/5xx and network errors are retried
 *   with exponential backoff (honouring Retry-After), and 401/403/404 fail at once with a message that says
 *   what to fix;
 * - a bearer token or basic credentials go in the Authorization header, and never follow a redirect to another
 *   origin (redirect-guard.ts): such a redirect fails at once, naming the origin it pointed to;
 * - an AbortSignal (a cancelled analysis) aborts the requests in flight, starts no new one and cuts a backoff short:
 *   every method then rejects with the signal's reason, never retried.
 * dicomweb-client needs an XMLHttpRequest in Node: every request gets its own RedirectGuardedXhr (xhr2's, guarded), so
 * no global one is installed. It logs failed requests to the console unless `verbose: false`; its errors are mapped to
 * `UpstreamRequestError` (service `DICOMweb`) with the status kept.
 */
import { api } from 'dicomweb-client';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { RedirectGuardedXhr, MAX_REDIRECTS, type RefusedRedirect } from './redirect-guard';

export type DicomJsonObject = Record<
  string,
  { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string } | undefined
>;

export interface RetrievedFrame {
  sopInstanceUid: string;
  /** 1-based. */
  frame: number;
  bytes: Uint8Array;
  /** From the part's Content-Type; explicit VR little endian when the server sent bare application/octet-stream. */
  transferSyntaxUid: string;
  contentType: string;
}

export type FrameTransferSyntax = 'as-stored' | 'explicit-little-endian';

export interface DicomwebRetriever {
  searchForSeries(studyInstanceUid: string): Promise<DicomJsonObject[]>;
  retrieveSeriesMetadata(studyInstanceUid: string, seriesInstanceUid: string): Promise<DicomJsonObject[]>;
  retrieveFrames(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    frames: { sopInstanceUid: string; frame: number }[],
    transferSyntax?: FrameTransferSyntax,
  ): Promise<RetrievedFrame[]>;
  /**
   * STOW-RS (PS3.18 §10.5) of Part 10 instances into the study: how an AI result (a DICOM SR) reaches the PACS.
   * Safe to repeat: a PACS keys instances by SOP Instance UID. Absent on sources that cannot store (a folder).
   */
  storeInstances?(studyInstanceUid: string, part10Files: Uint8Array[]): Promise<void>;
}

export interface DicomwebRetrieverOptions {
  accessToken?: string;
  basicAuth?: { username: string; password: string };
  /** Requests in flight at once (default 6). */
  concurrency?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Retries after the first try for 429, 5xx and network errors (default 3). */
  retries?: number;
  /** First backoff delay; doubles per retry, with jitter (default 250 ms). */
  backoffMs?: number;
  /** Aborted: requests in flight are aborted, none is started or repeated, and each call rejects with its reason. */
  signal?: AbortSignal;
}

/** PS3.18 §8.7.3.5.2: application/octet-stream without a transfer-syntax parameter means Explicit VR Little Endian. */
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** PS3.18 Table 8.7.3-5: the media types of compressed frames, for servers that omit the transfer-syntax parameter. */
const MEDIA_TYPE_TRANSFER_SYNTAX: Record<string, string> = {
  'image/jpeg': '1.2.840.10008.1.2.4.50',
  'image/jls': '1.2.840.10008.1.2.4.80',
  'image/jp2': '1.2.840.10008.1.2.4.90',
  'image/dicom-rle': '1.2.840.10008.1.2.5',
  'image/x-dicom-rle': '1.2.840.10008.1.2.5',
};

interface ClientError {
  status?: number;
  response?: unknown;
  message?: string;
  request?: { getResponseHeader?: (name: string) => string | null };
}

const STATUS_ADVICE: Record<number, string> = {
  400: 'the server did not understand the request',
  401: 'the server did not accept the credentials (missing, expired or wrong access token)',
  403: 'the credentials are not allowed to read this study',
  404: 'the study, series or instance does not exist on this server',
  406: 'the server cannot send the requested representation',
};

function toRequestError(what: string, error: unknown, timedOut: boolean): UpstreamRequestError {
  const { status, response, message } = (typeof error === 'object' && error !== null ? error : {}) as ClientError;
  let body: unknown = response;
  if (response instanceof ArrayBuffer) body = new TextDecoder().decode(response).slice(0, 2000);
  const httpStatus = typeof status === 'number' && status > 0 ? status : undefined;
  const detail = timedOut
    ? 'timed out'
    : httpStatus
      ? `with HTTP ${httpStatus}${STATUS_ADVICE[httpStatus] ? ` (${STATUS_ADVICE[httpStatus]})` : ''}`
      : `: ${message ?? 'no response'}`;
  return new UpstreamRequestError(
    'DICOMweb',
    `DICOMweb ${what} failed ${detail}`.replace(' failed :', ' failed:'),
    httpStatus,
    body,
  );
}

const REFUSED_REDIRECT_REASON: Record<RefusedRedirect['reason'], string> = {
  'other-origin': "ldh-cds does not follow a redirect to another server with the user's credentials",
  'not-get': 'ldh-cds follows redirects of reads only',
  'too-many': `ldh-cds follows at most ${MAX_REDIRECTS} redirects`,
};

/** Not repeated: the PACS answered. The origin only, never the Location's path or query. */
function redirectRefusedError(what: string, refused: RefusedRedirect): UpstreamRequestError {
  return new UpstreamRequestError(
    'DICOMweb',
    `DICOMweb ${what} was redirected (HTTP ${refused.status}) to ${refused.origin}, and ${REFUSED_REDIRECT_REASON[refused.reason]}: ` +
      "configure the address the PACS answers at itself as the study's Endpoint.address",
    refused.status,
    undefined,
  );
}

const isRetryable = (error: UpstreamRequestError): boolean =>
  error.status === undefined || error.status === 429 || error.status >= 500;

function retryAfterMs(error: unknown): number | undefined {
  const header = (error as ClientError).request?.getResponseHeader?.('Retry-After');
  const seconds = header ? Number(header) : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, 30_000) : undefined;
}

/** Waits `ms`, or less when the signal fires meanwhile (the next attempt then sees it). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A counting semaphore: at most `limit` tasks run at once, the rest wait in order. */
export function createLimiter(limit: number): <R>(task: () => Promise<R>) => Promise<R> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** Runs `task` over `items` with at most `limit` in flight, keeping order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

type FramePart = ArrayBuffer & { transferSyntaxUID?: string | null; contentType?: string | null };

export function createDicomwebRetriever(baseUrl: string, options: DicomwebRetrieverOptions = {}): DicomwebRetriever {
  const headers: Record<string, string> = {};
  if (options.accessToken) headers.Authorization = `Bearer ${options.accessToken}`;
  else if (options.basicAuth) {
    const { username, password } = options.basicAuth;
    headers.Authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  const client = new api.DICOMwebClient({
    url: baseUrl.replace(/\/+$/, ''),
    headers,
    verbose: false,
    singlepart: false,
  });
  const limit = createLimiter(options.concurrency ?? 6);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 250;
  const { signal } = options;

  /** One request with timeout, limited concurrency and retries; `run` gets a fresh XHR to pass as `instance`. */
  async function call<R>(what: string, run: (instance: XMLHttpRequest) => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      let timedOut = false;
      let failure: unknown;
      let refusedRedirect: RefusedRedirect | undefined;
      const started = Date.now();
      try {
        return await limit(async () => {
          // A request that waited for its turn while the analysis was cancelled is never sent.
          signal?.throwIfAborted();
          const instance = new RedirectGuardedXhr();
          instance.timeout = timeoutMs;
          const timer = setTimeout(() => {
            timedOut = true;
            instance.abort();
          }, timeoutMs + 100);
          // xhr2's abort() does not settle dicomweb-client's promise (no readystatechange): the race does.
          let abort = (): void => undefined;
          const aborted = new Promise<never>((_resolve, reject) => {
            abort = () => {
              instance.abort();
              reject(signal?.reason as Error);
            };
          });
          signal?.addEventListener('abort', abort, { once: true });
          try {
            return await (signal ? Promise.race([run(instance), aborted]) : run(instance));
          } finally {
            clearTimeout(timer);
            signal?.removeEventListener('abort', abort);
            refusedRedirect = instance.refusedRedirect;
          }
        });
      } catch (error) {
        signal?.throwIfAborted();
        if (refusedRedirect) throw redirectRefusedError(what, refusedRedirect);
        failure = error;
        // xhr2 ends a timed-out request with status 0, like a network error: tell them apart by the clock.
        if (Date.now() - started >= timeoutMs) timedOut = true;
      }
      const requestError = toRequestError(what, failure, timedOut);
      if (attempt >= retries || !isRetryable(requestError)) throw requestError;
      const delay = retryAfterMs(failure) ?? backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
      await sleep(delay, signal);
    }
  }

  async function retrieveInstanceFrames(
    studyInstanceUID: string,
    seriesInstanceUID: string,
    sopInstanceUid: string,
    frameNumbers: number[],
    transferSyntax: FrameTransferSyntax,
  ): Promise<RetrievedFrame[]> {
    const mediaTypes =
      transferSyntax === 'as-stored'
        ? [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }]
        : [{ mediaType: 'application/octet-stream', transferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN }];
    const parts = await call(`WADO-RS frames ${frameNumbers.join(',')} of ${sopInstanceUid}`, (instance) => {
      const result = client.retrieveInstanceFrames({
        studyInstanceUID,
        seriesInstanceUID,
        sopInstanceUID: sopInstanceUid,
        frameNumbers: frameNumbers.join(','),
        mediaTypes,
        request: { instance },
      } as Parameters<typeof client.retrieveInstanceFrames>[0]) as unknown as Promise<FramePart[]>;
      return result;
    });
    if (parts.length < frameNumbers.length) {
      throw new UpstreamRequestError(
        'DICOMweb',
        `DICOMweb returned ${parts.length} part(s) for ${frameNumbers.length} frame(s) of ${sopInstanceUid}`,
        undefined,
        undefined,
      );
    }
    return frameNumbers.map((frame, i) => {
      const part = parts[i] as FramePart;
      const contentType = (part.contentType ?? 'application/octet-stream').toLowerCase();
      return {
        sopInstanceUid,
        frame,
        bytes: new Uint8Array(part),
        transferSyntaxUid:
          part.transferSyntaxUID ?? MEDIA_TYPE_TRANSFER_SYNTAX[contentType] ?? EXPLICIT_VR_LITTLE_ENDIAN,
        contentType,
      };
    });
  }

  let asStoredRefused = false;

  return {
    searchForSeries: (studyInstanceUID) =>
      call(
        `QIDO-RS series search of study ${studyInstanceUID}`,
        (instance) =>
          client.searchForSeries({ studyInstanceUID, request: { instance } } as Parameters<
            typeof client.searchForSeries
          >[0]) as unknown as Promise<DicomJsonObject[]>,
      ),
    async storeInstances(studyInstanceUID, part10Files) {
      const datasets = part10Files.map((file) => file.slice().buffer);
      await call(`STOW-RS of ${part10Files.length} instance(s) into study ${studyInstanceUID}`, (instance) =>
        client.storeInstances({ studyInstanceUID, datasets, request: { instance } }),
      );
    },
    retrieveSeriesMetadata: (studyInstanceUID, seriesInstanceUID) =>
      call(
        `WADO-RS metadata of series ${seriesInstanceUID}`,
        (instance) =>
          client.retrieveSeriesMetadata({
            studyInstanceUID,
            seriesInstanceUID,
            request: { instance },
          }) as unknown as Promise<DicomJsonObject[]>,
      ),
    async retrieveFrames(studyInstanceUID, seriesInstanceUID, frames, transferSyntax = 'as-stored') {
      // One request per instance (all its wanted frames), in the order asked.
      const byInstance = new Map<string, number[]>();
      for (const { sopInstanceUid, frame } of frames) {
        byInstance.set(sopInstanceUid, [...(byInstance.get(sopInstanceUid) ?? []), frame]);
      }
      const groups = [...byInstance.entries()];
      const fetched = await Promise.all(
        groups.map(async ([sop, numbers]) => {
          const wanted = asStoredRefused ? 'explicit-little-endian' : transferSyntax;
          try {
            return await retrieveInstanceFrames(studyInstanceUID, seriesInstanceUID, sop, numbers, wanted);
          } catch (error) {
            const status = error instanceof UpstreamRequestError ? error.status : undefined;
            if (wanted !== 'as-stored' || (status !== 406 && status !== 400)) throw error;
            // The server will not send frames as stored: ask it to transcode (PS3.18 §8.7.3.5.2).
            asStoredRefused = true;
            return retrieveInstanceFrames(studyInstanceUID, seriesInstanceUID, sop, numbers, 'explicit-little-endian');
          }
        }),
      );
      const lookup = new Map(fetched.flat().map((f) => [`${f.sopInstanceUid}\u0000${f.frame}`, f]));
      return frames.map(({ sopInstanceUid, frame }) => {
        const found = lookup.get(`${sopInstanceUid}\u0000${frame}`);
        if (!found)
          throw new UpstreamRequestError(
            'DICOMweb',
            `DICOMweb returned no data for frame ${frame} of ${sopInstanceUid}`,
            undefined,
            undefined,
          );
        return found;
      });
    },
  };
}
