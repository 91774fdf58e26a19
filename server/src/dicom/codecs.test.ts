/**
 * A codec allocates by the size its codestream's own header declares, which the study limits (Rows × Columns) never
 * see: `npm run fuzz` (seed 1, case 4130) gave a 256×256 JPEG lossless frame an SOF3 of 32767×32767, and
 * jpeg-lossless-decoder-js allocated and filled 2 GiB outside the JS heap for 20 s, then "decoded" it. Each codestream
 * is now read before its codec runs — JPEG's frame header (ITU T.81 §B.2.2), JPEG-LS's (T.87 §C.2.2) and its
 * oversize-dimension LSE (§C.2.4.1.4), JPEG 2000's SIZ (T.800 §A.5.1) — and a size other than the data set's is
 * refused with a sentence naming both, at once and without the allocation.
 */
import { describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { transcodePart10, type TranscodableSyntax } from '../../../models/synthetic/transcode';
import { jpeg2000ImageHeader, jpegFrameHeader } from './codecs';
import { decodeFrame, pixelModuleFromMetadata, UnsupportedImageError, type PixelModule } from './decode-frame';
import { readPart10 } from './part10';

const phantomSlice = generatePhantomStudy({ seed: 7, patientId: 'codec-test' }).instances[4]?.part10;
if (!phantomSlice) throw new Error('phantom study has no slice 5');
const slice: Uint8Array = phantomSlice;

function compressed(syntax: TranscodableSyntax): { frame: Uint8Array; pixel: PixelModule; syntax: string } {
  const object = readPart10(transcodePart10(slice, syntax));
  const frame = object.frames[0];
  if (!frame) throw new Error(`no frame in the ${syntax} transcode`);
  return { frame, pixel: pixelModuleFromMetadata(object.dataset), syntax: object.transferSyntaxUid };
}

/** Where the first marker segment `wanted` starts (its 0xFF), walking the segments from SOI by their lengths. */
function jpegSegment(frame: Uint8Array, wanted: (marker: number) => boolean): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  for (let at = 2; at + 4 <= frame.byteLength; at += 2 + view.getUint16(at + 2)) {
    if (wanted(frame[at + 1] ?? 0)) return at;
  }
  throw new Error('marker not found');
}
const isSof = (marker: number): boolean =>
  (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) || marker === 0xf7;

/** The frame with its JPEG or JPEG-LS frame header's X and Y (and optionally Nf) replaced. */
function withSofSize(frame: Uint8Array, width: number, height: number, components?: number): Uint8Array {
  const out = frame.slice();
  const at = jpegSegment(out, isSof);
  const view = new DataView(out.buffer);
  view.setUint16(at + 5, height);
  view.setUint16(at + 7, width);
  if (components !== undefined) out[at + 9] = components;
  return out;
}

/** The JPEG 2000 codestream with its SIZ's Xsiz and Ysiz replaced (XOsiz = YOsiz = 0 in these transcodes). */
function withSizSize(frame: Uint8Array, width: number, height: number): Uint8Array {
  const out = frame.slice();
  const view = new DataView(out.buffer);
  expect(view.getUint32(0)).toBe(0xff4fff51);
  view.setUint32(8, width);
  view.setUint32(12, height);
  return out;
}

/** A JP2 file (ITU T.800 Annex I) around a codestream: signature, file type, header (ihdr, colr) and jp2c boxes. */
function jp2File(codestream: Uint8Array, width: number, height: number): Uint8Array {
  const box = (type: string, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(8 + body.byteLength);
    new DataView(out.buffer).setUint32(0, out.byteLength);
    out.set(new TextEncoder().encode(type), 4);
    out.set(body, 8);
    return out;
  };
  const ihdr = new Uint8Array(14);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, height);
  view.setUint32(4, width);
  view.setUint16(8, 1);
  ihdr[10] = 15;
  ihdr[11] = 7;
  const parts = [
    box('jP  ', new Uint8Array([0x0d, 0x0a, 0x87, 0x0a])),
    box('ftyp', new TextEncoder().encode('jp2 \0\0\0\0jp2 ')),
    box('jp2h', Buffer.concat([box('ihdr', ihdr), box('colr', new Uint8Array([1, 0, 0, 0, 0, 0, 17]))])),
    box('jp2c', codestream),
  ];
  return new Uint8Array(Buffer.concat(parts));
}

