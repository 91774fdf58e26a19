/**
 * Decoded frames kept in memory for the session, loaded through a queue with a few requests at once: what the user
 * looks at now goes to the front (`load`), the rest of the stack behind it (`prefetch`). A failed load is not cached,
 * so asking again retries. The loader is injected (tests give a fake; the viewer gives `getFrame`).
 */
import { getFrame, type DecodedFrame, type FrameRef } from './viewer-api';
import type { ApiSession, FetchFn } from '../api';

export type FrameLoader = (ref: FrameRef) => Promise<DecodedFrame>;

export interface FrameCacheOptions {
  /** Requests in flight at once (default 4: HTTP/1.1 browsers allow 6 per origin; leave room for the rest). */
  concurrency?: number;
  /** Frames kept; the least recently used go first (default 256, about 256 MB of 512² Float32 frames). */
  maxFrames?: number;
}

export function frameKeyOf(ref: FrameRef): string {
  return `${ref.seriesInstanceUid}|${ref.sopInstanceUid}|${ref.frame}`;
}

interface Pending {
  ref: FrameRef;
  key: string;
  resolve: (frame: DecodedFrame) => void;
  reject: (error: unknown) => void;
}

export class FrameCache {
  private readonly frames = new Map<string, DecodedFrame>();
  private readonly inFlight = new Map<string, Promise<DecodedFrame>>();
  private readonly queue: Pending[] = [];
  private active = 0;
  private readonly concurrency: number;
  private readonly maxFrames: number;

  constructor(
    private readonly loader: FrameLoader,
    options: FrameCacheOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxFrames = Math.max(1, options.maxFrames ?? 256);
  }

  /** The frame if it is already decoded (and marks it recently used). */
  get(ref: FrameRef): DecodedFrame | undefined {
    const key = frameKeyOf(ref);
    const frame = this.frames.get(key);
    if (frame) {
      this.frames.delete(key);
      this.frames.set(key, frame);
    }
    return frame;
  }

  has(ref: FrameRef): boolean {
    return this.frames.has(frameKeyOf(ref));
  }

  get size(): number {
    return this.frames.size;
  }

  /** The frame, ahead of everything queued: what the user is waiting for. */
  load(ref: FrameRef): Promise<DecodedFrame> {
    return this.request(ref, 'front');
  }

  /** Queues every frame not yet loaded behind what is already queued; resolves when all have settled. */
  async prefetch(refs: readonly FrameRef[]): Promise<void> {
    await Promise.allSettled(refs.map((ref) => this.request(ref, 'back')));
  }

  private request(ref: FrameRef, where: 'front' | 'back'): Promise<DecodedFrame> {
    const key = frameKeyOf(ref);
    const cached = this.get(ref);
    if (cached) return Promise.resolve(cached);
    const waiting = this.inFlight.get(key);
    if (waiting) {
      if (where === 'front') this.moveToFront(key);
      return waiting;
    }
    const promise = new Promise<DecodedFrame>((resolve, reject) => {
      const pending = { ref, key, resolve, reject };
      if (where === 'front') this.queue.unshift(pending);
      else this.queue.push(pending);
    });
    this.inFlight.set(key, promise);
    this.pump();
    return promise;
  }

  private moveToFront(key: string): void {
    const index = this.queue.findIndex((pending) => pending.key === key);
    if (index <= 0) return;
    const [pending] = this.queue.splice(index, 1);
    if (pending) this.queue.unshift(pending);
  }

  private pump(): void {
    while (this.active < this.concurrency) {
      const next = this.queue.shift();
      if (!next) return;
      this.active += 1;
      this.loader(next.ref).then(
        (frame) => {
          this.store(next.key, frame);
          this.settle(next.key);
          next.resolve(frame);
        },
        (error: unknown) => {
          this.settle(next.key);
          next.reject(error);
        },
      );
    }
  }

  private settle(key: string): void {
    this.inFlight.delete(key);
    this.active -= 1;
    this.pump();
  }

  private store(key: string, frame: DecodedFrame): void {
    this.frames.set(key, frame);
    while (this.frames.size > this.maxFrames) {
      const oldest = this.frames.keys().next().value;
      if (oldest === undefined) break;
      this.frames.delete(oldest);
    }
  }
}

/**
 * One cache per app server, EHR and study for the page's life (the session): reopening a level, or another level
 * of the same study, reuses what was decoded. The session is read at each load, so a refreshed token is used.
 */
const sessionCaches = new Map<string, { cache: FrameCache; session: ApiSession }>();

export function frameCacheFor(
  session: ApiSession,
  baseUrl: string,
  imagingStudyId: string,
  options: { fetch?: FetchFn } & FrameCacheOptions = {},
): FrameCache {
  const id = `${new URL(baseUrl).origin}|${session.fhirServer}|${imagingStudyId}`;
  const existing = sessionCaches.get(id);
  if (existing) {
    existing.session = session;
    return existing.cache;
  }
  const entry = { session };
  const cache = new FrameCache(
    (ref) =>
      getFrame(entry.session, imagingStudyId, ref, { baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) }),
    options,
  );
  sessionCaches.set(id, Object.assign(entry, { cache }));
  return cache;
}
