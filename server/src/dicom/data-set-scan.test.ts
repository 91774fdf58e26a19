/**
 * The structural pass before dcmjs: sequences nested absurdly deep and deflate bombs are refused in milliseconds
 * (found by `npm run fuzz`: a 10,000-deep sequence kept dcmjs busy for 38 s before it overflowed the stack), while
 * the generator's real objects — an Enhanced MR with its functional groups, the DICOM SR — pass.
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runInBoundedWorker } from '../../../test/support/bounded-worker';
import { generatePhantomStudy, generateSyntheticStudy } from '../../../models/synthetic';
import { axialSeriesToEnhancedMr } from '../../../models/synthetic/enhanced-mr';
import { checkPart10Structure, checkSequenceDepth, DataSetStructureError } from './data-set-scan';
import { DicomFileError, readPart10 } from './part10';

const slice = generatePhantomStudy({ seed: 3, patientId: 'SCAN' }).instances[0]?.part10 ?? new Uint8Array();

/** (0009,1010) SQ of undefined length, `depth` levels of sequence-in-item, closed by delimiters. */
function nestedSequence(depth: number): Uint8Array {
  const sequence = [0x09, 0x00, 0x10, 0x10, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff];
  const item = [0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff];
  const itemEnd = [0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0];
  const sequenceEnd = [0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0];
  const bytes: number[] = [];
  for (let i = 0; i < depth; i++) bytes.push(...sequence, ...item);
  for (let i = 0; i < depth; i++) bytes.push(...itemEnd, ...sequenceEnd);
  return new Uint8Array(bytes);
}

/** The phantom slice with `inserted` placed before (0028,0002), in tag order for a (0009,xxxx) element. */
function withInserted(inserted: Uint8Array): Uint8Array {
  const at = slice.findIndex(
    (_, i) => i > 132 && slice[i] === 0x28 && slice[i + 1] === 0x00 && slice[i + 2] === 0x02 && slice[i + 3] === 0x00,
  );
  const out = new Uint8Array(slice.byteLength + inserted.byteLength);
  out.set(slice.subarray(0, at));
  out.set(inserted, at);
  out.set(slice.subarray(at), at + inserted.byteLength);
  return out;
}

describe('checkSequenceDepth', () => {
  it('when sequences nest 10,000 deep, then the file is refused at once with a one-line reason (before: 38 s in dcmjs)', () => {
    const file = withInserted(nestedSequence(10_000));
    const started = performance.now();
    expect(() => readPart10(file)).toThrow(DicomFileError);
    expect(() => readPart10(file)).toThrow(
      'sequences are nested more than 32 levels deep, deeper than any real DICOM object',
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('when sequences nest 8 deep, then the file is read as before', () => {
    const file = withInserted(nestedSequence(8));
    expect(readPart10(file).frames).toHaveLength(1);
  });

  it('when a sequence of defined length nests, in implicit VR, then its depth is counted too', () => {
    // Implicit VR: (0009,1010) of defined length whose value starts with an item, 40 deep.
    let value = new Uint8Array(0);
    for (let i = 0; i < 40; i++) {
      const item = new Uint8Array(8 + value.byteLength);
      item.set([0xfe, 0xff, 0x00, 0xe0]);
      new DataView(item.buffer).setUint32(4, value.byteLength, true);
      item.set(value, 8);
      const element = new Uint8Array(8 + item.byteLength);
      element.set([0x09, 0x00, 0x10, 0x10]);
      new DataView(element.buffer).setUint32(4, item.byteLength, true);
      element.set(item, 8);
      value = element;
    }
    expect(() => {
      checkSequenceDepth(value, 0, { explicit: false, littleEndian: true });
    }).toThrow(DataSetStructureError);
  });

  it("when the generator's Enhanced MR (functional groups) and its studies are scanned, then they pass", () => {
    const study = generateSyntheticStudy({
      seed: 4,
      patientId: 'SCAN',
      matrix: 256,
      slicesPerLevel: 3,
      axialOnly: true,
    });
    const axial = study.series[0]?.instances ?? [];
    const enhanced = axialSeriesToEnhancedMr(
      axial.map((instance) => instance.part10),
      axial.map(() => 'L4-L5'),
    );
    expect(() => {
      checkPart10Structure(enhanced, { maxInflatedBytes: 2 ** 30 });
    }).not.toThrow();
    expect(readPart10(enhanced).frames).toHaveLength(axial.length);
  });
});

describe('a value length past the end of the file', () => {
  // Found by `npm run fuzz` (seed 3, case 350): the meta element (0002,0002) with its VR turned from UI into UN is read
  // with a 4-byte length, 0x2E322E31 (the UID's own characters), and dcmjs read that many bytes in pieces that do not
  // exist until a 4 GiB heap ran out: the process died on one 130 KB file.
  const file = slice.slice();
  const at = file.findIndex(
    (_, i) => i >= 132 && file[i] === 0x02 && file[i + 1] === 0x00 && file[i + 2] === 0x02 && file[i + 3] === 0x00,
  );
  file[at + 5] = 'N'.charCodeAt(0);

  it('then the file is refused naming the element, in milliseconds', () => {
    expect(() => readPart10(file)).toThrow(
      /^element \(0002,0002\) announces 775040561 bytes but the file ends \d+ bytes early: truncated or corrupt$/,
    );
  });

  it('then reading it on a 64 MiB heap answers with the refusal (before: the heap ran out)', async () => {
    const outcome = await runInBoundedWorker(new URL('./part10.ts', import.meta.url), 'readPart10', [file], {
      heapMb: 64,
    });
    expect(outcome).toMatchObject({ kind: 'threw', name: 'DicomFileError' });
  });
});

describe('a deflated data set', () => {
  it('when it inflates beyond the file limit, then it is refused before anything inflates it whole', () => {
    // A meta group naming Deflated Explicit VR Little Endian, then 64 MiB of zeros deflated (64 KiB on disk).
    const bomb = deflateRawSync(new Uint8Array(64 * 2 ** 20));
    const metaGroup = deflatedMeta();
    const file = new Uint8Array(metaGroup.byteLength + bomb.byteLength);
    file.set(metaGroup);
    file.set(bomb, metaGroup.byteLength);
    expect(() => readPart10(file, { maxFileBytes: 16 * 2 ** 20 })).toThrow(
      'the deflated data set inflates to more than 16777216 bytes (Deflated Explicit VR Little Endian)',
    );
  });
});

/** Preamble, DICM and a meta group naming Deflated Explicit VR Little Endian. */
function deflatedMeta(): Uint8Array {
  const syntax = '1.2.840.10008.1.2.1.99';
  const value = new TextEncoder().encode(syntax.length % 2 ? `${syntax}\0` : syntax);
  const element = new Uint8Array(8 + value.byteLength);
  element.set([0x02, 0x00, 0x10, 0x00, 0x55, 0x49]);
  new DataView(element.buffer).setUint16(6, value.byteLength, true);
  element.set(value, 8);
  const out = new Uint8Array(132 + element.byteLength);
  out.set(new TextEncoder().encode('DICM'), 128);
  out.set(element, 132);
  return out;
}
