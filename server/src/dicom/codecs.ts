/**
 * The compressed-pixel codecs (PS3.5 §8.2, Annex A.4), each a maintained library: CharLS (JPEG-LS), OpenJPEG
 * (JPEG 2000), libjpeg-turbo (8-bit JPEG baseline/extended) — all WebAssembly builds from Cornerstone —,
 * dcmjs-codecs' WebAssembly build of the 12-bit IJG libjpeg (JPEG Extended, process 4, which libjpeg-turbo's 8-bit
 * build cannot read) and jpeg-lossless-decoder-js (JPEG lossless, process 14). RLE Lossless (PS3.5 Annex G) is a byte-oriented
 * PackBits scheme, small enough to decode here.
 *
 * Every decoder returns the frame's samples as little-endian bytes (1, 2 or 4 per sample) for the caller to
 * mask, sign-extend and rescale. The WASM modules are loaded once, on first use.
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

export const decodeJpegLs = (bytes: Uint8Array): Promise<CodecOutput> =>
  decodeWithWasm('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', bytes, 'JPEG-LS (CharLS)');

export const decodeJpeg2000 = (bytes: Uint8Array): Promise<CodecOutput> =>
  decodeWithWasm('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', bytes, 'JPEG 2000 (OpenJPEG)');

/** The JPEG frame header: SOFn marker, sample precision P, lines Y, samples per line X and component count Nf (ITU
 * T.81 §B.2.2), or undefined when none is found. */
export interface JpegFrameHeader {
  marker: number;
  precision: number;
  height: number;
  width: number;
  components: number;
}

export function jpegFrameHeader(bytes: Uint8Array): JpegFrameHeader | undefined {
  for (let i = 2; i + 9 < bytes.length;) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1] ?? 0;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const length = ((bytes[i + 2] ?? 0) << 8) | (bytes[i + 3] ?? 0);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      return {
        marker,
        precision: bytes[i + 4] ?? 0,
        height: ((bytes[i + 5] ?? 0) << 8) | (bytes[i + 6] ?? 0),
        width: ((bytes[i + 7] ?? 0) << 8) | (bytes[i + 8] ?? 0),
        components: bytes[i + 9] ?? 1,
      };
    }
    i += 2 + length;
  }
  return undefined;
}

export async function decodeJpegBaseline(bytes: Uint8Array): Promise<CodecOutput> {
  const header = jpegFrameHeader(bytes);
  if (header && header.precision > 8) return decodeJpeg12(bytes, header);
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

export function decodeJpegLossless(bytes: Uint8Array, bitsAllocated: number): CodecOutput {
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const bytesPerSample = bitsAllocated <= 8 ? 1 : 2;
  let decoded: ArrayLike<number> & ArrayBufferView;
  try {
    decoded = new Decoder().decode(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, bytesPerSample);
  } catch (error) {
    throw new CodecError(`JPEG lossless codestream is corrupt (${describeWasmError(error)})`);
  }
  const samples = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength).slice();
  return { width: 0, height: 0, components: 0, bytesPerSample, samples };
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
