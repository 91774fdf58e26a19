/**
 * Frame decoding off the main thread, in a pool of worker threads (Piscina): the WebAssembly codecs run in
 * parallel on every core, the HTTP server stays responsive while a study decodes, and a frame that takes too long —
 * a hostile or corrupt codestream spinning a codec — is stopped by terminating its worker, which no in-thread
 * timeout can do. Uncompressed frames stay on the calling thread (a byte copy, no codec). The pipeline decodes
 * everything in-process when the pool is off (`DECODE_THREADS=0`).
 *
 * The time limit counts from when a worker starts the frame (it says so over a MessagePort), not from when the frame
 * was queued: behind a busy pool a frame may wait longer than the limit without being at fault. The queue is
 * bounded: beyond `maxQueue` frames waiting for a thread, `decode` refuses at once with DecodeQueueFullError (the
 * API's 503 with Retry-After) instead of letting memory and latency grow without end.
 */
import { MessageChannel } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import {
  decodeFrame,
  NATIVE_TRANSFER_SYNTAXES,
  UnsupportedImageError,
  type DecodedFrame,
  type PixelModule,
} from './decode-frame';
import type { DecodeReply, DecodeTask } from './decode-worker';

export interface FrameDecoder {
  /** `timeoutMs` overrides the pool's frame time limit for this frame. */
  decode(
    bytes: Uint8Array,
    pixel: PixelModule,
    transferSyntaxUid: string,
    limits?: { timeoutMs?: number },
  ): Promise<DecodedFrame>;
  close(): Promise<void>;
}

/** Decodes on the calling thread (tests, one-off tools). */
export const inThreadDecoder: FrameDecoder = {
  decode: (bytes, pixel, transferSyntaxUid) => decodeFrame(bytes, pixel, transferSyntaxUid),
  close: () => Promise.resolve(),
};

export class DecodeTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeTimeoutError';
  }
}

/** The pool is full: as many frames wait for a thread as it accepts. Try again after `retryAfterSeconds`. */
export class DecodeQueueFullError extends Error {
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.name = 'DecodeQueueFullError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface DecodePoolOptions {
  /** Worker threads (default: the cores, at most 4). */
  threads?: number;
  /** A frame still decoding this long after its worker started it is abandoned and the worker terminated (default 20 s). */
  frameTimeoutMs?: number;
  /** Frames that may wait for a thread, beyond those decoding (default 256); more are refused with DecodeQueueFullError. */
  maxQueue?: number;
  /** The worker module (default decode-worker); tests pass a stand-in that follows the same protocol. */
  workerUrl?: URL;
}

export const DEFAULT_DECODE_QUEUE = 256;

/** Seconds a refused caller is asked to wait: a full queue of usual frames drains in about this long. */
const QUEUE_FULL_RETRY_AFTER_S = 5;

export function defaultDecodeThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export function createDecodePool(options: DecodePoolOptions = {}): FrameDecoder {
  const workerUrl =
    options.workerUrl ?? new URL(`./decode-worker${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url);
  const threads = options.threads ?? defaultDecodeThreads();
  const pool = new Piscina<DecodeTask, DecodeReply>({
    filename: workerUrl.href,
    maxThreads: threads,
    minThreads: 0,
    idleTimeout: 60_000,
    // Run from TypeScript sources (npm start, tests), a worker needs tsx's loader too.
    execArgv: workerUrl.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [],
  });
  const poolTimeoutMs = options.frameTimeoutMs ?? 20_000;
  const maxQueue = options.maxQueue ?? DEFAULT_DECODE_QUEUE;
  // Frames handed to the pool and not yet answered: those decoding (at most `threads`) and those waiting.
  let inPool = 0;
  return {
    async decode(bytes, pixel, transferSyntaxUid, limits = {}) {
      // Uncompressed frames are a byte copy with no codec that could spin: posting them to a thread costs more.
      if (NATIVE_TRANSFER_SYNTAXES.includes(transferSyntaxUid)) return decodeFrame(bytes, pixel, transferSyntaxUid);
      if (inPool >= threads + maxQueue) {
        throw new DecodeQueueFullError(
          `The image decoder is busy: ${maxQueue} frames are already waiting (DECODE_QUEUE_DEPTH). Try again in ${QUEUE_FULL_RETRY_AFTER_S} seconds.`,
          QUEUE_FULL_RETRY_AFTER_S,
        );
      }
      const timeoutMs = limits.timeoutMs ?? poolTimeoutMs;
      // The worker posts on `started` when it picks the frame up; only then does the clock run.
      const { port1: started, port2: startedInWorker } = new MessageChannel();
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      started.once('message', () => {
        timer = setTimeout(() => {
          abort.abort();
        }, timeoutMs);
      });
      inPool++;
      let reply: DecodeReply;
      try {
        reply = await pool.run(
          { bytes, pixel, transferSyntaxUid, started: startedInWorker },
          { signal: abort.signal, transferList: [startedInWorker] },
        );
      } catch (error) {
        if ((error as Error).name === 'AbortError') {
          throw new DecodeTimeoutError(
            `decoding a ${pixel.columns}×${pixel.rows} frame took longer than ${timeoutMs / 1000} s and was stopped; the codestream may be corrupt`,
          );
        }
        throw error;
      } finally {
        inPool--;
        clearTimeout(timer);
        started.close();
      }
      if (reply instanceof Float32Array) return { width: pixel.columns, height: pixel.rows, pixels: reply };
      // The one class callers act on (ask the server to transcode); other failures keep their message.
      if (reply.name === 'UnsupportedImageError') throw new UnsupportedImageError(reply.message);
      const error = new Error(reply.message);
      error.name = reply.name;
      throw error;
    },
    close: () => pool.destroy(),
  };
}
