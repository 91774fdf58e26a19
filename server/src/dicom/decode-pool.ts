/**
 * Frame decoding off the main thread, in a pool of worker threads (Piscina): the WebAssembly codecs run in
 * parallel on every core, the HTTP server stays responsive while a study decodes, and a frame that takes too long —
 * a hostile or corrupt codestream spinning a codec — is stopped by terminating its worker, which no in-thread
 * timeout can do. Uncompressed frames stay on the calling thread (a byte copy, no codec). The pipeline decodes
 * everything in-process when the pool is off (`DECODE_THREADS=0`).
 */
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

export interface DecodePoolOptions {
  /** Worker threads (default: the cores, at most 4). */
  threads?: number;
  /** A frame still decoding after this is abandoned and its worker terminated (default 20 s). */
  frameTimeoutMs?: number;
}

export function defaultDecodeThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export function createDecodePool(options: DecodePoolOptions = {}): FrameDecoder {
  const workerUrl = new URL(`./decode-worker${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url);
  const pool = new Piscina<DecodeTask, DecodeReply>({
    filename: workerUrl.href,
    maxThreads: options.threads ?? defaultDecodeThreads(),
    minThreads: 0,
    idleTimeout: 60_000,
    // Run from TypeScript sources (npm start, tests), a worker needs tsx's loader too.
    execArgv: workerUrl.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [],
  });
  const poolTimeoutMs = options.frameTimeoutMs ?? 20_000;
  return {
    async decode(bytes, pixel, transferSyntaxUid, limits = {}) {
      // Uncompressed frames are a byte copy with no codec that could spin: posting them to a thread costs more.
      if (NATIVE_TRANSFER_SYNTAXES.includes(transferSyntaxUid)) return decodeFrame(bytes, pixel, transferSyntaxUid);
      const timeoutMs = limits.timeoutMs ?? poolTimeoutMs;
      let reply: DecodeReply;
      try {
        reply = await pool.run({ bytes, pixel, transferSyntaxUid }, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (error) {
        if ((error as Error).name === 'AbortError') {
          throw new DecodeTimeoutError(
            `decoding a ${pixel.columns}×${pixel.rows} frame took longer than ${timeoutMs / 1000} s and was stopped; the codestream may be corrupt`,
          );
        }
        throw error;
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
