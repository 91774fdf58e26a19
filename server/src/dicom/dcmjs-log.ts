/**
 * dcmjs reports "Invalid vr type ox - using OW" on stderr for every Implicit VR Little Endian file it reads: with no
 * VR in the stream it takes Pixel Data's VR from its dictionary, where (7FE0,0010) is "ox" (OB or OW), and logs that
 * as an error before using OW. OW is what PS3.5 §A.1 prescribes for Pixel Data in Implicit VR Little Endian, so the
 * file is valid and the parse is right; the line is noise (dcmjs issues #368, #457), once per file read. This drops
 * that one message from dcmjs's `validation.dcmjs` logger and lets every other one through.
 *
 * Installed by `readPart10` (part10.ts: the command line and the evaluation read folders through it) and by the mock
 * EHR at start (it parses every seeded and stored instance). dcmjs is one module per process, so once is enough;
 * installing again is a no-op.
 */
import { createRequire } from 'node:module';

/** The slice of loglevel (dcmjs's `log`) used here: a named logger whose methods come from a factory. */
type LogMethod = (...message: unknown[]) => void;
type MethodFactory = (methodName: string, level: number, loggerName: string | symbol) => LogMethod;
interface LoglevelLogger {
  methodFactory: MethodFactory;
  /** Rebuilds the logging methods from `methodFactory` (loglevel ≥ 1.9). */
  rebuild(): void;
}

const require = createRequire(import.meta.url);
const { log } = require('dcmjs') as { log: { getLogger(name: string): LoglevelLogger } };

/** Marks our factory, so installing twice does not wrap twice. */
const FILTERED = Symbol('implicit pixel data VR notice filtered');

/** dcmjs's `validationLog.error("Invalid vr type", "ox", "- using OW")`. */
export function isPixelDataVrNotice(message: readonly unknown[]): boolean {
  return message[0] === 'Invalid vr type' && message[1] === 'ox';
}

export function silenceDcmjsPixelDataVrNotice(): void {
  const validation = log.getLogger('validation.dcmjs');
  const makeMethod = validation.methodFactory as MethodFactory & { [FILTERED]?: true };
  if (makeMethod[FILTERED]) return;
  const filtered: MethodFactory & { [FILTERED]?: true } = (methodName, level, loggerName) => {
    const write = makeMethod.call(validation, methodName, level, loggerName);
    return (...message) => {
      if (!isPixelDataVrNotice(message)) write(...message);
    };
  };
  filtered[FILTERED] = true;
  validation.methodFactory = filtered;
  validation.rebuild();
}
