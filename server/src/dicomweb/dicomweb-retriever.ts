/**
 * DICOMweb retrieval (PS3.18 QIDO-RS / WADO-RS) through dicomweb-client, with the caller's bearer token.
 * dicomweb-client needs an XMLHttpRequest in Node (xhr2, installed once) and logs failed requests to the
 * console unless `verbose: false`; its errors are mapped to `DicomwebRequestError` with the status kept.
 */
import { api } from 'dicomweb-client';
import XHR2 from 'xhr2';

export type DicomJsonObject = Record<
  string,
  { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string } | undefined
>;

export class DicomwebRequestError extends Error {
  readonly status: number | undefined;
  readonly body: unknown;
  constructor(message: string, status: number | undefined, body: unknown) {
    super(message);
    this.name = 'DicomwebRequestError';
    this.status = status;
    this.body = body;
  }
}

export interface RetrievedFrame {
  sopInstanceUid: string;
  /** 1-based. */
  frame: number;
  bytes: Uint8Array;
  /** From the part's Content-Type; explicit VR little endian when the server sent bare application/octet-stream. */
  transferSyntaxUid: string;
  contentType: string;
}

export interface DicomwebRetriever {
  searchForSeries(studyInstanceUid: string): Promise<DicomJsonObject[]>;
  retrieveSeriesMetadata(studyInstanceUid: string, seriesInstanceUid: string): Promise<DicomJsonObject[]>;
  retrieveFrames(
    studyInstanceUid: string,
    seriesInstanceUid: string,
    frames: { sopInstanceUid: string; frame: number }[],
  ): Promise<RetrievedFrame[]>;
}

/** PS3.18 §8.7.3.5.2: application/octet-stream without a transfer-syntax parameter means Explicit VR Little Endian. */
const DEFAULT_TRANSFER_SYNTAX = '1.2.840.10008.1.2.1';
const MEDIA_TYPE_TRANSFER_SYNTAX: Record<string, string> = {
  'image/jpeg': '1.2.840.10008.1.2.4.50',
  'image/jls': '1.2.840.10008.1.2.4.80',
  'image/jp2': '1.2.840.10008.1.2.4.90',
  'image/dicom-rle': '1.2.840.10008.1.2.5',
};

let xhrInstalled = false;
function installXmlHttpRequest(): void {
  if (xhrInstalled || 'XMLHttpRequest' in globalThis) {
    xhrInstalled = true;
    return;
  }
  Object.defineProperty(globalThis, 'XMLHttpRequest', { value: XHR2, writable: true, configurable: true });
  xhrInstalled = true;
}

interface ClientError {
  status?: number;
  response?: unknown;
  message?: string;
}

function toRequestError(what: string, error: unknown): DicomwebRequestError {
  const { status, response, message } = (typeof error === 'object' && error !== null ? error : {}) as ClientError;
  let body: unknown = response;
  if (response instanceof ArrayBuffer) body = new TextDecoder().decode(response);
  const httpStatus = typeof status === 'number' && status > 0 ? status : undefined;
  return new DicomwebRequestError(
    `DICOMweb ${what} failed${httpStatus ? ` with HTTP ${httpStatus}` : `: ${message ?? 'no response'}`}`,
    httpStatus,
    body,
  );
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

export function createDicomwebRetriever(
  baseUrl: string,
  accessToken: string,
  options: { concurrency?: number } = {},
): DicomwebRetriever {
  installXmlHttpRequest();
  const client = new api.DICOMwebClient({
    url: baseUrl.replace(/\/+$/, ''),
    headers: { Authorization: `Bearer ${accessToken}` },
    verbose: false,
    singlepart: false,
  });
  const concurrency = options.concurrency ?? 6;

  async function call<R>(what: string, run: () => Promise<R> | R): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw toRequestError(what, error);
    }
  }

  return {
    searchForSeries: (studyInstanceUID) =>
      call(
        'QIDO-RS series search',
        () => client.searchForSeries({ studyInstanceUID }) as unknown as Promise<DicomJsonObject[]>,
      ),
    retrieveSeriesMetadata: (studyInstanceUID, seriesInstanceUID) =>
      call(
        'WADO-RS series metadata',
        () =>
          client.retrieveSeriesMetadata({ studyInstanceUID, seriesInstanceUID, request: {} }) as unknown as Promise<
            DicomJsonObject[]
          >,
      ),
    retrieveFrames: (studyInstanceUID, seriesInstanceUID, frames) =>
      mapWithConcurrency(frames, concurrency, async ({ sopInstanceUid, frame }) => {
        const parts = (await call(
          `WADO-RS frame ${frame} of ${sopInstanceUid}`,
          () =>
            client.retrieveInstanceFrames({
              studyInstanceUID,
              seriesInstanceUID,
              sopInstanceUID: sopInstanceUid,
              frameNumbers: String(frame),
              request: {},
            }) as unknown as Promise<unknown[]>,
        )) as (ArrayBuffer & { transferSyntaxUID?: string | null; contentType?: string | null })[];
        const part = parts[0];
        if (!part)
          throw new DicomwebRequestError(
            `DICOMweb returned no data for frame ${frame} of ${sopInstanceUid}`,
            undefined,
            undefined,
          );
        const contentType = part.contentType ?? 'application/octet-stream';
        return {
          sopInstanceUid,
          frame,
          bytes: new Uint8Array(part),
          transferSyntaxUid:
            part.transferSyntaxUID ?? MEDIA_TYPE_TRANSFER_SYNTAX[contentType] ?? DEFAULT_TRANSFER_SYNTAX,
          contentType,
        };
      }),
  };
}
