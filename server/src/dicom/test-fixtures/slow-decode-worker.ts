/**
 * A stand-in for decode-worker.ts in the decode pool's tests: it follows the same protocol (says when it starts,
 * answers modality values) but "decodes" by spinning the thread for `pixel.rows` milliseconds, as a codec stuck on a
 * hostile codestream would — so the tests control exactly how long each frame takes.
 */
import { signalStarted, type DecodeReply, type DecodeTask } from '../decode-worker';

export default function slowDecode(task: DecodeTask): DecodeReply {
  signalStarted(task);
  const until = Date.now() + task.pixel.rows;
  while (Date.now() < until) {
    // Spin, holding the thread as a busy codec does.
  }
  return new Float32Array(task.pixel.rows * task.pixel.columns);
}
