/**
 * The worker-thread side of the decode pool (decode-pool.ts): one frame in, modality values out. Errors come back
 * as data, because an Error crossing the thread boundary loses its class and the pipeline tells a frame it cannot
 * decode (ask the server to transcode it) from other failures by class.
 */
import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { decodeFrame, type PixelModule } from './decode-frame';

export interface DecodeTask {
  bytes: Uint8Array;
  pixel: PixelModule;
  transferSyntaxUid: string;
  /** Posted on when this worker starts the frame: the pool's time limit counts from then, not from queueing. */
  started?: MessagePort;
}

/** Tells the pool that the frame's decoding starts now. */
export function signalStarted(task: DecodeTask): void {
  task.started?.postMessage('started');
  task.started?.close();
}

/** The modality values (Columns × Rows, as the pixel module says), or why the frame could not be decoded. */
export type DecodeReply = Float32Array | { name: string; message: string };

export default async function decodeTask(task: DecodeTask): Promise<DecodeReply> {
  signalStarted(task);
  try {
    const frame = await decodeFrame(task.bytes, task.pixel, task.transferSyntaxUid);
    // Hand the pixels' buffer over to the main thread instead of copying it.
    return Piscina.move(frame.pixels) as Float32Array;
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    return { name, message };
  }
}
