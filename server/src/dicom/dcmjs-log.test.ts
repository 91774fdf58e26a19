import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { silenceDcmjsPixelDataVrNotice } from './dcmjs-log';
import { readPart10 } from './part10';

type LogMethod = (...message: unknown[]) => void;
interface LoglevelLogger {
  methodFactory: (methodName: string, level: number, loggerName: string | symbol) => LogMethod;
  rebuild(): void;
  error: LogMethod;
}
interface Dcmjs {
  log: { getLogger(name: string): LoglevelLogger };
  data: {
    DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(): ArrayBuffer };
    DicomMessage: { readFile(buffer: ArrayBuffer): { dict: Record<string, { vr: string } | undefined> } };
  };
}

const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as Dcmjs;
const validation = dcmjs.log.getLogger('validation.dcmjs');
const originalFactory = validation.methodFactory;

afterEach(() => {
  validation.methodFactory = originalFactory;
  validation.rebuild();
});

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';

/** A 2×2 16-bit MR image in Implicit VR Little Endian: no VR in the stream, so Pixel Data's VR comes from dcmjs. */
function implicitVrPart10(): Uint8Array {
  const uid = '2.25.123456789';
  const file = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [MR_IMAGE_STORAGE] },
    '00020003': { vr: 'UI', Value: [uid] },
    '00020010': { vr: 'UI', Value: [IMPLICIT_VR_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: ['2.25.1'] },
  });
  file.dict = {
    '00080016': { vr: 'UI', Value: [MR_IMAGE_STORAGE] },
    '00080018': { vr: 'UI', Value: [uid] },
    '00280002': { vr: 'US', Value: [1] },
    '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
    '00280010': { vr: 'US', Value: [2] },
    '00280011': { vr: 'US', Value: [2] },
    '00280100': { vr: 'US', Value: [16] },
    '00280101': { vr: 'US', Value: [16] },
    '00280103': { vr: 'US', Value: [0] },
    '7FE00010': { vr: 'OW', Value: [new Uint16Array([1, 2, 3, 4]).buffer] },
  };
  return new Uint8Array(file.write());
}

/** Routes dcmjs's validation log into an array instead of stderr. */
function recordValidationLog(): unknown[][] {
  const messages: unknown[][] = [];
  validation.methodFactory =
    () =>
    (...message) => {
      messages.push(message);
    };
  validation.rebuild();
  return messages;
}

/** dcmjs's own parse, without readPart10 (which installs the filter). */
const parseWithDcmjs = (part10: Uint8Array) => dcmjs.data.DicomMessage.readFile(part10.slice().buffer).dict;

describe('silenceDcmjsPixelDataVrNotice', () => {
  it('when an Implicit VR Little Endian file is read, then "Invalid vr type ox" is dropped and Pixel Data is OW', () => {
    const messages = recordValidationLog();
    const part10 = implicitVrPart10();
    parseWithDcmjs(part10);
    expect(messages).toContainEqual(['Invalid vr type', 'ox', '- using OW']);

    messages.length = 0;
    silenceDcmjsPixelDataVrNotice();
    silenceDcmjsPixelDataVrNotice();
    const dataset = parseWithDcmjs(part10);
    expect(messages).toEqual([]);
    expect(dataset['7FE00010']?.vr).toBe('OW');
  });

  it('when dcmjs reports another validation error, then it still gets through', () => {
    const messages = recordValidationLog();
    silenceDcmjsPixelDataVrNotice();
    validation.error('Invalid vr type', 'xs', '- using US');
    expect(messages).toEqual([['Invalid vr type', 'xs', '- using US']]);
  });

  it('when the server reads an Implicit VR Little Endian file (readPart10), then the notice is not printed', () => {
    const messages = recordValidationLog();
    const { frames, transferSyntaxUid } = readPart10(implicitVrPart10());
    expect(transferSyntaxUid).toBe(IMPLICIT_VR_LITTLE_ENDIAN);
    expect(Array.from(new Uint16Array(frames[0]?.slice().buffer ?? new ArrayBuffer(0)))).toEqual([1, 2, 3, 4]);
    expect(messages).toEqual([]);
  });
});
