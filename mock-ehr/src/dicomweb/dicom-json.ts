/**
 * dcmjs datasets → the DICOM JSON model (PS3.18 Annex F). Binary values become `InlineBinary` (base64), except
 * Pixel Data, which is referenced by `BulkDataURI` (F.2.6) so metadata stays small.
 */
import { TAG } from './dicom-store';
import type { DicomJsonDataset, DicomJsonElement } from './dcmjs';

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

export function datasetToDicomJson(dataset: DicomJsonDataset, bulkDataBaseUri: string | undefined): DicomJsonDataset {
  const out: DicomJsonDataset = {};
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag];
    if (!element) continue;
    // Group length and file meta elements do not belong in WADO-RS metadata (PS3.18 F.2).
    if (tag.endsWith('0000') || tag.startsWith('0002')) continue;
    out[tag] = elementToJson(tag, element, bulkDataBaseUri);
  }
  return out;
}

function elementToJson(tag: string, element: DicomJsonElement, bulkDataBaseUri: string | undefined): DicomJsonElement {
  const { vr } = element;
  const values = element.Value ?? [];
  if (vr === 'SQ') {
    const items = values.filter(isDataset).map((item) => datasetToDicomJson(item, undefined));
    return items.length > 0 ? { vr, Value: items } : { vr };
  }
  if (BINARY_VRS.has(vr)) {
    if (tag === TAG.PixelData && bulkDataBaseUri !== undefined)
      return { vr, BulkDataURI: `${bulkDataBaseUri}/bulkdata/${tag}` };
    const bytes = concatBinary(values);
    return bytes.length > 0 ? { vr, InlineBinary: Buffer.from(bytes).toString('base64') } : { vr };
  }
  const cleaned = values.filter((value) => value !== undefined && value !== null && value !== '');
  return cleaned.length > 0 ? { vr, Value: cleaned } : { vr };
}

export function concatBinary(values: readonly unknown[]): Uint8Array {
  const parts = values.flatMap((value) => {
    if (value instanceof ArrayBuffer) return [new Uint8Array(value)];
    if (ArrayBuffer.isView(value)) return [new Uint8Array(value.buffer, value.byteOffset, value.byteLength)];
    return [];
  });
  return Buffer.concat(parts);
}

function isDataset(value: unknown): value is DicomJsonDataset {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}
