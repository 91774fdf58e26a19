/**
 * What the fuzzer does to a DICOM file, each mutation seeded and named so a failing case can be replayed: byte-level
 * damage (truncation, flipped bits, random runs), element-level damage (huge, odd and undefined lengths, wrong VRs,
 * deleted or misplaced elements, deep sequence nesting, huge values), absurd image attributes (NumberOfFrames, Rows,
 * Columns, BitsAllocated and the rest of the Image Pixel and Image Plane modules), bad or unknown transfer syntaxes,
 * and broken encapsulated Pixel Data (fragment lengths, offset table, delimiters).
 */
import type { Rng } from '../../models/synthetic/prng';
import {
  concat,
  concatAll,
  encodeElement,
  insertEncoded,
  parseFile,
  setElement,
  stringValue,
  tagOf,
  uint16Value,
  type ElementAt,
  type Encoding,
  type ParsedFile,
} from './dicom-bytes';

export interface Mutated {
  bytes: Uint8Array;
  /** What was done, `kind: detail`, e.g. `attribute: NumberOfFrames=300000000`; several joined by `; `. */
  label: string;
}

type Mutation = (bytes: Uint8Array, rng: Rng, parsed: ParsedFile | undefined) => Mutated | undefined;

const int = (rng: Rng, min: number, max: number): number => Math.floor(rng.uniform(min, max + 1));

const PIXEL_DATA = 0x7fe00010;

function writeLength(bytes: Uint8Array, element: ElementAt, length: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  if (element.lengthSize === 2) view.setUint16(element.lengthOffset, length & 0xffff, element.littleEndian);
  else view.setUint32(element.lengthOffset, length >>> 0, element.littleEndian);
  return out;
}

const name = (e: ElementAt): string =>
  `(${e.group.toString(16).padStart(4, '0')},${e.element.toString(16).padStart(4, '0')})`;

const truncate: Mutation = (bytes, rng) => {
  const where = rng.pick(['anywhere', 'header', 'tail'] as const);
  const at =
    where === 'header'
      ? int(rng, 0, Math.min(2048, bytes.byteLength - 1))
      : where === 'tail'
        ? Math.max(0, bytes.byteLength - int(rng, 1, 64))
        : int(rng, 0, bytes.byteLength - 1);
  return { bytes: bytes.slice(0, at), label: `truncate: at ${at} of ${bytes.byteLength} (${where})` };
};

const flipBits: Mutation = (bytes, rng) => {
  const out = bytes.slice();
  const count = rng.pick([1, 2, 4, 8, 32]);
  const headerOnly = rng.next() < 0.6;
  const span = headerOnly ? Math.min(out.byteLength, 4096) : out.byteLength;
  for (let i = 0; i < count; i++) {
    const at = int(rng, 0, span - 1);
    out[at] = (out[at] ?? 0) ^ (1 << int(rng, 0, 7));
  }
  return { bytes: out, label: `flip-bits: ${count} in the ${headerOnly ? 'first 4 KiB' : 'file'}` };
};

const randomRun: Mutation = (bytes, rng) => {
  const out = bytes.slice();
  const length = int(rng, 1, 64);
  const at = int(rng, 0, Math.max(0, out.byteLength - length));
  for (let i = 0; i < length && at + i < out.byteLength; i++) out[at + i] = int(rng, 0, 255);
  return { bytes: out, label: `random-bytes: ${length} at ${at}` };
};

const elementLength: Mutation = (bytes, rng, parsed) => {
  if (!parsed || parsed.elements.length === 0) return undefined;
  const element = rng.pick(parsed.elements);
  const choices =
    element.lengthSize === 2
      ? [0xffff, 0xfffe, element.length + 1, Math.max(0, element.length - 1), 0, int(rng, 0, 0xffff)]
      : [
          0xffffffff,
          0xfffffffe,
          0x7fffffff,
          bytes.byteLength * 2,
          element.length + 1,
          Math.max(0, element.length - 1),
          0,
          int(rng, 0, 0xffffffff),
        ];
  const length = rng.pick(choices);
  return {
    bytes: writeLength(bytes, element, length),
    label: `element-length: ${name(element)} ${element.length} → ${length}`,
  };
};

const VRS = ['SQ', 'OB', 'OW', 'UN', 'UT', 'FD', 'FL', 'US', 'SS', 'UL', 'AT', 'DS', 'IS', 'XX', 'ox'];

