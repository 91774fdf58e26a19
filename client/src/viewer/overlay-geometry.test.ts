import { describe, expect, it } from 'vitest';
import { aHerniation, aNormalLevel } from '../test-factories';
import {
  anteriorNormalOf,
  boxToRect,
  findingLabelOf,
  findingToAnnotations,
  zoneBoundariesOf,
  zoneLabelsOf,
  type IntraFacetLine,
} from './overlay-geometry';

// Patient-right end first (docs/msu.md §Intra-facet line); on a radiological display that is image left.
const line: IntraFacetLine = [
  [100, 200],
  [180, 200],
];

describe('MSU zone boundaries (docs/msu.md §Location zone)', () => {
  it('are the facet edges and the quarter points of the intra-facet line, with the midline between', () => {
    const boundaries = zoneBoundariesOf(line, { toward: [140, 150] });
    expect(boundaries.map((b) => [b.t, b.kind, b.point])).toEqual([
      [0, 'facet-edge', [100, 200]],
      [0.25, 'quarter', [120, 200]],
      [0.5, 'midline', [140, 200]],
      [0.75, 'quarter', [160, 200]],
      [1, 'facet-edge', [180, 200]],
    ]);
  });

  it('each tick is perpendicular to the line and reaches across the canal towards the disc', () => {
    const tilted: IntraFacetLine = [
      [100, 200],
      [160, 230],
    ];
    const direction = { x: 60, y: 30 };
    for (const boundary of zoneBoundariesOf(tilted, { toward: [120, 150], tickLength: 20 })) {
      const tick = { x: boundary.tick.to[0] - boundary.tick.from[0], y: boundary.tick.to[1] - boundary.tick.from[1] };
      expect(tick.x * direction.x + tick.y * direction.y).toBeCloseTo(0);
      expect(Math.hypot(tick.x, tick.y)).toBeCloseTo(24); // 20 ahead + 4 behind
      // "Ahead" is towards the disc (smaller y here).
      expect(boundary.tick.to[1]).toBeLessThan(boundary.point[1]);
    }
  });

  it('when the herniation lies below the line (a flipped image), then the ticks point down', () => {
    const normal = anteriorNormalOf(line, [140, 260]);
    expect(normal[0]).toBeCloseTo(0);
    expect(normal[1]).toBeCloseTo(1);
    // Without a herniation: towards the top of the image (anterior as axial slices are displayed).
    const up = anteriorNormalOf(line);
    expect(up[0]).toBeCloseTo(0);
    expect(up[1]).toBeCloseTo(-1);
  });

  it('labels C, B, A, B, C from the right facet to the left, each in the middle of its zone', () => {
    const labels = zoneLabelsOf(line, { offset: 0 });
    expect(labels.map((label) => [label.zone, label.at[0]])).toEqual([
      ['C', 90],
      ['B', 110],
      ['A', 140],
      ['B', 170],
      ['C', 190],
    ]);
  });
});

describe('annotations of a finding', () => {
  it('a herniation gives its box, line, zones and the label "2-AB · left"', () => {
    const finding = aHerniation({
      box: [150, 170, 130, 185],
      intraFacetLine: line,
    });
    const annotations = findingToAnnotations(finding);
    expect(annotations.box).toEqual({ x: 130, y: 170, width: 20, height: 15 });
    expect(annotations.intraFacetLine).toEqual({ from: [100, 200], to: [180, 200] });
    expect(annotations.zoneBoundaries).toHaveLength(5);
    expect(annotations.label).toEqual({ text: '2-AB · left', anchor: [130, 170] });
  });

  it('a level without herniation has no box and says so; without a line, no zones', () => {
    const annotations = findingToAnnotations(aNormalLevel());
    expect(annotations.box).toBeUndefined();
    expect(annotations.zoneBoundaries).toBeUndefined();
    expect(annotations.label.text).toBe('no herniation');
    expect(findingLabelOf(aHerniation({ grade: 3, zone: 'BC', side: 'right' }))).toBe('3-BC · right');
    expect(boxToRect([1, 2, 3, 4])).toEqual({ x: 1, y: 2, width: 2, height: 2 });
  });
});
