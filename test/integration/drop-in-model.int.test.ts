/**
 * docs/architecture.md §The model contract: any model that meets the manifest can be dropped in without code changes.
 * A site's own YOLOv8 export is stood in for by a small ONNX graph built here in the plain 9-class layout
 * (grade × zone, no keypoints) with its own input size, tensor names and normalization; the app server is pointed
 * at it with MODEL_DIR and analyzes a study from the mock EHR through the real API.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { GraphBuilder } from '../../models/tiny/graph-builder';
import type { Findings } from '../../server/src/findings/findings';
import type { ModelManifestInput } from '../../server/src/inference/manifest';
import { startSandbox, type Sandbox } from '../support/sandbox';
import { launchAndAuthorize } from '../support/smart-launch';

const INPUT_SIZE = 320;
const ANCHORS = 4;
/** The one confident detection: class 4 = grade 2, zone B; box centre (200, 150), 40 × 20 in input pixels. */
const DETECTION = { classIndex: 4, cx: 200, cy: 150, w: 40, h: 20, score: 0.91 };

/**
 * output[n] = constant [13, ANCHORS] for every image n of the batch: ReduceMean(x)·0 broadcast onto the
 * constant keeps the dynamic batch dimension, as an exported detector has.
 */
function buildSiteModel(): Uint8Array {
  const graph = new GraphBuilder();
  const constant = new Float32Array(13 * ANCHORS).fill(0.01);
  const set = (channel: number, anchor: number, value: number): void => {
    constant[channel * ANCHORS + anchor] = value;
  };
  [DETECTION.cx, DETECTION.cy, DETECTION.w, DETECTION.h].forEach((value, channel) => {
    set(channel, 0, value);
  });
  set(4 + DETECTION.classIndex, 0, DETECTION.score);
  for (let anchor = 1; anchor < ANCHORS; anchor++)
    [10, 10, 4, 4].forEach((v, channel) => {
      set(channel, anchor, v);
    });
  const mean = graph.op('ReduceMean', ['input'], { axes: [1, 2, 3], keepdims: 1 });
  const zero = graph.op('Mul', [mean, graph.scalar(0)]);
  const broadcast = graph.op('Add', [zero, graph.floats('detections', [13, ANCHORS], constant)]);
  graph.op('Reshape', [broadcast, graph.ints([-1, 13, ANCHORS])], {}, 'output');
  return graph.toModel({
    inputs: [{ name: 'input', shape: ['batch', 1, INPUT_SIZE, INPUT_SIZE] }],
    outputs: [{ name: 'output', shape: ['batch', 13, ANCHORS] }],
    graphName: 'site-yolov8-stand-in',
    docString: 'test stand-in for a site YOLOv8 export',
    producerVersion: '1',
  });
}

const grades = [1, 2, 3] as const;
const zones = ['A', 'B', 'C'] as const;
const manifest: ModelManifestInput = {
  id: 'site-ldh-yolov8',
  version: '7.1.0',
  name: 'Site YOLOv8 export (test stand-in)',
  intendedUse: 'test only',
  file: 'detector.onnx',
  input: {
    name: 'input',
    shape: [-1, 1, INPUT_SIZE, INPUT_SIZE],
    dtype: 'float32',
    normalization: { method: 'percentile', lowPercentile: 0.5, highPercentile: 99.5 },
  },
  output: { name: 'output', layout: 'yolov8', numClasses: 9, numKeypoints: 0 },
  classes: grades.flatMap((grade, g) =>
    zones.map((zone, z) => ({ index: g * 3 + z, name: `${grade}-${zone}`, grade, zone })),
  ),
  thresholds: { confidence: 0.5, iou: 0.45 },
  trainingData: 'none (test)',
};

let dir: string;
let sandbox: Sandbox;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-drop-in-'));
  await writeFile(path.join(dir, 'detector.onnx'), buildSiteModel());
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  sandbox = await startSandbox({ patientCount: 1, appEnv: { MODEL_DIR: dir } });
});

afterAll(async () => {
  await sandbox.close();
  await rm(dir, { recursive: true, force: true });
});

describe('when MODEL_DIR points at a site model in the plain 9-class YOLOv8 layout', () => {
  it('then the unchanged pipeline runs it and maps its class and box back to the slice', async () => {
    const { ehr, app, appBaseUrl } = sandbox;
    const [patient] = ehr.seed.patients;
    if (!patient) throw new Error('no seeded patient');
    const token = await launchAndAuthorize({
      fhirBaseUrl: ehr.fhirBaseUrl,
      launch: ehr.createLaunch(patient.patientId),
      clientId: SMART_CLIENT_ID,
      redirectUri: `${appBaseUrl}/index.html`,
      scope: SMART_SCOPE,
    });
    const response = await fetch(`${app.url}/api/analyses`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token.access_token}`,
        'X-FHIR-Server': ehr.fhirBaseUrl,
        'Content-Type': 'application/json',
        // Answered when the analysis is done (RFC 7240), as before analyses became jobs.
        Prefer: 'wait=600',
      },
      body: JSON.stringify({ imagingStudy: `ImagingStudy/${patient.imagingStudyId}` }),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    const { findings } = (await response.json()) as { findings: Findings };
    expect(findings.model).toEqual({ id: 'site-ldh-yolov8', version: '7.1.0' });
    expect(findings.levels).toHaveLength(5);
    // The phantom slices are 256²: the model's 320² boxes scale by 256/320 = 0.8.
    const scale = 256 / INPUT_SIZE;
    for (const level of findings.levels) {
      expect(level).toMatchObject({ herniation: true, grade: 2, zone: 'B' });
      if (!level.herniation) continue;
      expect(level.confidence).toBeCloseTo(DETECTION.score, 5);
      const expected = [
        (DETECTION.cx - DETECTION.w / 2) * scale,
        (DETECTION.cy - DETECTION.h / 2) * scale,
        (DETECTION.cx + DETECTION.w / 2) * scale,
        (DETECTION.cy + DETECTION.h / 2) * scale,
      ];
      level.box.forEach((value, i) => {
        expect(value).toBeCloseTo(expected[i] ?? Number.NaN, 3);
      });
    }
  });
});