const wrongVr: Mutation = (bytes, rng, parsed) => {
  const explicit = parsed?.elements.filter((e) => e.vr !== undefined) ?? [];
  if (explicit.length === 0) return undefined;
  const element = rng.pick(explicit);
  const vr = rng.pick(VRS.filter((v) => v !== element.vr));
  const out = bytes.slice();
  out[element.offset + 4] = vr.charCodeAt(0);
  out[element.offset + 5] = vr.charCodeAt(1);
  return { bytes: out, label: `wrong-vr: ${name(element)} ${element.vr ?? '?'} → ${vr}` };
};

function sequenceItemHeaders(encoding: Encoding): { item: Uint8Array; itemEnd: Uint8Array; sequenceEnd: Uint8Array } {
  const littleEndian = encoding !== 'explicit-be';
  const header = (element: number, length: number): Uint8Array => {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint16(0, 0xfffe, littleEndian);
    view.setUint16(2, element, littleEndian);
    view.setUint32(4, length >>> 0, littleEndian);
    return out;
  };
  return { item: header(0xe000, 0xffffffff), itemEnd: header(0xe00d, 0), sequenceEnd: header(0xe0dd, 0) };
}

const deepSequence: Mutation = (bytes, rng, parsed) => {
  if (!parsed || parsed.encoding === 'deflated') return undefined;
  const depth = rng.pick([64, 1000, 10_000, 50_000]);
  const terminated = rng.next() < 0.7;
  const tag = 0x00091010;
  const { item, itemEnd, sequenceEnd } = sequenceItemHeaders(parsed.encoding);
  const open = encodeElement(tag, 'SQ', new Uint8Array(0), parsed.encoding, { length: 0xffffffff });
  const parts: Uint8Array[] = [];
  for (let i = 0; i < depth; i++) parts.push(open, item);
  if (terminated) for (let i = 0; i < depth; i++) parts.push(itemEnd, sequenceEnd);
  return {
    bytes: insertEncoded(bytes, tag, concatAll(parts)),
    label: `deep-sequence: ${depth} levels${terminated ? '' : ', never closed'}`,
  };
};

const hugeValue: Mutation = (bytes, rng, parsed) => {
  if (!parsed || parsed.encoding === 'deflated') return undefined;
  const size = rng.pick([65_534, 1 << 20, 8 << 20]);
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) value[i] = int(rng, 0, 255);
  const vr = rng.pick(['OB', 'UT', 'LO'] as const);
  // LO has a 2-byte length: at 65,534 it is still valid; beyond, the length field wraps (a lie the reader must survive).
  return {
    bytes: insertEncoded(bytes, 0x00091020, encodeElement(0x00091020, vr, value, parsed.encoding)),
    label: `huge-value: ${size} bytes of ${vr}`,
  };
};

const deleteElement: Mutation = (bytes, rng, parsed) => {
  if (!parsed || parsed.elements.length === 0) return undefined;
  const important = parsed.elements.filter((e) =>
    [
      0x00020010, 0x00280010, 0x00280011, 0x00280100, 0x00200032, 0x00200037, 0x00080018, 0x7fe00010, 0x00280030,
    ].includes(tagOf(e)),
  );
  const element = rng.pick(important.length > 0 && rng.next() < 0.8 ? important : parsed.elements);
  return {
    bytes: concat(bytes.subarray(0, element.offset), bytes.subarray(element.end)),
    label: `delete-element: ${name(element)}`,
  };
};

const moveElement: Mutation = (bytes, rng, parsed) => {
  const movable = parsed?.elements.filter((e) => !e.inMeta && tagOf(e) !== PIXEL_DATA) ?? [];
  if (movable.length === 0) return undefined;
  const element = rng.pick(movable);
  const chunk = bytes.slice(element.offset, element.end);
  const rest = concat(bytes.subarray(0, element.offset), bytes.subarray(element.end));
  return { bytes: concat(rest, chunk), label: `move-element: ${name(element)} to the end (out of tag order)` };
};

interface AttributeChoice {
  keyword: string;
  tag: number;
  vr: string;
  values: readonly (string | number)[];
}

