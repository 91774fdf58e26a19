import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscLevel, HerniationSide, MsuZone, PixelBox, PixelPoint } from '../../server/src/inference/findings';
import { loadModelManifest, type ModelManifest } from '../../server/src/inference/manifest';
import { preprocessSlice } from '../../server/src/inference/preprocess';
import { readPart10 } from '../synthetic/dcmjs';
import { generatePhantomStudy, type GeneratedStudy, type PhantomHerniation } from '../synthetic/phantom';
import { ANCHOR_COUNT } from './phantom-detector';
import { buildTinyModel } from './tiny-model';

interface Detection {
  score: number;
  grade: number;
  zone: string;
  box: PixelBox;
  sliceIndex: number;
}

let dir: string;
let manifest: ModelManifest;
let session: ort.InferenceSession;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tiny-model-'));
  await buildTinyModel(dir);
  const loaded = await loadModelManifest(dir);
  manifest = loaded.manifest;
  session = await ort.InferenceSession.create(loaded.modelPath);
});

afterAll(async () => {
  await session.release();
  await rm(dir, { recursive: true, force: true });
});

function iou(a: PixelBox, b: PixelBox): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** All slices of a study through the model in one batch; returns the YOLOv8 output [N, 13, A]. */
async function runStudy(study: GeneratedStudy): Promise<Float32Array> {
  const size = manifest.input.shape[2];
  const batch = new Float32Array(study.instances.length * size * size);
  study.instances.forEach((instance, i) => {
    const frames = readPart10(instance.part10).PixelData as ArrayBuffer[];
    const pixels = new Uint16Array(frames[0] ?? new ArrayBuffer(0));
    batch.set(preprocessSlice({ width: size, height: size, pixels }, manifest).data, i * size * size);
  });
  const input = new ort.Tensor('float32', batch, [study.instances.length, 1, size, size]);
  const output = (await session.run({ [manifest.input.name]: input }))[manifest.output.name];
  if (!output) throw new Error('no output');
  expect(output.dims).toEqual([study.instances.length, 4 + 9, ANCHOR_COUNT]);
  return output.data as Float32Array;
}

/**
 * The best anchor over some slices, decoded multi-label: every class of that anchor above the confidence threshold
 * counts, and two adjacent zones together make AB / BC (how the manifest says to read this model).
 */
function topDetection(output: Float32Array, sliceIndices: number[]): Detection {
  const anchors = ANCHOR_COUNT;
  const channels = 4 + manifest.output.numClasses;
  let best = { score: -1, slice: 0, anchor: 0, cls: 0 };
  for (const slice of sliceIndices) {
    for (let cls = 0; cls < manifest.output.numClasses; cls++) {
      const base = (slice * channels + 4 + cls) * anchors;
      for (let anchor = 0; anchor < anchors; anchor++) {
        const score = output[base + anchor] ?? 0;
        if (score > best.score) best = { score, slice, anchor, cls };
      }
    }
  }
  const at = (channel: number): number => output[(best.slice * channels + channel) * anchors + best.anchor] ?? 0;
  const zones = manifest.classes
    .filter((c) => at(4 + c.index) >= manifest.thresholds.confidence)
    .map((c) => c.zone)
    .sort();
  const zone = zones.length === 2 ? (zones.join('') as MsuZone) : (manifest.classes[best.cls]?.zone ?? '?');
  const [cx, cy, w, h] = [at(0), at(1), at(2), at(3)];
  return {
    score: best.score,
    grade: manifest.classes[best.cls]?.grade ?? 0,
    zone,
    box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
    sliceIndex: best.slice,
  };
}

/** Patient left is image right with ImageOrientationPatient [1,0,0,0,1,0]; within 5 % of the line's middle = central. */
function sideOf(box: PixelBox, line: [PixelPoint, PixelPoint]): HerniationSide {
  const [[lx], [rx]] = line;
  const offset = ((box[0] + box[2]) / 2 - (lx + rx) / 2) / (rx - lx);
  return Math.abs(offset) <= 0.05 ? 'central' : offset > 0 ? 'left' : 'right';
}

