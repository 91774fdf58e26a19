/**
 * Converts the generator's `--dataset` output (16-bit PNG + JSON record per slice) into what train.py reads:
 * `<id>.npy` (uint16, rows × columns) beside `<id>.json` ({ herniations: [{ grade, zone, box }], intraFacetLine,
 * isKeySlice }).
 * Debian's torchvision decodes only 8-bit PNG, and NPY loads without any image library.
 *
 *   tsx models/training/prepare-dataset.ts <datasetDir> <outDir>
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decode } from 'fast-png';
import type { MsuGrade, MsuZone, PixelBox, PixelPoint } from '../../server/src/findings/findings';

interface DatasetRecord {
  herniation: boolean;
  isKeySlice?: boolean;
  grade?: MsuGrade;
  zone?: MsuZone;
  box?: PixelBox;
  intraFacetLine?: [PixelPoint, PixelPoint];
  rows: number;
  columns: number;
}

/** NPY format 1.0: magic, version, little-endian header length, a Python dict literal padded to 64 bytes. */
export function encodeNpyUint16(pixels: Uint16Array, rows: number, columns: number): Buffer {
  const dict = `{'descr': '<u2', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const preamble = Buffer.alloc(10);
  preamble.write('\x93NUMPY', 0, 'latin1');
  preamble[6] = 1;
  preamble[7] = 0;
  preamble.writeUInt16LE(header.length, 8);
  const body = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), body]);
}

async function main(): Promise<void> {
  const [datasetDir, outDir] = process.argv.slice(2);
  if (!datasetDir || !outDir) throw new Error('usage: tsx models/training/prepare-dataset.ts <datasetDir> <outDir>');
  await mkdir(outDir, { recursive: true });
  const records = (await readdir(path.join(datasetDir, 'json'))).filter((name) => name.endsWith('.json'));
  for (const name of records) {
    const stem = name.slice(0, -'.json'.length);
    const record = JSON.parse(await readFile(path.join(datasetDir, 'json', name), 'utf8')) as DatasetRecord;
    const png = decode(await readFile(path.join(datasetDir, 'images', `${stem}.png`)));
    if (png.depth !== 16 || png.channels !== 1)
      throw new Error(`${stem}.png: expected 16-bit grey, got ${png.depth}-bit × ${png.channels}`);
    await writeFile(
      path.join(outDir, `${stem}.npy`),
      encodeNpyUint16(new Uint16Array(png.data), png.height, png.width),
    );
    const herniations =
      record.herniation && record.grade && record.zone && record.box
        ? [{ grade: record.grade, zone: record.zone, box: record.box }]
        : [];
    await writeFile(
      path.join(outDir, `${stem}.json`),
      JSON.stringify({
        herniations,
        intraFacetLine: record.intraFacetLine ?? null,
        isKeySlice: record.isKeySlice ?? true,
      }),
    );
  }
  console.log(`prepared ${records.length} training slices in ${outDir}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
