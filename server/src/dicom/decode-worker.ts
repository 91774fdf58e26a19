/**
 * The worker-thread side of the decode pool (decode-pool.ts): one frame in, modality values out. Errors come back
 * as data, because an Error crossing the thread boundary loses its class and the pipeline tells a frame it cannot
 * decode (ask the server to transcode it) from other failures by class.
 */
import { decodeFrame, type PixelModule } from './decode-frame';

export interface DecodeTask {
  bytes: Uint8Array;
  pixel: PixelModule;
  transferSyntaxUid: string;
}

export type DecodeReply =
  { ok: true; width: number; height: number; pixels: Float32Array } | { ok: false; name: string; message: string };

export default async function decodeTask(task: DecodeTask): Promise<DecodeReply> {
  try {
    const frame = await decodeFrame(task.bytes, task.pixel, task.transferSyntaxUid);
    return { ok: true, ...frame };
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    return { ok: false, name, message };
  }
}
