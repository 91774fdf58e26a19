/**
 * Annotation state (the third seam, docs/architecture.md §Viewer): what the AI said about a level, as geometry in
 * key-slice pixel coordinates. The herniation box and the intra-facet line come from the findings; the MSU zone
 * boundaries follow from the line by docs/msu.md §Location zone (positions along the line run from the patient's
 * right medial facet edge, 0, to the left one, 1; A = (0.25, 0.75), B = (0, 0.25) and (0.75, 1), C = outside).
 * Pure functions; drawing is `draw-overlays.ts`.
 */
import type { LevelFinding, PixelBox, PixelPoint } from '../../../server/src/findings/findings';

export type IntraFacetLine = [PixelPoint, PixelPoint];

export interface Segment {
  from: PixelPoint;
  to: PixelPoint;
}

/**
 * A position along the intra-facet line where MSU zones meet: the medial facet edges (t = 0 and 1, B | C) and the
 * quarter points (t = 0.25 and 0.75, A | B); the midline (t = 0.5) is no zone boundary but splits left from right.
 */
export interface ZoneBoundary {
  t: number;
  kind: 'facet-edge' | 'quarter' | 'midline';
  point: PixelPoint;
  /** A short segment perpendicular to the line through `point`, reaching across the canal towards the disc. */
  tick: Segment;
}

export interface ZoneLabel {
  zone: 'A' | 'B' | 'C';
  t: number;
  at: PixelPoint;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The point at `t` along the line (0 = first end, 1 = second end; outside [0, 1] beyond the ends). */
export function pointAlong([a, b]: IntraFacetLine, t: number): PixelPoint {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
}

function lengthOf([a, b]: IntraFacetLine): number {
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}

/**
 * The unit normal of the line that points towards `toward` (the disc: the herniation box's centre), or, without
 * one, towards the top of the image (anterior on an axial slice displayed the usual way).
 */
export function anteriorNormalOf(line: IntraFacetLine, toward?: PixelPoint): PixelPoint {
  const [a, b] = line;
  const length = lengthOf(line);
  if (length === 0) return [0, -1];
  let normal: PixelPoint = [-(b[1] - a[1]) / length, (b[0] - a[0]) / length];
  const mid = pointAlong(line, 0.5);
  const direction: PixelPoint = toward ? [toward[0] - mid[0], toward[1] - mid[1]] : [0, -1];
  if (normal[0] * direction[0] + normal[1] * direction[1] < 0) normal = [-normal[0], -normal[1]];
  return normal;
}

export const ZONE_BOUNDARY_POSITIONS: readonly { t: number; kind: ZoneBoundary['kind'] }[] = [
  { t: 0, kind: 'facet-edge' },
  { t: 0.25, kind: 'quarter' },
  { t: 0.5, kind: 'midline' },
  { t: 0.75, kind: 'quarter' },
  { t: 1, kind: 'facet-edge' },
];

/**
 * The zone boundaries of a line, each with a tick across the canal: `tickLength` (default 0.4 × the line's length)
 * towards the disc and a fifth of that behind the line, so the tick crosses the line visibly.
 */
export function zoneBoundariesOf(
  line: IntraFacetLine,
  options: { toward?: PixelPoint; tickLength?: number } = {},
): ZoneBoundary[] {
  const normal = anteriorNormalOf(line, options.toward);
  const ahead = options.tickLength ?? 0.4 * lengthOf(line);
  const behind = ahead / 5;
  return ZONE_BOUNDARY_POSITIONS.map(({ t, kind }) => {
    const point = pointAlong(line, t);
    return {
      t,
      kind,
      point,
      tick: {
        from: [point[0] - normal[0] * behind, point[1] - normal[1] * behind],
        to: [point[0] + normal[0] * ahead, point[1] + normal[1] * ahead],
      },
    };
  });
}

/** Where each zone's letter goes: mid-zone along the line, `offset` (default 0.12 × length) behind it. */
export function zoneLabelsOf(
  line: IntraFacetLine,
  options: { toward?: PixelPoint; offset?: number } = {},
): ZoneLabel[] {
  const normal = anteriorNormalOf(line, options.toward);
  const offset = options.offset ?? 0.12 * lengthOf(line);
  const zones: { zone: ZoneLabel['zone']; t: number }[] = [
    { zone: 'C', t: -0.125 },
    { zone: 'B', t: 0.125 },
    { zone: 'A', t: 0.5 },
    { zone: 'B', t: 0.875 },
    { zone: 'C', t: 1.125 },
  ];
  return zones.map(({ zone, t }) => {
    const point = pointAlong(line, t);
    return { zone, t, at: [point[0] - normal[0] * offset, point[1] - normal[1] * offset] };
  });
}

/** The box as a rectangle with positive width and height, whichever corners it was given by. */
export function boxToRect([x0, y0, x1, y1]: PixelBox): Rect {
  return { x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) };
}

export function boxCentreOf(box: PixelBox): PixelPoint {
  return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
}

/** `2-AB · left`, or `no herniation`. */
export function findingLabelOf(finding: LevelFinding): string {
  return finding.herniation ? `${finding.grade}-${finding.zone} · ${finding.side}` : 'no herniation';
}

/** Everything the viewer can draw for a level; a part is absent when the finding does not give it. */
export interface LevelAnnotations {
  box?: Rect;
  intraFacetLine?: Segment;
  zoneBoundaries?: ZoneBoundary[];
  zoneLabels?: ZoneLabel[];
  label: { text: string; anchor: PixelPoint | undefined };
}

export function findingToAnnotations(finding: LevelFinding): LevelAnnotations {
  const box = finding.herniation ? finding.box : undefined;
  const line = finding.intraFacetLine;
  const toward = box ? boxCentreOf(box) : undefined;
  const rect = box ? boxToRect(box) : undefined;
  return {
    ...(rect ? { box: rect } : {}),
    ...(line
      ? {
          intraFacetLine: { from: line[0], to: line[1] },
          zoneBoundaries: zoneBoundariesOf(line, { toward }),
          zoneLabels: zoneLabelsOf(line, { toward }),
        }
      : {}),
    // Above the box when there is one, else above the line's midpoint; the viewer pins it to a corner otherwise.
    label: {
      text: findingLabelOf(finding),
      anchor: rect ? [rect.x, rect.y] : line ? pointAlong(line, 0.5) : undefined,
    },
  };
}
