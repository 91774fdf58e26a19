/**
 * The slice of dcmjs's API that the synthetic generator and its tests use, typed. dcmjs ships no type
 * declarations; loading it through `createRequire` and asserting this interface keeps `any` out of our code
 * without an ambient `declare module 'dcmjs'` that could collide with one written elsewhere in the repo.
 */
import { createRequire } from 'node:module';

/** A denaturalized dataset: tag (8 hex digits) → element. */
export type DicomDataset = Record<string, { vr: string; Value?: unknown[] }>;
/** A naturalized dataset: keyword → value, plus dcmjs's `_vrMap` hints (e.g. `PixelData: 'OW'`). */
export type NaturalDataset = Record<string, unknown>;

export interface DicomDictInstance {
  meta: DicomDataset;
  dict: DicomDataset;
  write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
}

export interface DcmjsApi {
  data: {
    DicomDict: new (meta: DicomDataset) => DicomDictInstance;
    DicomMessage: { readFile(buffer: ArrayBuffer, options?: { untilTag?: string }): DicomDictInstance };
    DicomMetaDictionary: {
      naturalizeDataset(dataset: DicomDataset): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): DicomDataset;
    };
  };
}

const require = createRequire(import.meta.url);
export const dcmjs = require('dcmjs') as DcmjsApi;

/** Reads a Part 10 byte array into a naturalized dataset (meta header merged under `_meta`). */
export function readPart10(part10: Uint8Array): NaturalDataset {
  const buffer = part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer;
  const dict = dcmjs.data.DicomMessage.readFile(buffer);
  const dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  dataset._meta = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.meta);
  return dataset;
}
