/**
 * The viewer's memory (GET /api/stacks, GET /api/frames): scrolling a stack asks for the same series metadata and,
 * going back and forth, the same frames again and again; each is fetched from the PACS and decoded once. Bounded
 * LRUs, by bytes:
 * - decoded frames (the Float32 bodies as sent), 256 MiB by default;
 * - series metadata and series lists (WADO-RS / QIDO-RS DICOM JSON), 64 MiB by default;
 * - the ImagingStudy the token read (Study Instance UID, DICOMweb base, series), for `studyTtlMs` (60 s): how long
 *   a frame this token already read can be answered without asking the EHR again whether the token may read the
 *   study. After that the ImagingStudy is read with the token again, so a revoked or expired token is refused.
 *
 * Every key starts with the FHIR server and a hash of the caller's access token (never the token itself): one
 * user's entries are never answered to another, even for the same study. Concurrent requests for the same key (a
 * stack prefetched in parallel) share one fetch; failures are not kept.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { DicomJson } from '../dicom/dicom-json';

export interface ViewerCacheOptions {
  /** Bytes of decoded frames kept (default 256 MiB). */
  frameBytes?: number;
  /** Bytes of DICOM JSON (series metadata and lists) kept, estimated from its JSON text (default 64 MiB). */
  metadataBytes?: number;
  /** How long a study the token read is trusted without reading it again, ms (default 60 s). */
  studyTtlMs?: number;
}

/** What the viewer needs of an ImagingStudy the caller's token could read. */
export interface ViewerStudyContext {
  studyInstanceUid: string;
  dicomwebBase: string;
  /** `ImagingStudy.series[].uid`. */
  seriesInstanceUids: string[];
}

/** A frame as the API sends it: little-endian Float32 modality values, row by row, and what the headers say. */
export interface ViewerFrame {
  body: Uint8Array;
  columns: number;
  rows: number;
  windowCenter: number;
  windowWidth: number;
  /** [row spacing, column spacing] mm, when the image says. */
  pixelSpacing?: [number, number];
}

export interface ViewerCache {
  /** The part of every key that names the caller: FHIR server + token hash. */
  callerKey(caller: { fhirBaseUrl: string; accessToken: string }): string;
  study(key: string, load: () => Promise<ViewerStudyContext>): Promise<ViewerStudyContext>;
  dicomJson(key: string, load: () => Promise<DicomJson[]>): Promise<DicomJson[]>;
  frame(key: string, load: () => Promise<ViewerFrame>): Promise<ViewerFrame>;
  /** Entries and bytes held, and how many requests each cache answered (tests, diagnostics). */
  stats(): { frames: number; frameBytes: number; frameHits: number; frameMisses: number; dicomJsonHits: number };
}

const MIB = 1024 * 1024;

/** A fetch through an LRU: a hit answers at once, a fetch in flight is shared, a failure is not kept. */
function memoized<V extends object>(lru: LRUCache<string, V>, counts?: { hits: number; misses: number }) {
  const inFlight = new Map<string, Promise<V>>();
  return async (key: string, load: () => Promise<V>): Promise<V> => {
    const held = lru.get(key);
    if (held !== undefined) {
      if (counts) counts.hits++;
      return held;
    }
    const pending = inFlight.get(key);
    if (pending) {
      if (counts) counts.hits++;
      return pending;
    }
    if (counts) counts.misses++;
    const loading = load().then(
      (value) => {
        lru.set(key, value);
        inFlight.delete(key);
        return value;
      },
      (error: unknown) => {
        inFlight.delete(key);
        throw error;
      },
    );
    inFlight.set(key, loading);
    return loading;
  };
}

export function createViewerCache(options: ViewerCacheOptions = {}): ViewerCache {
  const frames = new LRUCache<string, ViewerFrame>({
    maxSize: options.frameBytes ?? 256 * MIB,
    sizeCalculation: (frame) => frame.body.byteLength + 256,
  });
  const dicomJson = new LRUCache<string, DicomJson[]>({
    maxSize: options.metadataBytes ?? 64 * MIB,
    // JSON text length × 2 (UTF-16): a rough lower bound of the parsed objects' memory, good enough for a bound.
    sizeCalculation: (value) => Math.max(1, JSON.stringify(value).length * 2),
  });
  const studies = new LRUCache<string, ViewerStudyContext>({ max: 1000, ttl: options.studyTtlMs ?? 60_000 });
  const frameCounts = { hits: 0, misses: 0 };
  const dicomJsonCounts = { hits: 0, misses: 0 };
  const frame = memoized(frames, frameCounts);
  const json = memoized(dicomJson, dicomJsonCounts);
  const study = memoized(studies);
  return {
    callerKey: ({ fhirBaseUrl, accessToken }) =>
      `${fhirBaseUrl}\u0000${createHash('sha256').update(accessToken).digest('base64url')}`,
    study,
    dicomJson: json,
    frame,
    stats: () => ({
      frames: frames.size,
      frameBytes: frames.calculatedSize,
      frameHits: frameCounts.hits,
      frameMisses: frameCounts.misses,
      dicomJsonHits: dicomJsonCounts.hits,
    }),
  };
}
