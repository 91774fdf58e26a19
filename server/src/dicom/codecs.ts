/**
 * The compressed-pixel codecs (PS3.5 §8.2, Annex A.4), each a maintained library: CharLS (JPEG-LS), OpenJPEG
 * (JPEG 2000), libjpeg-turbo (8-bit JPEG baseline/extended) — all WebAssembly builds from Cornerstone —,
 * dcmjs-codecs' WebAssembly build of the 12-bit IJG libjpeg (JPEG Extended, process 4, which libjpeg-turbo's 8-bit
 * build cannot read) and jpeg-lossless-decoder-js (JPEG lossless, process 14). RLE Lossless (PS3.5 Annex G) is a byte-oriented
 * PackBits scheme, small enough to decode here.
 *
 * Every decoder returns the frame's samples as little-endian bytes (1, 2 or 4 per sample) for the caller to
 * mask, sign-extend and rescale. The WASM modules are loaded once, on first use.
 *
 * A codec allocates by the size the codestream's own header declares, not by the data set's Rows × Columns, which
 * is all the study limits can check: a JPEG lossless frame of a 256×256 image whose SOF3 said 32767×32767 had
 * jpeg-lossless-decoder-js allocate and fill 2 GiB outside the JS heap (found by `npm run fuzz`, seed 1, case 4130).
 * So every decoder first reads that header — the JPEG frame header (ITU T.81 §B.2.2), JPEG-LS's (T.87 §C.2.2, with
 * its oversize-dimension LSE, §C.2.4.1.4), the JPEG 2000 SIZ marker (T.800 §A.5.1) — and refuses a frame whose
 * codestream declares another size or component count than the data set's, or declares none, before any codec
 * allocates. A codestream that matches is bounded by the pixel limit the data set was already checked against.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/** Shared shape of the Cornerstone WASM decoders (JpegLSDecoder, J2KDecoder, JPEGDecoder). */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
type WasmModule = Record<string, (new () => WasmDecoder) | undefined>;
type WasmFactory = (options?: Record<string, unknown>) => Promise<WasmModule>;

interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): ArrayLike<number> & ArrayBufferView;
}

const loaded = new Map<string, Promise<WasmModule>>();
function loadWasm(specifier: string): Promise<WasmModule> {
  let module = loaded.get(specifier);
  if (!module) {
    const factory = require(specifier) as WasmFactory;
    // Emscripten prints codec chatter (OpenJPEG's [INFO] lines) to stdout unless told otherwise.
    module = factory({ print: () => undefined, printErr: () => undefined });
    loaded.set(specifier, module);
  }
  return module;
}

/** Decoded samples, little-endian, `bytesPerSample` each, plus what the codestream said about itself. */
export interface CodecOutput {
  width: number;
  height: number;
  components: number;
  bytesPerSample: number;
  samples: Uint8Array;
}

/** What the data set says the frame holds (Columns, Rows, SamplesPerPixel): the only size a codec may decode to. */
export interface ExpectedFrame {
  columns: number;
  rows: number;
  samplesPerPixel: number;
}

/** The size a codestream's header declares, and which header said so (for the refusal). */
interface DeclaredFrame {
  width: number;
  height: number;
  components: number;
  where: string;
}

/** Refuses, before any codec runs, a codestream that declares another size than the data set's. */
function requireDeclaredSize(declared: DeclaredFrame, expected: ExpectedFrame): void {
  if (declared.width !== expected.columns || declared.height !== expected.rows) {
    throw new CodecError(
      `the codestream declares ${declared.width}×${declared.height} pixels (${declared.where}) but Rows/Columns say ${expected.columns}×${expected.rows}; the frame is refused before decoding`,
    );
  }
  if (declared.components !== expected.samplesPerPixel) {
    throw new CodecError(
      `the codestream declares ${declared.components} component(s) (${declared.where}) but SamplesPerPixel (0028,0002) is ${expected.samplesPerPixel}; the frame is refused before decoding`,
    );
  }
}

const hex = (marker: number): string => `0xFF${marker.toString(16).toUpperCase().padStart(2, '0')}`;

async function decodeWithWasm(
  specifier: string,
  className: string,
  bytes: Uint8Array,
  codecName: string,
): Promise<CodecOutput> {
  const module = await loadWasm(specifier);
  const Decoder = module[className];
  if (!Decoder) throw new CodecError(`${codecName} codec module lacks ${className}`);
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(bytes.byteLength).set(bytes);
    try {
      decoder.decode();
    } catch (error) {
      throw new CodecError(`${codecName} codestream is corrupt (${describeWasmError(error)})`);
    }
    const info = decoder.getFrameInfo();
    const bytesPerSample = info.bitsPerSample <= 8 ? 1 : 2;
    // The decoded buffer is a view into WASM memory: copy it out before the decoder is freed.
    const samples = decoder.getDecodedBuffer().slice();
    return { width: info.width, height: info.height, components: info.componentCount, bytesPerSample, samples };
  } finally {
    decoder.delete();
  }
}

