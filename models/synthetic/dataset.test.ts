import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { DATASET_CLASSES, writeDatasetStudy } from './dataset';
import { generateSyntheticStudy } from './study';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('writeDatasetStudy', () => {
  it('when a study is written as a training set, then each slice has a 16-bit PNG and YOLO labels that match the truth boxes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ldh-dataset-'));
    dirs.push(dir);
    const study = generateSyntheticStudy({
      seed: 77,
      patientId: 'DS',
      matrix: 256,
      slicesPerLevel: 3,
      axialOnly: true,
      herniations: { 'L4-L5': { grade: 2, zone: 'AB', side: 'left' } },
    });
    const written = await writeDatasetStudy(study, dir, 'S77');
    expect(written).toBe(15);
    expect(await readdir(path.join(dir, 'images'))).toHaveLength(15);

    const level = study.groundTruth.levels.find((entry) => entry.level === 'L4-L5');
    if (!level?.herniation) throw new Error('expected a herniation');
    const key = level.keySlice.sopInstanceUid;
    const stem = `S77_${key.slice(-12)}`;
    const label = (await readFile(path.join(dir, 'labels', `${stem}.txt`), 'utf8')).trim().split(' ').map(Number);
    expect(label[0]).toBe(DATASET_CLASSES.indexOf('2-AB'));
    const [x0, y0, x1, y1] = level.box;
    expect(label.slice(1)).toEqual(
      [(x0 + x1) / 2 / 256, (y0 + y1) / 2 / 256, (x1 - x0) / 256, (y1 - y0) / 256].map((value) =>
        Number(value.toFixed(6)),
      ),
    );
    const png = decode(await readFile(path.join(dir, 'images', `${stem}.png`)));
    expect(png.depth).toBe(16);
    const slice = study.axialPixels.find((entry) => entry.sopInstanceUid === key);
    expect(Array.from(png.data.slice(0, 1000))).toEqual(Array.from(slice?.pixels.slice(0, 1000) ?? []));
    // A normal level's slices have empty label files.
    const normal = study.groundTruth.levels.find((entry) => entry.level === 'L1-L2');
    const normalStem = `S77_${normal?.keySlice?.sopInstanceUid.slice(-12) ?? ''}`;
    expect(await readFile(path.join(dir, 'labels', `${normalStem}.txt`), 'utf8')).toBe('');
  });
});
