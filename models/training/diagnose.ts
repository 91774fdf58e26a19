/**
 * Why do ground-truth herniations go unmatched? Runs the real pipeline on a labelled folder (as `npm run eval`)
 * and sorts every true herniation into one outcome of the eval's stricter, class-aware same-slice matching
 * (models/evaluation/detection.ts; a wrong label is a match in the headline, label-free matching), for grading and for localization:
 *   matched · missed (level called normal) · wrong label · key slice without a truth box · IoU < 0.5 (then: too
 *   loose / too tight / offset, from the area ratio and the centre shift).
 * It also records every raw detection per slice, so it can say how often a better key-slice choice would have
 * matched (an oracle over the level's slices), and prints box-size statistics.
 *
 *   npx tsx models/training/diagnose.ts --data DIR --model models/msu-ldh/<version> [--json FILE]
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../server/src/config';
import { createDetectorSession } from '../../server/src/inference/detector-session';
import type { Findings, LevelFinding, PixelBox } from '../../server/src/findings/findings';
import { iou, type Detection } from '../../server/src/inference/yolo';
import { analyzeImages } from '../../server/src/pipeline/analyze-images';
import { loadDicomFolder } from '../../server/src/pipeline/folder-source';

interface TruthSlice {
  sopInstanceUid: string;
  box: PixelBox;
}

type Task = 'grading' | 'localization';

const area = (b: PixelBox): number => (b[2] - b[0]) * (b[3] - b[1]);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { data: { type: 'string' }, model: { type: 'string' }, json: { type: 'string' } },
  });
  if (!values.data || !values.model) throw new Error('usage: diagnose.ts --data DIR --model DIR [--json FILE]');
  const config = loadConfig();
  const truths = new Map<string, Findings>();
  for (const entry of await readdir(values.data, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === 'ground-truth.json') {
      const truth = JSON.parse(await readFile(path.join(entry.parentPath, entry.name), 'utf8')) as Findings;
      truths.set(truth.studyInstanceUid, truth);
    }
  }
  const folder = await loadDicomFolder(values.data, { maxFileBytes: config.MAX_DICOM_FILE_BYTES });
  const detector = await createDetectorSession(values.model, undefined, {
    executionProvider: config.INFERENCE_EP,
    batchSize: config.INFERENCE_BATCH,
  });
  const records: Record<string, unknown>[] = [];
  for (const study of folder.studies) {
    const truth = truths.get(study.studyInstanceUid);
    if (!truth) continue;
    // Record the frame order the pipeline asks for and the detections it gets back, in that order.
    let order: string[] = [];
    let perImage: Detection[][] = [];
    const source = Object.create(study.source) as typeof study.source;
    source.retrieveFrames = async (...args: Parameters<typeof study.source.retrieveFrames>) => {
      if (args[3] === undefined) order = args[2].map((f) => f.sopInstanceUid);
      return study.source.retrieveFrames(...args);
    };
    const session = Object.create(detector) as typeof detector;
    session.detect = async (...args: Parameters<typeof detector.detect>) => {
      perImage = await detector.detect(...args);
      return perImage;
    };
    const { findings } = await analyzeImages(source, study.studyInstanceUid, session);
    const bySlice = new Map(order.map((uid, i) => [uid, perImage[i] ?? []]));
    for (const t of truth.levels) {
      const p = findings.levels.find((level) => level.level === t.level);
      const slices = (t as LevelFinding & { herniationSlices?: TruthSlice[] }).herniationSlices ?? [];
      const stack = (t as LevelFinding & { sopInstanceUids?: string[] }).sopInstanceUids ?? [];
      records.push({
        study: study.studyInstanceUid,
        level: t.level,
        truth: t.herniation
          ? { grade: t.grade, zone: t.zone, key: t.keySlice.sopInstanceUid, box: t.box, slices }
          : null,
        predicted: p?.herniation
          ? { grade: p.grade, zone: p.zone, key: p.keySlice.sopInstanceUid, box: p.box, score: p.confidence }
          : null,
        stack: stack.map((uid) => ({
          uid,
          detections: (bySlice.get(uid) ?? []).map((d) => ({
            box: d.box,
            score: d.score,
            classIndex: d.classIndex,
            classScores: d.classScores,
          })),
        })),
      });
    }
  }
  await detector.release?.();
  if (values.json) await writeFile(values.json, JSON.stringify(records));
  summarize(records as unknown as LevelRecord[]);
}

interface TruthRecord {
  grade: number;
  zone: string;
  key: string;
  box: PixelBox;
  slices: TruthSlice[];
}

interface LevelRecord {
  truth: TruthRecord | null;
  predicted: { grade: number; zone: string; key: string; box: PixelBox; score: number } | null;
  stack: { uid: string; detections: { box: PixelBox; score: number; classIndex: number }[] }[];
}

function summarize(records: LevelRecord[]): void {
  const herniated = records.flatMap((r) => (r.truth ? [{ ...r, truth: r.truth }] : []));
  console.log(`${records.length} levels, ${herniated.length} with a herniation`);
  for (const task of ['grading', 'localization'] as Task[]) {
    const outcomes = new Map<string, number>();
    const bump = (key: string): void => void outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    for (const r of herniated) {
      const t = r.truth;
      const tl = task === 'grading' ? String(t.grade) : t.zone;
      if (!r.predicted) {
        bump('missed (called normal)');
        continue;
      }
      const p = r.predicted;
      const pl = task === 'grading' ? String(p.grade) : p.zone;
      const onSlice = t.slices.find((s) => s.sopInstanceUid === p.key);
      if (pl !== tl)
        bump(onSlice && iou(onSlice.box, p.box) >= 0.5 ? 'wrong label (box ok)' : 'wrong label (box also bad)');
      else if (!onSlice) bump('key slice has no truth box');
      else if (iou(onSlice.box, p.box) >= 0.5) bump('matched');
      else bump('IoU < 0.5');
    }
    console.log(`\n${task}:`);
    for (const [k, v] of [...outcomes].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(30)} ${v}`);
  }
  // Box quality regardless of label, on the predicted key slice.
  const ious: number[] = [];
  const ratios: number[] = [];
  const shifts: number[] = [];
  let loose = 0;
  let tight = 0;
  let offset = 0;
  let keyIsTruthKey = 0;
  let keyOnTruthSlice = 0;
  let oracle = 0;
  const edge: [number[], number[], number[], number[]] = [[], [], [], []];
  for (const r of herniated) {
    const t = r.truth;
    // Oracle: any detection on any truth slice with IoU ≥ 0.5 (label ignored).
    if (
      r.stack.some((s) => {
        const tb = t.slices.find((x) => x.sopInstanceUid === s.uid);
        return tb && s.detections.some((d) => d.score >= 0.25 && iou(d.box, tb.box) >= 0.5);
      })
    )
      oracle++;
    if (!r.predicted) continue;
    const p = r.predicted;
    if (p.key === t.key) keyIsTruthKey++;
    const onSlice = t.slices.find((s) => s.sopInstanceUid === p.key);
    if (!onSlice) continue;
    keyOnTruthSlice++;
    const v = iou(onSlice.box, p.box);
    const ratio = area(p.box) / area(onSlice.box);
    const tb = onSlice.box;
    const w = tb[2] - tb[0];
    const h = tb[3] - tb[1];
    const shift = Math.hypot(
      (p.box[0] + p.box[2] - tb[0] - tb[2]) / 2 / w,
      (p.box[1] + p.box[3] - tb[1] - tb[3]) / 2 / h,
    );
    edge.forEach((errors, k) => errors.push(((p.box[k] ?? 0) - (tb[k] ?? 0)) / (k % 2 === 0 ? w : h)));
    ious.push(v);
    ratios.push(ratio);
    shifts.push(shift);
    if (v < 0.5) {
      if (ratio > 1.5) loose++;
      else if (ratio < 0.67) tight++;
      else offset++;
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  console.log(
    `\nkey slice: predicted = truth key ${keyIsTruthKey}, on a slice with a truth box ${keyOnTruthSlice} of ${herniated.length}`,
  );
  console.log(
    `oracle (some detection ≥ 0.25 on some truth slice has IoU ≥ 0.5, any label): ${oracle}/${herniated.length}`,
  );
  console.log(
    `box on the predicted key slice (label ignored): IoU mean ${mean(ious).toFixed(3)} median ${median(ious).toFixed(3)}; ` +
      `area ratio median ${median(ratios).toFixed(2)}; centre shift median ${median(shifts).toFixed(2)} box sizes`,
  );
  console.log(`  IoU < 0.5: too loose (area > 1.5×) ${loose}, too tight (< 0.67×) ${tight}, offset ${offset}`);
  console.log(
    `  edge error / truth size (mean): x0 ${mean(edge[0]).toFixed(2)} y0 ${mean(edge[1]).toFixed(2)} x1 ${mean(edge[2]).toFixed(2)} y1 ${mean(edge[3]).toFixed(2)}`,
  );
  const sizes = herniated.map((r) => {
    const b = r.truth.box;
    return `${(b[2] - b[0]).toFixed(0)}x${(b[3] - b[1]).toFixed(0)}`;
  });
  console.log(`  truth key boxes (px, first 20): ${sizes.slice(0, 20).join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