function describeWasmError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  if (typeof error === 'number') return `code ${error}`;
  return String(error).split('\n')[0] ?? 'unknown error';
}

/** SOF55, the JPEG-LS frame header's marker (ITU T.87 §C.2.2). */
export const SOF55 = 0xf7;

/**
 * The JPEG frame header: SOFn marker, sample precision P, lines Y, samples per line X and component count Nf (ITU
 * T.81 §B.2.2; JPEG-LS's SOF55 has the same fields, T.87 §C.2.2), the component count Ns of the first scan header
 * (T.81 §B.2.3) when one follows, and for JPEG-LS the size an oversize-image-dimension LSE segment declares
 * (T.87 §C.2.4.1.4).
 */
export interface JpegFrameHeader {
  marker: number;
  precision: number;
  height: number;
  width: number;
  components: number;
  scanComponents?: number;
  oversize?: { width: number; height: number };
}

/** SOFn (T.81 Table B.1: C0–CF except DHT C4, JPG C8 and DAC CC) or SOF55 (T.87 Table C.1). */
const isFrameMarker = (marker: number): boolean =>
  (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === SOF55;

/**
 * Reads the marker segments from SOI up to the first scan (T.81 §B.2.1: SOI, tables/misc., the frame header, then
 * scans), each skipped by its length, in one pass; undefined when the stream does not start with SOI or has no
 * frame header before its first scan.
 */
export function jpegFrameHeader(bytes: Uint8Array): JpegFrameHeader | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  const u16 = (at: number): number => ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
  let header: JpegFrameHeader | undefined;
  let oversize: { width: number; height: number } | undefined;
  let i = 2;
  while (i + 3 < bytes.length) {
    if (bytes[i] !== 0xff) break;
    const marker = bytes[i + 1] ?? 0;
    // Any marker may be preceded by fill bytes 0xFF (T.81 §B.1.1.2).
    if (marker === 0xff) {
      i++;
      continue;
    }
    // TEM and RSTm stand alone, without a length (T.81 §B.1.1.3); SOI or EOI here ends the header.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker === 0xd8 || marker === 0xd9) break;
    const length = u16(i + 2);
    if (length < 2) break;
    const body = i + 4;
    if (marker === 0xda) {
      // SOS: Ns is its first byte (T.81 §B.2.3).
      if (header && body < bytes.length) header.scanComponents = bytes[body] ?? 0;
      break;
    }
    if (isFrameMarker(marker) && !header) {
      if (body + 6 > bytes.length) break;
      header = {
        marker,
        precision: bytes[body] ?? 0,
        height: u16(body + 1),
        width: u16(body + 3),
        components: bytes[body + 5] ?? 0,
      };
    } else if (marker === 0xf8 && bytes[body] === 4) {
      // LSE, ID 4: Wxy bytes each for Y then X, sizes beyond 16 bits (T.87 §C.2.4.1.4), as CharLS reads them.
      const size = bytes[body + 1] ?? 0;
      if (size >= 2 && size <= 4 && body + 2 + 2 * size <= bytes.length) {
        const read = (at: number): number => {
          let value = 0;
          for (let k = 0; k < size; k++) value = value * 256 + (bytes[at + k] ?? 0);
          return value;
        };
        oversize = { height: read(body + 2), width: read(body + 2 + size) };
      }
    }
    i += 2 + length;
  }
  return header && oversize ? { ...header, oversize } : header;
}

/** The frame header of a JPEG (T.81) codestream, checked against the data set before a codec sees it. */
function checkedJpegHeader(bytes: Uint8Array, expected: ExpectedFrame): JpegFrameHeader {
  const header = jpegFrameHeader(bytes);
  if (!header)
    throw new CodecError(
      'the codestream has no JPEG frame header (SOI, then SOFn before the first scan), so its size cannot be checked; the frame is refused before decoding',
    );
  if (header.marker === SOF55)
    throw new CodecError(
      'the codestream is JPEG-LS (SOF55), not the JPEG of its transfer syntax; the frame is refused before decoding',
    );
  const where = `its SOF${header.marker - 0xc0} frame header`;
  requireDeclaredSize({ ...header, where }, expected);
  // Each scan component is one of the frame's (T.81 §B.2.3); the lossless decoder allocates by Ns.
  if (header.scanComponents !== undefined && (header.scanComponents < 1 || header.scanComponents > header.components))
    throw new CodecError(
      `the codestream's first scan (SOS) names ${header.scanComponents} component(s) but its frame has ${header.components}; the frame is refused before decoding`,
    );
  return header;
}