const ATTRIBUTES: readonly AttributeChoice[] = [
  {
    keyword: 'NumberOfFrames',
    tag: 0x00280008,
    vr: 'IS',
    values: ['300000000', '0', '-1', '2147483648', 'abc', '1.5', '100000', '4096', '2', '1e9', ''],
  },
  { keyword: 'Rows', tag: 0x00280010, vr: 'US', values: [0, 1, 2, 65535, 40000, 4097, 1025] },
  { keyword: 'Columns', tag: 0x00280011, vr: 'US', values: [0, 1, 3, 65535, 40000, 4097, 1025] },
  { keyword: 'BitsAllocated', tag: 0x00280100, vr: 'US', values: [0, 1, 7, 12, 24, 32, 64, 255, 65535] },
  { keyword: 'BitsStored', tag: 0x00280101, vr: 'US', values: [0, 1, 17, 33, 65535] },
  { keyword: 'HighBit', tag: 0x00280102, vr: 'US', values: [0, 31, 65535] },
  { keyword: 'SamplesPerPixel', tag: 0x00280002, vr: 'US', values: [0, 3, 4, 65535] },
  { keyword: 'PixelRepresentation', tag: 0x00280103, vr: 'US', values: [1, 2, 65535] },
  {
    keyword: 'PhotometricInterpretation',
    tag: 0x00280004,
    vr: 'CS',
    values: ['RGB', 'PALETTE COLOR', 'YBR_FULL', '', 'MONOCHROME1', 'MONOCHROME3', 'X'.repeat(16)],
  },
  {
    keyword: 'PixelSpacing',
    tag: 0x00280030,
    vr: 'DS',
    values: ['0\\0', '-1\\-1', 'NaN\\1', '1e308\\1e308', '1', '', 'a\\b'],
  },
  {
    keyword: 'ImageOrientationPatient',
    tag: 0x00200037,
    vr: 'DS',
    values: ['0\\0\\0\\0\\0\\0', '1\\0\\0\\1\\0\\0', 'NaN\\0\\0\\0\\1\\0', '1\\0\\0\\0\\1', '1e308\\0\\0\\0\\1e308\\0'],
  },
  {
    keyword: 'ImagePositionPatient',
    tag: 0x00200032,
    vr: 'DS',
    values: ['1e308\\1e308\\1e308', 'x\\y\\z', '0\\0', '-1e308\\0\\1e308', 'Infinity\\0\\0'],
  },
  { keyword: 'RescaleSlope', tag: 0x00281053, vr: 'DS', values: ['1e308', '0', 'NaN', '-1e308', '1e-308'] },
  { keyword: 'RescaleIntercept', tag: 0x00281052, vr: 'DS', values: ['1e308', '-1e308', 'NaN'] },
  { keyword: 'WindowCenter', tag: 0x00281050, vr: 'DS', values: ['1e308', 'NaN', ''] },
  { keyword: 'WindowWidth', tag: 0x00281051, vr: 'DS', values: ['0', '-1', '1e308'] },
  { keyword: 'Modality', tag: 0x00080060, vr: 'CS', values: ['CT', '', 'MR\\CT'] },
  { keyword: 'SeriesDescription', tag: 0x0008103e, vr: 'LO', values: ['AX T2', 'SAG T2', 'X'.repeat(60_000)] },
  { keyword: 'SOPInstanceUID', tag: 0x00080018, vr: 'UI', values: ['', '1.2.3', 'not a uid'] },
  { keyword: 'SeriesInstanceUID', tag: 0x0020000e, vr: 'UI', values: ['', '1.2.3.4'] },
  { keyword: 'StudyInstanceUID', tag: 0x0020000d, vr: 'UI', values: ['', '1.2.3.4.5'] },
  { keyword: 'FrameOfReferenceUID', tag: 0x00200052, vr: 'UI', values: ['', '9.9.9'] },
  { keyword: 'InstanceNumber', tag: 0x00200013, vr: 'IS', values: ['-2147483649', 'x', ''] },
];

const attribute: Mutation = (bytes, rng, parsed) => {
  if (!parsed || parsed.encoding === 'deflated') return undefined;
  const choice = rng.pick(ATTRIBUTES);
  const value = rng.pick(choice.values);
  const littleEndian = parsed.encoding !== 'explicit-be';
  const encoded = typeof value === 'number' ? uint16Value(value, littleEndian) : stringValue(value, choice.vr);
  const label = `attribute: ${choice.keyword}=${String(value).slice(0, 24)}${String(value).length > 24 ? '…' : ''}`;
  return { bytes: setElement(bytes, choice.tag, choice.vr, encoded), label };
};