const CASES: { seed: number; herniations?: Partial<Record<DiscLevel, PhantomHerniation>> }[] = [
  {
    seed: 1,
    herniations: { 'L4-L5': { grade: 1, zone: 'A', side: 'central' }, 'L5-S1': { grade: 2, zone: 'B', side: 'left' } },
  },
  {
    seed: 2,
    herniations: { 'L4-L5': { grade: 3, zone: 'AB', side: 'right' }, 'L3-L4': { grade: 2, zone: 'C', side: 'left' } },
  },
  {
    seed: 3,
    herniations: { 'L5-S1': { grade: 3, zone: 'BC', side: 'left' }, 'L2-L3': { grade: 1, zone: 'B', side: 'right' } },
  },
  {
    seed: 4,
    herniations: { 'L4-L5': { grade: 2, zone: 'A', side: 'left' }, 'L1-L2': { grade: 3, zone: 'C', side: 'right' } },
  },
  {
    seed: 5,
    herniations: { 'L5-S1': { grade: 1, zone: 'AB', side: 'left' }, 'L3-L4': { grade: 3, zone: 'A', side: 'central' } },
  },
  {
    seed: 6,
    herniations: { 'L4-L5': { grade: 2, zone: 'BC', side: 'right' }, 'L5-S1': { grade: 1, zone: 'C', side: 'left' } },
  },
  {
    seed: 7,
    herniations: { 'L2-L3': { grade: 3, zone: 'B', side: 'left' }, 'L4-L5': { grade: 1, zone: 'BC', side: 'right' } },
  },
  {
    seed: 8,
    herniations: { 'L5-S1': { grade: 2, zone: 'AB', side: 'right' }, 'L1-L2': { grade: 1, zone: 'A', side: 'right' } },
  },
  { seed: 9, herniations: { 'L4-L5': { grade: 2, zone: 'AB', side: 'central' } } },
  { seed: 10, herniations: {} },
  ...[21, 22, 23, 24, 25, 26].map((seed) => ({ seed })),
];

describe('tiny phantom detector', () => {
  it('when built twice into one folder, then the second build changes nothing', async () => {
    expect((await buildTinyModel(dir)).changed).toBe(false);
  });

  it('when run on seeded phantom studies, then each herniated level is found with its grade, zone and box, and normal levels stay below threshold', async () => {
    const threshold = manifest.thresholds.confidence;
    let herniated = 0;
    let normal = 0;
    let minIou = 1;
    let minHit = 1;
    let maxNormal = 0;
    for (const { seed, herniations } of CASES) {
      const study = generatePhantomStudy({ seed, patientId: `p${seed}`, ...(herniations ? { herniations } : {}) });
      const output = await runStudy(study);
      for (const truth of study.groundTruth.levels) {
        const key = study.instances.findIndex((i) => i.sopInstanceUid === truth.keySlice?.sopInstanceUid);
        const found = topDetection(output, [key - 1, key, key + 1]);
        const label = `seed ${seed} ${truth.level}`;
        if (!truth.herniation) {
          normal++;
          expect(found.score, label).toBeLessThan(threshold);
          maxNormal = Math.max(maxNormal, found.score);
          continue;
        }
        herniated++;
        expect(found.score, label).toBeGreaterThanOrEqual(threshold);
        expect({ grade: found.grade, zone: found.zone }, label).toEqual({ grade: truth.grade, zone: truth.zone });
        expect(found.sliceIndex, label).toBe(key);
        expect(iou(found.box, truth.box), label).toBeGreaterThan(0.3);
        // Side is not a model output: it follows from the box centre against the intra-facet line's midpoint.
        const line = truth.intraFacetLine;
        if (!line) throw new Error('no intra-facet line');
        expect(sideOf(found.box, line), label).toBe(truth.side);
        minIou = Math.min(minIou, iou(found.box, truth.box));
        minHit = Math.min(minHit, found.score);
      }
    }
    console.log(
      `tiny detector: ${herniated} herniated and ${normal} normal levels over ${CASES.length} studies, all correct; ` +
        `lowest hit score ${minHit.toFixed(3)}, highest normal-level score ${maxNormal.toFixed(3)}, lowest IoU ${minIou.toFixed(3)}`,
    );
    expect(herniated).toBeGreaterThanOrEqual(17);
  });
});