export async function decodeJpegLs(bytes: Uint8Array, expected: ExpectedFrame): Promise<CodecOutput> {
  const header = jpegFrameHeader(bytes);
  if (header?.marker !== SOF55)
    throw new CodecError(
      header
        ? `the codestream's frame header is ${hex(header.marker)}, not JPEG-LS's SOF55; the frame is refused before decoding`
        : 'the codestream has no JPEG-LS frame header (SOI, then SOF55 before the first scan), so its size cannot be checked; the frame is refused before decoding',
    );
  // X or Y = 0 in SOF55 leaves the size to an LSE segment (T.87 §C.2.4.1.4); CharLS reads both, so both must agree.
  const frame = {
    width: header.width || (header.oversize?.width ?? 0),
    height: header.height || (header.oversize?.height ?? 0),
  };
  requireDeclaredSize({ ...frame, components: header.components, where: 'its SOF55 frame header' }, expected);
  if (header.oversize)
    requireDeclaredSize(
      {
        ...header.oversize,
        components: header.components,
        where: 'its oversize-dimension LSE segment',
      },
      expected,
    );
  return decodeWithWasm('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', bytes, 'JPEG-LS (CharLS)');
}

const JP2_SIGNATURE = [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];
const JP2C = 0x6a703263; // 'jp2c', the contiguous codestream box (T.800 §I.5.4)

/**
 * Where the codestream starts: at 0, or, in a JP2 file (which OpenJPEG also reads), in its first contiguous
 * codestream box — boxes are LBox, TBox, then XLBox when LBox = 1; LBox = 0 runs to the end (T.800 §I.4).
 */
function jpeg2000CodestreamStart(bytes: Uint8Array): number | undefined {
  if (!JP2_SIGNATURE.every((byte, k) => bytes[k] === byte)) return 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 8 <= bytes.byteLength;) {
    const lbox = view.getUint32(at);
    const type = view.getUint32(at + 4);
    let headerLength = 8;
    let boxLength = lbox === 0 ? bytes.byteLength - at : lbox;
    if (lbox === 1) {
      if (at + 16 > bytes.byteLength) return undefined;
      boxLength = Number(view.getBigUint64(at + 8));
      headerLength = 16;
    }
    if (type === JP2C) return at + headerLength;
    if (boxLength < headerLength) return undefined;
    at += boxLength;
  }
  return undefined;
}

/**
 * The image a JPEG 2000 codestream declares in its SIZ marker segment, which must follow SOC (T.800 §A.4.1, §A.5.1):
 * Xsiz − XOsiz by Ysiz − YOsiz reference-grid points (§B.2), Csiz components; undefined when there is no SIZ.
 */
export function jpeg2000ImageHeader(
  bytes: Uint8Array,
): { width: number; height: number; components: number } | undefined {
  const start = jpeg2000CodestreamStart(bytes);
  // SOC, SIZ, then Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz (2+2+4×8+2 bytes).
  if (start === undefined || start + 4 + 38 > bytes.byteLength) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(start) !== 0xff4f || view.getUint16(start + 2) !== 0xff51) return undefined;
  const siz = start + 4;
  const [xsiz, ysiz, xosiz, yosiz] = [4, 8, 12, 16].map((offset) => view.getUint32(siz + offset));
  return {
    width: Math.max(0, (xsiz ?? 0) - (xosiz ?? 0)),
    height: Math.max(0, (ysiz ?? 0) - (yosiz ?? 0)),
    components: view.getUint16(siz + 36),
  };
}

export async function decodeJpeg2000(bytes: Uint8Array, expected: ExpectedFrame): Promise<CodecOutput> {
  const header = jpeg2000ImageHeader(bytes);
  if (!header)
    throw new CodecError(
      'the codestream does not start with SOC and SIZ markers (alone or in a JP2 file), so its size cannot be checked; the frame is refused before decoding',
    );
  requireDeclaredSize({ ...header, where: 'its SIZ marker segment' }, expected);
  return decodeWithWasm('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', bytes, 'JPEG 2000 (OpenJPEG)');
}

/** JPEG baseline and extended (T.81 processes 1, 2 and 4): libjpeg-turbo for 8 bits, the 12-bit IJG libjpeg (decodeJpeg12) for more. */
export async function decodeJpegBaseline(bytes: Uint8Array, expected: ExpectedFrame): Promise<CodecOutput> {
  const header = checkedJpegHeader(bytes, expected);
  if (header.precision > 8) return decodeJpeg12(bytes, header);
  return decodeWithWasm('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder', bytes, 'JPEG baseline');
}

interface NativeCodecsApi {
  NativeCodecs: {
    initializeAsync(options?: { logCodecsInfo?: boolean; logCodecsTrace?: boolean }): Promise<void>;
    decodeJpeg(context: unknown, parameters?: { convertColorspaceToRgb?: boolean }): { getDecodedBuffer(): Uint8Array };
  };
  Context: new (attrs: Record<string, unknown>) => unknown;
}

