/**
 * The fuzzer's own reading and writing of Part 10 bytes, independent of the code under test (dcmjs, part10.ts): a
 * walk over the top-level data elements (PS3.5 §7.1: tag, VR when explicit, length) that stops at the first thing
 * it cannot read, and splices that replace, insert or re-length one element while keeping the rest byte for byte.
 * The file meta group (PS3.10 §7.1) is always Explicit VR Little Endian and its group length (0002,0000) is kept
 * right, so a mutation lands where it was aimed instead of breaking the meta header by accident.
 */

export type Encoding = 'explicit-le' | 'implicit-le' | 'explicit-be' | 'deflated';

export interface ElementAt {
  group: number;
  element: number;
  /** Two letters when explicit, undefined when implicit. */
  vr: string | undefined;
  /** Offset of the tag. */
  offset: number;
  /** Offset and size of the length field. */
  lengthOffset: number;
  lengthSize: 2 | 4;
  /** The value's length as written (0xFFFFFFFF: undefined length). */
  length: number;
  valueOffset: number;
  /** Offset just past the element (undefined-length elements: past their delimiter, when found). */
  end: number;
  inMeta: boolean;
  littleEndian: boolean;
}

export interface ParsedFile {
  transferSyntaxUid: string;
  encoding: Encoding;
  elements: ElementAt[];
  /** Where the data set starts (after the meta group). */
  datasetOffset: number;
}

/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

export const isLongVr = (vr: string): boolean => LONG_VRS.has(vr);

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.byteLength)));

export function encodingOf(transferSyntaxUid: string): Encoding {
  if (transferSyntaxUid === '1.2.840.10008.1.2') return 'implicit-le';
  if (transferSyntaxUid === '1.2.840.10008.1.2.2') return 'explicit-be';
  if (transferSyntaxUid === '1.2.840.10008.1.2.1.99') return 'deflated';
  return 'explicit-le';
}

/** Finds the end of an undefined-length value: the matching Sequence Delimitation Item (FFFE,E0DD) at depth 0. */
function undefinedLengthEnd(bytes: Uint8Array, start: number, littleEndian: boolean): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Items and nested sequences: scan item headers; fall back to a byte search for the delimiter.
  for (let i = start; i + 8 <= bytes.byteLength; i += 2) {
    const group = view.getUint16(i, littleEndian);
    const element = view.getUint16(i + 2, littleEndian);
    if (group === 0xfffe && element === 0xe0dd && view.getUint32(i + 4, littleEndian) === 0) return i + 8;
  }
  return undefined;
}

function walk(
  bytes: Uint8Array,
  start: number,
  end: number,
  explicit: boolean,
  littleEndian: boolean,
  inMeta: boolean,
  out: ElementAt[],
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = start;
  while (offset + 8 <= end) {
    const group = view.getUint16(offset, littleEndian);
    const element = view.getUint16(offset + 2, littleEndian);
    if (inMeta && group !== 0x0002) break;
    let vr: string | undefined;
    let lengthOffset: number;
    let lengthSize: 2 | 4;
    if (explicit) {
      vr = ascii(bytes, offset + 4, offset + 6);
      if (!/^[A-Z]{2}$/.test(vr)) break;
      if (isLongVr(vr)) {
        lengthOffset = offset + 8;
        lengthSize = 4;
      } else {
        lengthOffset = offset + 6;
        lengthSize = 2;
      }
    } else {
      lengthOffset = offset + 4;
      lengthSize = 4;
    }
    if (lengthOffset + lengthSize > end) break;
    const length =
      lengthSize === 2 ? view.getUint16(lengthOffset, littleEndian) : view.getUint32(lengthOffset, littleEndian);
    const valueOffset = lengthOffset + lengthSize;
    let next: number;
    if (length === 0xffffffff) {
      const found = undefinedLengthEnd(bytes, valueOffset, littleEndian);
      if (found === undefined) {
        out.push({
          group,
          element,
          vr,
          offset,
          lengthOffset,
          lengthSize,
          length,
          valueOffset,
          end,
          inMeta,
          littleEndian,
        });
        return end;
      }
      next = found;
    } else {
      next = valueOffset + length;
      if (next > end) break;
    }
    out.push({
      group,
      element,
      vr,
      offset,
      lengthOffset,
      lengthSize,
      length,
      valueOffset,
      end: next,
      inMeta,
      littleEndian,
    });
    offset = next;
  }
  return offset;
}