/** Decodes, timing the call and measuring how much the process's resident set grew meanwhile. */
async function attempt(
  frame: Uint8Array,
  pixel: PixelModule,
  syntax: string,
): Promise<{ error: Error | undefined; ms: number; grewMiB: number }> {
  const rss = process.memoryUsage().rss;
  const started = performance.now();
  const error = await decodeFrame(frame, pixel, syntax).then(
    () => undefined,
    (reason: unknown) => reason as Error,
  );
  return { error, ms: performance.now() - started, grewMiB: (process.memoryUsage().rss - rss) / 2 ** 20 };
}

/** 16384 × 16384 samples: 512 MiB at 16 bits, which the lossless decoder allocated before the fix. */
const HUGE = 16_384;

describe('when a codestream declares a larger image than the frame’s Rows × Columns', () => {
  const cases: [TranscodableSyntax, string, (frame: Uint8Array) => Uint8Array, RegExp][] = [
    [
      '1.2.840.10008.1.2.4.57',
      'JPEG lossless (SOF3), the fuzzer’s case',
      (frame) => withSofSize(frame, HUGE, HUGE),
      /^JPEG Lossless \(1\.2\.840\.10008\.1\.2\.4\.57\): the codestream declares 16384×16384 pixels \(its SOF3 frame header\) but Rows\/Columns say 256×256; the frame is refused before decoding$/,
    ],
    [
      '1.2.840.10008.1.2.4.70',
      'JPEG lossless SV1 (SOF3), taller only',
      (frame) => withSofSize(frame, 256, HUGE),
      /^JPEG Lossless SV1 .*: the codestream declares 256×16384 pixels \(its SOF3 frame header\) but Rows\/Columns say 256×256/,
    ],
    [
      '1.2.840.10008.1.2.4.50',
      'JPEG baseline (SOF0)',
      (frame) => withSofSize(frame, HUGE, HUGE),
      /^JPEG Baseline .*: the codestream declares 16384×16384 pixels \(its SOF0 frame header\) but Rows\/Columns say 256×256/,
    ],
    [
      '1.2.840.10008.1.2.4.51',
      '12-bit JPEG extended (SOF1)',
      (frame) => withSofSize(frame, HUGE, HUGE),
      /^JPEG Extended .*: the codestream declares 16384×16384 pixels \(its SOF1 frame header\) but Rows\/Columns say 256×256/,
    ],
    [
      '1.2.840.10008.1.2.4.80',
      'JPEG-LS (SOF55)',
      (frame) => withSofSize(frame, HUGE, HUGE),
      /^JPEG-LS Lossless .*: the codestream declares 16384×16384 pixels \(its SOF55 frame header\) but Rows\/Columns say 256×256/,
    ],
    [
      '1.2.840.10008.1.2.4.90',
      'JPEG 2000 (SIZ)',
      (frame) => withSizSize(frame, HUGE, HUGE),
      /^JPEG 2000 Lossless .*: the codestream declares 16384×16384 pixels \(its SIZ marker segment\) but Rows\/Columns say 256×256/,
    ],
  ];

  it.each(cases)(
    'then %s (%s) is refused naming both sizes, at once and without allocating the declared image',
    async (syntax, _name, damage, sentence) => {
      const { frame, pixel, syntax: uid } = compressed(syntax);
      // The undamaged frame decodes (and loads its codec, so the measurement below is of the damaged frame alone).
      const decoded = await decodeFrame(frame, pixel, uid);
      expect([decoded.width, decoded.height]).toEqual([256, 256]);

      const { error, ms, grewMiB } = await attempt(damage(frame), pixel, uid);
      expect(error).toBeInstanceOf(UnsupportedImageError);
      expect(error?.message).toMatch(sentence);
      expect(ms).toBeLessThan(500);
      expect(grewMiB).toBeLessThan(32);
    },
    60_000,
  );

  it('then a JPEG frame header with another component count than SamplesPerPixel is refused naming both', async () => {
    const { frame, pixel, syntax } = compressed('1.2.840.10008.1.2.4.57');
    await expect(decodeFrame(withSofSize(frame, 256, 256, 3), pixel, syntax)).rejects.toThrow(
      /the codestream declares 3 component\(s\) \(its SOF3 frame header\) but SamplesPerPixel \(0028,0002\) is 1; the frame is refused before decoding/,
    );
  });

  it('then a JPEG-LS oversize-dimension LSE segment beyond Rows × Columns is refused, whatever SOF55 says', async () => {
    const { frame, pixel, syntax } = compressed('1.2.840.10008.1.2.4.80');
    const sof = jpegSegment(frame, (marker) => marker === 0xf7);
    const end = sof + 2 + new DataView(frame.buffer, frame.byteOffset).getUint16(sof + 2);
    // LSE, Ll = 8, ID 4, Wxy = 2, Y = 16384, X = 16384 (ITU T.87 §C.2.4.1.4), after the frame header.
    const lse = new Uint8Array([0xff, 0xf8, 0x00, 0x08, 0x04, 0x02, 0x40, 0x00, 0x40, 0x00]);
    const damaged = new Uint8Array(Buffer.concat([frame.subarray(0, end), lse, frame.subarray(end)]));
    await expect(decodeFrame(damaged, pixel, syntax)).rejects.toThrow(
      /the codestream declares 16384×16384 pixels \(its oversize-dimension LSE segment\) but Rows\/Columns say 256×256/,
    );
  });

  it('then a JPEG 2000 codestream in a JP2 file is read through its jp2c box: decoded when it matches, else refused', async () => {
    const { frame, pixel, syntax } = compressed('1.2.840.10008.1.2.4.90');
    const decoded = await decodeFrame(jp2File(frame, 256, 256), pixel, syntax);
    expect(decoded.pixels).toEqual((await decodeFrame(frame, pixel, syntax)).pixels);
    await expect(decodeFrame(jp2File(withSizSize(frame, HUGE, HUGE), 256, 256), pixel, syntax)).rejects.toThrow(
      /declares 16384×16384 pixels \(its SIZ marker segment\)/,
    );
  });

  it('then a codestream whose size cannot be read is refused before any codec runs', async () => {
    const jpeg = compressed('1.2.840.10008.1.2.4.50');
    await expect(decodeFrame(jpeg.frame.subarray(2), jpeg.pixel, jpeg.syntax)).rejects.toThrow(
      /JPEG Baseline .*: the codestream has no JPEG frame header \(SOI, then SOFn before the first scan\)/,
    );
    const j2k = compressed('1.2.840.10008.1.2.4.90');
    await expect(decodeFrame(j2k.frame.subarray(4), j2k.pixel, j2k.syntax)).rejects.toThrow(
      /the codestream does not start with SOC and SIZ markers/,
    );
  });
});