let nativeCodecs: Promise<NativeCodecsApi> | undefined;
function loadNativeCodecs(): Promise<NativeCodecsApi> {
  nativeCodecs ??= (async () => {
    const api = require('dcmjs-codecs') as NativeCodecsApi;
    await api.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
    return api;
  })();
  return nativeCodecs;
}

/**
 * 12-bit lossy JPEG (JPEG Extended, process 2 & 4, PS3.5 §A.4.1): the 12-bit IJG libjpeg in dcmjs-codecs' WebAssembly. The
 * codestream's own frame header gives the size; samples come back as 16-bit little-endian.
 */
async function decodeJpeg12(bytes: Uint8Array, header: JpegFrameHeader): Promise<CodecOutput> {
  const { NativeCodecs, Context } = await loadNativeCodecs();
  const { precision, width, height, components } = header;
  const context = new Context({
    width,
    height,
    bitsAllocated: 16,
    bitsStored: precision,
    samplesPerPixel: components,
    pixelRepresentation: 0,
    planarConfiguration: 0,
    photometricInterpretation: components === 1 ? 'MONOCHROME2' : 'YBR_FULL_422',
    encodedBuffer: bytes,
  });
  let samples: Uint8Array;
  try {
    samples = NativeCodecs.decodeJpeg(context, { convertColorspaceToRgb: false }).getDecodedBuffer().slice();
  } catch (error) {
    throw new CodecError(`${precision}-bit JPEG codestream is corrupt (${describeWasmError(error)})`);
  }
  const expected = width * height * components * 2;
  if (samples.byteLength !== expected)
    throw new CodecError(`${precision}-bit JPEG decoded to ${samples.byteLength} bytes, expected ${expected}`);
  return { width, height, components, bytesPerSample: 2, samples };
}

export function decodeJpegLossless(bytes: Uint8Array, bitsAllocated: number, expected: ExpectedFrame): CodecOutput {
  // jpeg-lossless-decoder-js allocates X × Y × Ns samples from the headers before it reads a pixel.
  const header = checkedJpegHeader(bytes, expected);
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const bytesPerSample = bitsAllocated <= 8 ? 1 : 2;
  let decoded: ArrayLike<number> & ArrayBufferView;
  try {
    decoded = new Decoder().decode(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, bytesPerSample);
  } catch (error) {
    throw new CodecError(`JPEG lossless codestream is corrupt (${describeWasmError(error)})`);
  }
  const samples = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength).slice();
  return { width: header.width, height: header.height, components: header.components, bytesPerSample, samples };
}

/**
 * RLE Lossless (PS3.5 Annex G): a 64-byte header of 16 little-endian uint32 (segment count, then offsets);
 * each segment is PackBits-coded and holds one byte plane, most significant byte first (§G.2).
 */
export function decodeRle(
  bytes: Uint8Array,
  pixelCount: number,
  bytesPerSample: number,
  samplesPerPixel: number,
): CodecOutput {
  if (bytes.byteLength < 64)
    throw new CodecError(`RLE frame is ${bytes.byteLength} bytes, shorter than its 64-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const segments = view.getUint32(0, true);
  const expectedSegments = bytesPerSample * samplesPerPixel;
  if (segments !== expectedSegments) {
    throw new CodecError(`RLE frame has ${segments} segments, expected ${expectedSegments}`);
  }
  const out = new Uint8Array(pixelCount * expectedSegments);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : bytes.byteLength;
    if (start < 64 || start > end || end > bytes.byteLength)
      throw new CodecError(`RLE segment ${s + 1} offset is corrupt`);
    const sample = Math.floor(s / bytesPerSample);
    // Segment order is MSB first; our output is little-endian, so the MSB segment fills the highest byte.
    const byteIndex = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = bytesPerSample * samplesPerPixel;
    const base = sample * bytesPerSample + byteIndex;
    let pixel = 0;
    let i = start;
    while (i < end && pixel < pixelCount) {
      const control = bytes[i++] ?? 0;
      if (control < 128) {
        for (let n = 0; n <= control && pixel < pixelCount; n++) out[pixel++ * stride + base] = bytes[i++] ?? 0;
      } else if (control > 128) {
        const value = bytes[i++] ?? 0;
        for (let n = 0; n < 257 - control && pixel < pixelCount; n++) out[pixel++ * stride + base] = value;
      }
    }
    if (pixel < pixelCount) throw new CodecError(`RLE segment ${s + 1} ends after ${pixel} of ${pixelCount} pixels`);
  }
  return { width: 0, height: 0, components: samplesPerPixel, bytesPerSample, samples: out };
}
