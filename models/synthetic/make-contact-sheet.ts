/**
 * `npx tsx models/synthetic/make-contact-sheet.ts [out.png]`: key axial slices of realistic synthetic studies, one
 * per MSU grade and zone (plus a normal level and a bulge), cropped around the canal, with the ground truth drawn
 * on — green dashed: intra-facet line; cyan dashed: posterior disc margin (parallel to it); red: herniation box;
 * label: level and MSU class. Default output: docs/synthetic-contact-sheet.png.
 */
import { writeFile } from 'node:fs/promises';
import type { DiscLevel, PixelPoint } from '../../server/src/findings/findings';
import { RgbCanvas } from './contact-sheet';
import type { PlannedHerniation } from './realistic/herniation';
import { generateSyntheticStudy } from './study';

const CASES: { title: string; level: DiscLevel; herniation?: PlannedHerniation; seed: number }[] = [
  { title: '1-A', level: 'L4-L5', herniation: { grade: 1, zone: 'A', side: 'central' }, seed: 11 },
  { title: '2-A', level: 'L5-S1', herniation: { grade: 2, zone: 'A', side: 'left' }, seed: 12 },
  { title: '3-A', level: 'L4-L5', herniation: { grade: 3, zone: 'A', side: 'central' }, seed: 13 },
  { title: '2-AB', level: 'L4-L5', herniation: { grade: 2, zone: 'AB', side: 'left' }, seed: 14 },
  { title: '2-B', level: 'L5-S1', herniation: { grade: 2, zone: 'B', side: 'right' }, seed: 15 },
  { title: '3-B', level: 'L3-L4', herniation: { grade: 3, zone: 'B', side: 'left' }, seed: 16 },
  { title: '1-BC', level: 'L4-L5', herniation: { grade: 1, zone: 'BC', side: 'right' }, seed: 17 },
  { title: '2-C', level: 'L4-L5', herniation: { grade: 2, zone: 'C', side: 'left' }, seed: 18 },
  { title: '3-AB', level: 'L2-L3', herniation: { grade: 3, zone: 'AB', side: 'central' }, seed: 19 },
  { title: 'NORMAL', level: 'L4-L5', seed: 20 },
];
const TILE = 360;
const COLUMNS = 5;
const CROP_MM = 130;

const outPath = process.argv[2] ?? 'docs/synthetic-contact-sheet.png';
const canvas = new RgbCanvas(TILE * COLUMNS, TILE * Math.ceil(CASES.length / COLUMNS));
for (const [index, entry] of CASES.entries()) {
  const study = generateSyntheticStudy({
    seed: entry.seed,
    patientId: `SHEET-${entry.seed}`,
    herniations: entry.herniation ? { [entry.level]: entry.herniation } : {},
    matrix: 384,
    snr: 'high',
    axialOnly: true,
    motion: false,
  });
  const level = study.groundTruth.levels.find((candidate) => candidate.level === entry.level);
  const slice = study.axialPixels.find((candidate) => candidate.sopInstanceUid === level?.keySlice?.sopInstanceUid);
  if (!level || !slice) throw new Error(`no key slice for ${entry.title}`);
  const pixelMm = study.acquisition.fieldOfViewMm / slice.columns;
  const cropPx = Math.round(CROP_MM / pixelMm);
  const [mx, my] = level.discMarginPoint;
  const x0 = Math.round(mx - cropPx / 2);
  const y0 = Math.round(my - cropPx * 0.45);
  const crop = new Uint16Array(cropPx * cropPx);
  for (let r = 0; r < cropPx; r++)
    for (let c = 0; c < cropPx; c++) {
      const sr = y0 + r;
      const sc = x0 + c;
      crop[r * cropPx + c] =
        sr >= 0 && sc >= 0 && sr < slice.rows && sc < slice.columns ? (slice.pixels[sr * slice.columns + sc] ?? 0) : 0;
    }
  const sorted = Float64Array.from(crop).sort();
  const high = sorted[Math.floor(sorted.length * 0.995)] ?? 1;
  const left = (index % COLUMNS) * TILE;
  const top = Math.floor(index / COLUMNS) * TILE;
  canvas.drawWindowed(crop, cropPx, left, top, TILE, { center: high * 0.5, width: high });
  const k = TILE / cropPx;
  const toTile = ([x, y]: PixelPoint): PixelPoint => [left + (x - x0) * k, top + (y - y0) * k];
  if (level.intraFacetLine) {
    const [a, b] = level.intraFacetLine;
    canvas.line(toTile(a), toTile(b), [0, 255, 0], true);
    // The posterior disc margin: parallel to the line through the margin point.
    const dx = (b[0] - a[0]) / 2;
    const dy = (b[1] - a[1]) / 2;
    canvas.line(toTile([mx - dx, my - dy]), toTile([mx + dx, my + dy]), [0, 200, 255], true);
  }
  if (level.herniation) {
    const [bx0, by0, bx1, by1] = level.box;
    const [p0x, p0y] = toTile([bx0, by0]);
    const [p1x, p1y] = toTile([bx1, by1]);
    canvas.box([p0x, p0y, p1x, p1y], [255, 40, 40]);
  }
  const label = level.herniation
    ? `${level.level} ${level.grade}-${level.zone} ${level.side}`
    : `${level.level} NORMAL`;
  canvas.text(label, left + 6, top + 6, [255, 255, 0]);
  canvas.text(
    `${study.acquisition.field}T ${study.acquisition.fieldOfViewMm}MM`,
    left + 6,
    top + TILE - 18,
    [200, 200, 200],
  );
}
await writeFile(outPath, canvas.toPng());
console.log(`wrote ${outPath}`);