const TRANSFER_SYNTAXES = [
  '1.2.3.4.5.6',
  '',
  'x'.repeat(64),
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.201',
  '1.2.840.10008.1.2.4.110',
];

const transferSyntax: Mutation = (bytes, rng, parsed) => {
  if (!parsed) return undefined;
  const uid = rng.pick(TRANSFER_SYNTAXES.filter((ts) => ts !== parsed.transferSyntaxUid));
  return {
    bytes: setElement(bytes, 0x00020010, 'UI', stringValue(uid, 'UI')),
    label: `transfer-syntax: ${parsed.transferSyntaxUid} → ${uid.slice(0, 30) || '(empty)'}`,
  };
};

/** The items (offset table, fragments) of encapsulated Pixel Data: offset and length field of each. */
function fragmentsOf(bytes: Uint8Array, pixelData: ElementAt): { offset: number; length: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const items: { offset: number; length: number }[] = [];
  let at = pixelData.valueOffset;
  while (at + 8 <= bytes.byteLength && items.length < 10_000) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    if (group !== 0xfffe || element !== 0xe000) break;
    const length = view.getUint32(at + 4, true);
    items.push({ offset: at, length });
    at += 8 + length;
  }
  return items;
}

const pixelFragments: Mutation = (bytes, rng, parsed) => {
  const pixelData = parsed?.elements.find((e) => tagOf(e) === PIXEL_DATA && e.length === 0xffffffff);
  if (!parsed || !pixelData) return undefined;
  const items = fragmentsOf(bytes, pixelData);
  if (items.length === 0) return undefined;
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const what = rng.pick([
    'item-length',
    'offset-table',
    'drop-delimiter',
    'duplicate-fragment',
    'item-tag',
    'empty-fragment',
  ] as const);
  switch (what) {
    case 'item-length': {
      const item = rng.pick(items);
      const length = rng.pick([0, 1, item.length + 1, 0xffffffff, 0x7fffffff, bytes.byteLength]);
      view.setUint32(item.offset + 4, length, true);
      return { bytes: out, label: `pixel-fragments: a fragment's length ${item.length} → ${length}` };
    }
    case 'offset-table': {
      const table = items[0];
      if (!table || table.length < 4) return undefined;
      for (let i = 0; i + 4 <= table.length; i += 4)
        view.setUint32(table.offset + 8 + i, int(rng, 0, 0xffffffff), true);
      return { bytes: out, label: 'pixel-fragments: basic offset table of random offsets' };
    }
    case 'drop-delimiter': {
      const last = items.at(-1);
      if (!last) return undefined;
      return { bytes: out.slice(0, last.offset + 8 + last.length), label: 'pixel-fragments: no sequence delimiter' };
    }
    case 'duplicate-fragment': {
      const fragment = items[1] ?? items[0];
      if (!fragment) return undefined;
      const copy = bytes.slice(fragment.offset, fragment.offset + 8 + fragment.length);
      const at = fragment.offset + 8 + fragment.length;
      return {
        bytes: concat(out.subarray(0, at), copy, out.subarray(at)),
        label: 'pixel-fragments: a fragment duplicated',
      };
    }
    case 'item-tag': {
      const item = rng.pick(items);
      view.setUint16(item.offset + 2, rng.pick([0xe00d, 0xe0dd, 0x0000]), true);
      return { bytes: out, label: 'pixel-fragments: an item tag replaced' };
    }
    case 'empty-fragment': {
      const empty = new Uint8Array(8);
      new DataView(empty.buffer).setUint16(0, 0xfffe, true);
      new DataView(empty.buffer).setUint16(2, 0xe000, true);
      const first = items[1] ?? items[0];
      if (!first) return undefined;
      return {
        bytes: concat(out.subarray(0, first.offset), empty, out.subarray(first.offset)),
        label: 'pixel-fragments: an empty fragment inserted',
      };
    }
  }
};

/** The first frame's codestream of encapsulated Pixel Data: where its bytes start and how many there are. */
function firstCodestream(
  bytes: Uint8Array,
  parsed: ParsedFile | undefined,
): { start: number; length: number } | undefined {
  const pixelData = parsed?.elements.find((e) => tagOf(e) === PIXEL_DATA && e.length === 0xffffffff);
  if (!pixelData) return undefined;
  const fragment = fragmentsOf(bytes, pixelData)[1];
  if (!fragment || fragment.length < 16 || fragment.offset + 8 + fragment.length > bytes.byteLength) return undefined;
  return { start: fragment.offset + 8, length: fragment.length };
}