describe('jpegFrameHeader and jpeg2000ImageHeader', () => {
  it('when fill bytes and a restart marker precede the frame header, then it is still found (ITU T.81 §B.1.1.2)', () => {
    const sof3 = [0xff, 0xc3, 0x00, 0x0b, 0x10, 0x01, 0x00, 0x02, 0x00, 0x01, 0x01, 0x11, 0x00];
    const sos = [0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00];
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xff, 0xd0, ...sof3, ...sos]);
    expect(jpegFrameHeader(bytes)).toEqual({
      marker: 0xc3,
      precision: 16,
      height: 256,
      width: 512,
      components: 1,
      scanComponents: 1,
    });
    expect(jpegFrameHeader(bytes.subarray(2))).toBeUndefined();
  });

  it('when SIZ has an image offset, then the image is Xsiz − XOsiz by Ysiz − YOsiz (ITU T.800 §B.2)', () => {
    const siz = new Uint8Array(4 + 38 + 3);
    const view = new DataView(siz.buffer);
    view.setUint32(0, 0xff4fff51);
    view.setUint16(4, 41);
    view.setUint32(8, 300);
    view.setUint32(12, 200);
    view.setUint32(16, 44);
    view.setUint32(20, 100);
    view.setUint16(40, 1);
    expect(jpeg2000ImageHeader(siz)).toEqual({ width: 256, height: 100, components: 1 });
  });
});
