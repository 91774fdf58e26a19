/**
 * Training-set output (`--dataset`): per axial slice a 16-bit PNG, a YOLO label file (class cx cy w h, normalised)
 * and a JSON record with the level's truth. Classes are the 15 MSU grade × zone combinations.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MsuGrade, MsuZone } from '../../server/src/findings/findings';
import { encodeGray16Png } from './contact-sheet';
import type { SyntheticStudy } from './study';

export const DATASET_CLASSES: string[] = ([1, 2, 3] as MsuGrade[]).flatMap((grade) =>
  (['A', 'B', 'C', 'AB', 'BC'] as MsuZone[]).map((zone) => `${grade}-${zone}`),
);

export async function writeDatasetStudy(study: SyntheticStudy, dir: string, name: string): Promise<number> {
  await mkdir(path.join(dir, 'images'), { recursive: true });
  await mkdir(path.join(dir, 'labels'), { recursive: true });
  await mkdir(path.join(dir, 'json'), { recursive: true });
  let written = 0;
  for (const slice of study.axialPixels) {
    const level = study.groundTruth.levels.find((entry) => entry.level === slice.level);
    const stem = `${name}_${slice.sopInstanceUid.slice(-12)}`;
    const shown = level?.herniation
      ? level.herniationSlices?.find((entry) => entry.sopInstanceUid === slice.sopInstanceUid)
      : undefined;
    const lines: string[] = [];
    if (level?.herniation && shown) {
      const [x0, y0, x1, y1] = shown.box;
      const classId = DATASET_CLASSES.indexOf(`${level.grade}-${level.zone}`);
      const f = (value: number): string => value.toFixed(6);
      lines.push(
        `${classId} ${f((x0 + x1) / 2 / slice.columns)} ${f((y0 + y1) / 2 / slice.rows)} ${f((x1 - x0) / slice.columns)} ${f((y1 - y0) / slice.rows)}`,
      );
    }
    await writeFile(path.join(dir, 'images', `${stem}.png`), encodeGray16Png(slice.pixels, slice.columns, slice.rows));
    await writeFile(path.join(dir, 'labels', `${stem}.txt`), lines.length ? `${lines.join('\n')}\n` : '');
    const record = {
      study: name,
      sopInstanceUid: slice.sopInstanceUid,
      level: slice.level,
      isKeySlice: level?.keySlice?.sopInstanceUid === slice.sopInstanceUid,
      herniation: Boolean(level?.herniation && shown),
      ...(level?.herniation && shown ? { grade: level.grade, zone: level.zone, side: level.side, box: shown.box } : {}),
      intraFacetLine: level?.intraFacetLine,
      rows: slice.rows,
      columns: slice.columns,
    };
    await writeFile(path.join(dir, 'json', `${stem}.json`), `${JSON.stringify(record)}\n`);
    written++;
  }
  return written;
}