/** The top-level elements of a Part 10 file, as far as they can be read; undefined when it is no Part 10 file. */
export function parseFile(bytes: Uint8Array): ParsedFile | undefined {
  if (bytes.byteLength < 140 || ascii(bytes, 128, 132) !== 'DICM') return undefined;
  const elements: ElementAt[] = [];
  const metaEnd = walk(bytes, 132, bytes.byteLength, true, true, true, elements);
  const syntaxElement = elements.find((e) => e.group === 0x0002 && e.element === 0x0010);
  const transferSyntaxUid = syntaxElement
    ? ascii(bytes, syntaxElement.valueOffset, syntaxElement.valueOffset + syntaxElement.length).replace(/[\0 ]+$/, '')
    : '1.2.840.10008.1.2.1';
  const encoding = encodingOf(transferSyntaxUid);
  if (encoding !== 'deflated') {
    walk(bytes, metaEnd, bytes.byteLength, encoding !== 'implicit-le', encoding !== 'explicit-be', false, elements);
  }
  return { transferSyntaxUid, encoding, elements, datasetOffset: metaEnd };
}

export const tagOf = (e: { group: number; element: number }): number => ((e.group << 16) | e.element) >>> 0;

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatAll(parts);
}

/** Joins any number of parts (no spread: a deep sequence has 100,000 of them). */
export function concatAll(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** An element's bytes in the file's encoding. */
export function encodeElement(
  tag: number,
  vr: string,
  value: Uint8Array,
  encoding: Encoding,
  { length = value.byteLength }: { length?: number } = {},
): Uint8Array {
  const littleEndian = encoding !== 'explicit-be';
  const explicit = encoding !== 'implicit-le';
  const long = !explicit || isLongVr(vr);
  const header = new Uint8Array(explicit ? (long ? 12 : 8) : 8);
  const view = new DataView(header.buffer);
  view.setUint16(0, tag >>> 16, littleEndian);
  view.setUint16(2, tag & 0xffff, littleEndian);
  if (explicit) {
    header[4] = vr.charCodeAt(0);
    header[5] = vr.charCodeAt(1);
    if (long) view.setUint32(8, length >>> 0, littleEndian);
    else view.setUint16(6, length & 0xffff, littleEndian);
  } else {
    view.setUint32(4, length >>> 0, littleEndian);
  }
  return concat(header, value);
}

/** A string value padded to even length (PS3.5 §6.2: space, or NUL for UI). */
export function stringValue(text: string, vr: string): Uint8Array {
  const padded = text.length % 2 === 0 ? text : `${text}${vr === 'UI' ? '\0' : ' '}`;
  return new TextEncoder().encode(padded);
}

export function uint16Value(value: number, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(2);
  new DataView(out.buffer).setUint16(0, value & 0xffff, littleEndian);
  return out;
}

/** Rewrites the meta group length (0002,0000) after the meta group changed size. */
function fixMetaGroupLength(bytes: Uint8Array): Uint8Array {
  const parsed = parseFile(bytes);
  const groupLength = parsed?.elements.find((e) => e.group === 0x0002 && e.element === 0x0000);
  if (!parsed || !groupLength || groupLength.length !== 4) return bytes;
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(groupLength.valueOffset, parsed.datasetOffset - groupLength.end, true);
  return out;
}

/**
 * Sets top-level element `tag` to `value` (replacing it, or inserting it in tag order). The meta group is kept
 * consistent; a file whose data set cannot be walked (deflated) is returned unchanged.
 */
export function setElement(bytes: Uint8Array, tag: number, vr: string, value: Uint8Array): Uint8Array {
  const parsed = parseFile(bytes);
  if (!parsed) return bytes;
  const inMeta = tag >>> 16 === 0x0002;
  if (!inMeta && parsed.encoding === 'deflated') return bytes;
  const candidates = parsed.elements.filter((e) => e.inMeta === inMeta);
  const encoded = encodeElement(tag, vr, value, inMeta ? 'explicit-le' : parsed.encoding);
  const existing = candidates.find((e) => tagOf(e) === tag);
  let out: Uint8Array;
  if (existing) {
    out = concat(bytes.subarray(0, existing.offset), encoded, bytes.subarray(existing.end));
  } else {
    const after = candidates.find((e) => tagOf(e) > tag);
    const at = after?.offset ?? (inMeta ? parsed.datasetOffset : (candidates.at(-1)?.end ?? bytes.byteLength));
    out = concat(bytes.subarray(0, at), encoded, bytes.subarray(at));
  }
  return inMeta ? fixMetaGroupLength(out) : out;
}

/** Inserts raw bytes (an element already encoded) before the first top-level element with a greater tag. */
export function insertEncoded(bytes: Uint8Array, tag: number, encoded: Uint8Array): Uint8Array {
  const parsed = parseFile(bytes);
  if (!parsed || parsed.encoding === 'deflated') return bytes;
  const after = parsed.elements.find((e) => !e.inMeta && tagOf(e) > tag);
  const at = after?.offset ?? bytes.byteLength;
  return concat(bytes.subarray(0, at), encoded, bytes.subarray(at));
}

export { concat };
