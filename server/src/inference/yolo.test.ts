import { describe, expect, it } from 'vitest';
import { decodeYoloOutput, iou, nonMaxSuppression, scaleDetection, type Detection } from './yolo';

/** Builds a `[1, 4+nc, A]` tensor from per-anchor rows [cx, cy, w, h, ...scores]. */
function tensor(anchors: number[][]): { data: Float32Array; dims: number[] } {
  const channels = anchors[0]?.length ?? 0;
  const data = new Float32Array(channels * anchors.length);
  anchors.forEach((row, a) => {
    row.forEach((value, c) => {
      data[c * anchors.length + a] = value;
    });
  });
  return { data, dims: [1, channels, anchors.length] };
}

const det = (box: [number, number, number, number], score: number, classIndex = 0): Detection => ({
  box,
  score,
  classIndex,
  classScores: Array.from({ length: 9 }, (_, c) => (c === classIndex ? score : 0)),
  keypoints: [],
});

describe('decodeYoloOutput', () => {
  it('when anchors are laid out channel-major, then boxes are converted from cx,cy,w,h to corners with the best class', () => {
    const { data, dims } = tensor([
      [50, 40, 20, 10, 0.1, 0.9],
      [10, 10, 4, 4, 0.05, 0.02],
    ]);
    const [detections] = decodeYoloOutput(
      data,
      dims,
      { numClasses: 2, numKeypoints: 0 },
      { scoreThreshold: 0.25, iouThreshold: 0.5 },
    );
    expect(detections).toEqual([
      {
        box: [40, 35, 60, 45],
        score: expect.closeTo(0.9, 5) as number,
        classIndex: 1,
        classScores: [expect.closeTo(0.1, 5) as number, expect.closeTo(0.9, 5) as number],
        keypoints: [],
      },
    ]);
  });

  it('when two same-class boxes overlap, then NMS keeps the higher score; a different class survives', () => {
    const { data, dims } = tensor([
      [50, 50, 20, 20, 0.8, 0],
      [51, 50, 20, 20, 0.9, 0],
      [50, 50, 20, 20, 0, 0.7],
    ]);
    const [detections] = decodeYoloOutput(
      data,
      dims,
      { numClasses: 2, numKeypoints: 0 },
      { scoreThreshold: 0.25, iouThreshold: 0.5 },
    );
    expect(detections?.map((d) => [d.classIndex, Math.round(d.score * 10) / 10])).toEqual([
      [0, 0.9],
      [1, 0.7],
    ]);
  });

  it('when keypoints follow the class scores, then they are decoded as (x, y, visibility)', () => {
    const { data, dims } = tensor([[50, 50, 10, 10, 0.9, 30, 60, 1, 70, 60, 0.2]]);
    const [detections] = decodeYoloOutput(
      data,
      dims,
      { numClasses: 1, numKeypoints: 2 },
      { scoreThreshold: 0.25, iouThreshold: 0.5 },
    );
    expect(detections?.[0]?.keypoints).toEqual([
      { point: [30, 60], visibility: 1 },
      { point: [70, 60], visibility: expect.closeTo(0.2, 5) as number },
    ]);
  });

  it('when the batch has two images, then detections are split per image', () => {
    const data = new Float32Array(2 * 5 * 1);
    data.set([10, 10, 2, 2, 0.9], 0);
    data.set([20, 20, 2, 2, 0.1], 5);
    const result = decodeYoloOutput(
      data,
      [2, 5, 1],
      { numClasses: 1, numKeypoints: 0 },
      { scoreThreshold: 0.25, iouThreshold: 0.5 },
    );
    expect(result.map((r) => r.length)).toEqual([1, 0]);
  });

  it('when the channel count does not match the manifest, then it says what it expected', () => {
    expect(() =>
      decodeYoloOutput(
        new Float32Array(6),
        [1, 6, 1],
        { numClasses: 3, numKeypoints: 0 },
        { scoreThreshold: 0, iouThreshold: 0.5 },
      ),
    ).toThrow(/expected \[N, 7, A\]/);
  });
});

describe('nonMaxSuppression and iou', () => {
  it('computes IoU as intersection over union', () => {
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(50 / 150);
    expect(iou([0, 0, 1, 1], [2, 2, 3, 3])).toBe(0);
  });

  it('when boxes overlap below the threshold, then both are kept', () => {
    expect(nonMaxSuppression([det([0, 0, 10, 10], 0.9), det([8, 0, 18, 10], 0.8)], 0.5)).toHaveLength(2);
  });

  it('scales boxes and keypoints back to source pixels', () => {
    const scaled = scaleDetection(
      { ...det([10, 20, 30, 40], 0.5), keypoints: [{ point: [1, 2], visibility: 1 }] },
      2,
      0.5,
    );
    expect(scaled.box).toEqual([20, 10, 60, 20]);
    expect(scaled.keypoints[0]?.point).toEqual([2, 1]);
  });
});
