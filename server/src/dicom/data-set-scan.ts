/**
 * A linear pass over a Part 10 file's data elements before dcmjs parses it, refusing what would make the parse itself
 * the attack (each found by `npm run fuzz`):
 *
 * - a value length past the end of the file: dcmjs reads a long binary value in pieces, one per `maxLength` bytes of
 *   the announced length, whether the bytes exist or not — a meta element whose VR was turned into UN announced
 *   0x2E322E31 bytes and ran a 4 GiB heap out of memory, which kills the process;
 * - sequences nested deeper than any real object (dcmjs recurses once per level and copies as it goes — a 10,000-deep
 *   sequence took it 38 s to reach a stack overflow);
 * - a deflated data set (PS3.5 §A.5) that inflates beyond a limit (a "deflate bomb": a few hundred kilobytes that
 *   inflate to gigabytes, all of it held in memory).
 *
 * The walk reads tags, VRs and lengths only (PS3.5 §7.1, §7.5), as dcmjs does (an unknown VR is read as UN: a 4-byte
 * length after 2 reserved bytes), with an explicit stack of the open sequences and items, no recursion. Encapsulated
 * Pixel Data (§A.4) is stepped over fragment by fragment, never descended into.
 */
import { inflateRawSync } from 'node:zlib';

export class DataSetStructureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataSetStructureError';
  }
}

/** Real objects nest a few levels (an SR content tree rarely ten); 32 is far beyond any. */
export const MAX_SEQUENCE_DEPTH = 32;

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
const UNDEFINED = 0xffffffff;
const SHORT_VRS = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FD',
  'FL',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'SL',
  'SS',
  'ST',
  'TM',
  'UI',
  'UL',
  'US',
]);

/** dcmjs reads any VR it does not know as UN, which has a 4-byte length (PS3.5 Table 7.1-1). */
const hasLongLength = (vr: string): boolean => !SHORT_VRS.has(vr);

const tagName = (group: number, element: number): string =>
  `(${group.toString(16).toUpperCase().padStart(4, '0')},${element.toString(16).toUpperCase().padStart(4, '0')})`;

function pastTheEnd(group: number, element: number, length: number, left: number): DataSetStructureError {
  return new DataSetStructureError(
    `element ${tagName(group, element)} announces ${length} bytes but the file ends ${length - left} bytes early: truncated or corrupt`,
  );
}

interface Encoding {
  explicit: boolean;
  littleEndian: boolean;
}

/**
 * Where the data set starts and its transfer syntax, from the file meta group (always explicit VR little endian);
 * a meta element whose value runs past the end of the file is refused.
 */
function readMeta(bytes: Uint8Array): { datasetOffset: number; transferSyntaxUid: string } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 132;
  let transferSyntaxUid = '';
  while (offset + 8 <= bytes.byteLength && view.getUint16(offset, true) === 0x0002) {
    const element = view.getUint16(offset + 2, true);
    const vr = String.fromCharCode(bytes[offset + 4] ?? 0, bytes[offset + 5] ?? 0);
    const long = hasLongLength(vr);
    if (long && offset + 12 > bytes.byteLength) break;
    const length = long ? view.getUint32(offset + 8, true) : view.getUint16(offset + 6, true);
    const valueOffset = offset + (long ? 12 : 8);
    if (length === UNDEFINED) break;
    if (valueOffset + length > bytes.byteLength)
      throw pastTheEnd(0x0002, element, length, bytes.byteLength - valueOffset);
    if (element === 0x0010) {
      transferSyntaxUid = String.fromCharCode(...bytes.subarray(valueOffset, valueOffset + Math.min(length, 64)))
        .replace(/[\0 ]+$/, '')
        .trim();
    }
    offset = valueOffset + length;
  }
  return { datasetOffset: offset, transferSyntaxUid };
}

/** Whether a value of defined length starts with an item (FFFE,E000): how a sequence looks without its VR. */
function startsWithItem(view: DataView, offset: number, end: number, littleEndian: boolean): boolean {
  return (
    offset + 4 <= end &&
    view.getUint16(offset, littleEndian) === 0xfffe &&
    view.getUint16(offset + 2, littleEndian) === 0xe000
  );
}

/**
 * Throws DataSetStructureError when sequences nest deeper than `maxDepth`, or an element's value runs past the end.
 */
