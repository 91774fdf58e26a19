/**
 * The slice of dcmjs that the DICOMweb store needs, typed. dcmjs ships no declarations; loading it with
 * `createRequire` and asserting this interface keeps `any` out of our code without an ambient `declare module`.
 */
import { createRequire } from 'node:module';

/** One element of the DICOM JSON model (PS3.18 F.2.2); dcmjs's denaturalized datasets use this shape. */
export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
/** Tag (8 upper-case hex digits) → element. */
export type DicomJsonDataset = Record<string, DicomJsonElement>;

interface DicomDictInstance {
  meta: DicomJsonDataset;
  dict: DicomJsonDataset;
}

interface DcmjsApi {
  data: {
    DicomMessage: { readFile(buffer: ArrayBuffer, options?: { untilTag?: string }): DicomDictInstance };
  };
}

const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as DcmjsApi;

export interface ParsedPart10 {
  meta: DicomJsonDataset;
  dataset: DicomJsonDataset;
}

export function parsePart10(part10: Uint8Array): ParsedPart10 {
  const buffer = part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer;
  const { meta, dict } = dcmjs.data.DicomMessage.readFile(buffer);
  return { meta, dataset: dict };
}