/** Aimed at the codecs: the codestream's own header (JPEG SOF, JPEG-LS SOF55, JPEG 2000 SIZ, RLE segment table). */
const codestream: Mutation = (bytes, rng, parsed) => {
  const stream = firstCodestream(bytes, parsed);
  if (!stream) return undefined;
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const what = rng.pick(['header-bits', 'dimensions', 'cut'] as const);
  if (what === 'header-bits') {
    const count = rng.pick([1, 4, 16]);
    for (let i = 0; i < count; i++) {
      const at = stream.start + int(rng, 0, Math.min(255, stream.length - 1));
      out[at] = (out[at] ?? 0) ^ (1 << int(rng, 0, 7));
    }
    return { bytes: out, label: `codestream: ${count} bit(s) flipped in its header` };
  }
  if (what === 'cut') {
    const keep = int(rng, 0, stream.length - 1);
    // The fragment keeps its announced length: the codestream ends early, padded with zeros.
    out.fill(0, stream.start + keep, stream.start + stream.length);
    return { bytes: out, label: `codestream: zeroed after ${keep} of ${stream.length} bytes` };
  }
  const size = rng.pick([0, 1, 0xffff, 0x7fff]);
  for (let i = stream.start; i + 12 < stream.start + Math.min(stream.length, 4096); i++) {
    if (out[i] !== 0xff) continue;
    const marker = out[i + 1] ?? 0;
    if ((marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) || marker === 0xf7) {
      // SOFn / SOF55: P, Y (height), X (width) after the 2-byte length (ITU T.81 §B.2.2, T.87 §5.2.2).
      view.setUint16(i + 5, size, false);
      view.setUint16(i + 7, rng.next() < 0.5 ? size : view.getUint16(i + 7, false) || 1, false);
      return { bytes: out, label: `codestream: JPEG frame header says ${size} lines` };
    }
    if (marker === 0x51) {
      // SIZ: Lsiz, Rsiz, then Xsiz and Ysiz (32-bit) (ITU T.800 §A.5.1).
      const huge = rng.pick([0xffffffff, 0x7fffffff, 65_536, 0]);
      view.setUint32(i + 6, huge, false);
      view.setUint32(i + 10, huge, false);
      return { bytes: out, label: `codestream: JPEG 2000 SIZ says ${huge}×${huge}` };
    }
  }
  // RLE (no markers): its header's segment count and offsets.
  view.setUint32(stream.start, rng.pick([0, 2, 15, 0xffffffff]), true);
  view.setUint32(stream.start + 4, int(rng, 0, 0xffffffff), true);
  return { bytes: out, label: 'codestream: RLE segment table' };
};

/** Each mutation with its weight. */
const MUTATIONS: readonly [Mutation, number][] = [
  [truncate, 10],
  [flipBits, 12],
  [randomRun, 6],
  [elementLength, 12],
  [wrongVr, 8],
  [deepSequence, 4],
  [hugeValue, 3],
  [deleteElement, 6],
  [moveElement, 3],
  [attribute, 22],
  [transferSyntax, 8],
  [pixelFragments, 8],
  [codestream, 10],
];
const TOTAL_WEIGHT = MUTATIONS.reduce((sum, [, weight]) => sum + weight, 0);

function pickMutation(rng: Rng): Mutation {
  let at = rng.next() * TOTAL_WEIGHT;
  for (const [mutation, weight] of MUTATIONS) {
    at -= weight;
    if (at < 0) return mutation;
  }
  return attribute;
}

/** One to three mutations of `bytes` (a mutation that does not apply to this file is drawn again). */
export function mutate(bytes: Uint8Array, rng: Rng): Mutated {
  const rounds = rng.next() < 0.7 ? 1 : rng.next() < 0.66 ? 2 : 3;
  let current = bytes;
  const labels: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const result = pickMutation(rng)(current, rng, parseFile(current));
      if (result && result.bytes !== current) {
        current = result.bytes;
        labels.push(result.label);
        break;
      }
    }
  }
  return { bytes: current, label: labels.join('; ') || 'unchanged' };
}