export function checkSequenceDepth(
  bytes: Uint8Array,
  start: number,
  { explicit, littleEndian }: Encoding,
  maxDepth = MAX_SEQUENCE_DEPTH,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The open sequences and items: where each ends (Infinity: undefined length, closed by its delimiter).
  const open: number[] = [];
  let sequences = 0;
  const enter = (end: number, isSequence: boolean): void => {
    open.push(isSequence ? -end - 1 : end);
    if (isSequence) sequences++;
    if (sequences > maxDepth) {
      throw new DataSetStructureError(
        `sequences are nested more than ${maxDepth} levels deep, deeper than any real DICOM object`,
      );
    }
  };
  const leave = (): void => {
    const top = open.pop();
    if (top !== undefined && top < 0) sequences--;
  };
  const endOf = (entry: number): number => (entry < 0 ? -entry - 1 : entry);
  let offset = start;
  while (offset + 8 <= bytes.byteLength) {
    while (open.length > 0 && endOf(open[open.length - 1] as number) <= offset) leave();
    const group = view.getUint16(offset, littleEndian);
    const element = view.getUint16(offset + 2, littleEndian);
    if (group === 0xfffe) {
      const length = view.getUint32(offset + 4, littleEndian);
      offset += 8;
      if (element === 0xe000) enter(length === UNDEFINED ? Infinity : offset + length, false);
      else if (element === 0xe00d || element === 0xe0dd) leave();
      continue;
    }
    let vr: string | undefined;
    let length: number;
    let valueOffset: number;
    if (explicit) {
      vr = String.fromCharCode(bytes[offset + 4] ?? 0, bytes[offset + 5] ?? 0);
      if (hasLongLength(vr)) {
        if (offset + 12 > bytes.byteLength) return;
        length = view.getUint32(offset + 8, littleEndian);
        valueOffset = offset + 12;
      } else {
        length = view.getUint16(offset + 6, littleEndian);
        valueOffset = offset + 8;
      }
    } else {
      length = view.getUint32(offset + 4, littleEndian);
      valueOffset = offset + 8;
    }
    const isPixelData = group === 0x7fe0 && element === 0x0010;
    if (length === UNDEFINED) {
      if (isPixelData) {
        // Encapsulated: fragments of defined length up to the sequence delimiter, stepped over.
        offset = valueOffset;
        while (offset + 8 <= bytes.byteLength) {
          const itemElement = view.getUint16(offset + 2, littleEndian);
          const itemLength = view.getUint32(offset + 4, littleEndian);
          offset += 8;
          if (itemElement === 0xe0dd || itemLength === UNDEFINED) break;
          offset += itemLength;
        }
        continue;
      }
      enter(Infinity, true);
      offset = valueOffset;
      continue;
    }
    const end = valueOffset + length;
    if (end > bytes.byteLength) throw pastTheEnd(group, element, length, bytes.byteLength - valueOffset);
    if (
      vr === 'SQ' ||
      ((vr === undefined || vr === 'UN') && !isPixelData && startsWithItem(view, valueOffset, end, littleEndian))
    ) {
      enter(end, true);
      offset = valueOffset;
      continue;
    }
    offset = end;
  }
}

/**
 * The structural checks of a Part 10 file before it is parsed: sequence depth, and for a deflated data set, its
 * inflated size (at most `maxInflatedBytes`). Files without a readable meta group are left to the parser.
 */
export function checkPart10Structure(bytes: Uint8Array, { maxInflatedBytes }: { maxInflatedBytes: number }): void {
  const { datasetOffset, transferSyntaxUid } = readMeta(bytes);
  if (transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) {
    let inflated: Uint8Array;
    try {
      inflated = inflateRawSync(bytes.subarray(datasetOffset), { maxOutputLength: maxInflatedBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new DataSetStructureError(
          `the deflated data set inflates to more than ${maxInflatedBytes} bytes (Deflated Explicit VR Little Endian)`,
        );
      }
      // Corrupt deflate data: the parser says so.
      return;
    }
    checkSequenceDepth(inflated, 0, { explicit: true, littleEndian: true });
    return;
  }
  checkSequenceDepth(bytes, datasetOffset, {
    explicit: transferSyntaxUid !== IMPLICIT_VR_LITTLE_ENDIAN,
    littleEndian: transferSyntaxUid !== EXPLICIT_VR_BIG_ENDIAN,
  });
}
