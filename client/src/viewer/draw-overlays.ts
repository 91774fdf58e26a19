/**
 * Draws a level's annotations (overlay-geometry.ts) over the image on a 2D canvas, through the viewport transform.
 * Image coordinates in, canvas (CSS pixel) coordinates out; line widths stay the same at every zoom.
 */
import type { PixelPoint } from '../../../server/src/findings/findings';
import type { LevelAnnotations } from './overlay-geometry';
import { imageToCanvas, type ViewTransform } from './viewport';

export interface OverlayVisibility {
  box: boolean;
  line: boolean;
  zones: boolean;
  label: boolean;
}

export const ALL_OVERLAYS: OverlayVisibility = { box: true, line: true, zones: true, label: true };

/** Colours chosen to stay apart on a grey image and for the common colour-vision deficiencies (shown in the legend). */
export const OVERLAY_COLOURS = {
  box: '#ffd400',
  line: '#00d5ff',
  zones: '#ff8ad8',
  label: '#ffffff',
} as const;

type Context = Pick<
  CanvasRenderingContext2D,
  | 'save'
  | 'restore'
  | 'beginPath'
  | 'moveTo'
  | 'lineTo'
  | 'stroke'
  | 'strokeRect'
  | 'fillRect'
  | 'fillText'
  | 'strokeText'
  | 'measureText'
  | 'setLineDash'
  | 'arc'
  | 'fill'
> & {
  strokeStyle: CanvasRenderingContext2D['strokeStyle'];
  fillStyle: CanvasRenderingContext2D['fillStyle'];
  lineWidth: number;
  font: string;
  textAlign: CanvasTextAlign;
  textBaseline: CanvasTextBaseline;
  lineJoin: CanvasLineJoin;
};

function segment(ctx: Context, t: ViewTransform, from: PixelPoint, to: PixelPoint): void {
  const [x0, y0] = imageToCanvas(t, from);
  const [x1, y1] = imageToCanvas(t, to);
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

/** Text with a dark halo, readable on any grey. */
function haloText(ctx: Context, text: string, x: number, y: number, colour: string): void {
  ctx.lineJoin = 'round';
  ctx.lineWidth = 3;
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.85)';
  ctx.strokeText(text, x, y);
  ctx.fillStyle = colour;
  ctx.fillText(text, x, y);
}

export function drawOverlays(
  ctx: Context,
  t: ViewTransform,
  annotations: LevelAnnotations,
  visible: OverlayVisibility,
): void {
  ctx.save();
  if (visible.zones && annotations.zoneBoundaries) {
    ctx.strokeStyle = OVERLAY_COLOURS.zones;
    for (const boundary of annotations.zoneBoundaries) {
      ctx.lineWidth = boundary.kind === 'midline' ? 1 : 1.5;
      ctx.setLineDash(boundary.kind === 'midline' ? [3, 3] : []);
      segment(ctx, t, boundary.tick.from, boundary.tick.to);
    }
    ctx.setLineDash([]);
    ctx.font = 'bold 13px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (const label of annotations.zoneLabels ?? []) {
      const [x, y] = imageToCanvas(t, label.at);
      haloText(ctx, label.zone, x, y, OVERLAY_COLOURS.zones);
    }
  }
  if (visible.line && annotations.intraFacetLine) {
    const { from, to } = annotations.intraFacetLine;
    ctx.strokeStyle = OVERLAY_COLOURS.line;
    ctx.lineWidth = 2;
    segment(ctx, t, from, to);
    ctx.fillStyle = OVERLAY_COLOURS.line;
    for (const end of [from, to]) {
      const [x, y] = imageToCanvas(t, end);
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (visible.box && annotations.box) {
    const { x, y, width, height } = annotations.box;
    const [cx, cy] = imageToCanvas(t, [x, y]);
    ctx.strokeStyle = OVERLAY_COLOURS.box;
    ctx.lineWidth = 2;
    ctx.strokeRect(cx, cy, width * t.scaleX, height * t.scaleY);
  }
  if (visible.label) {
    const { text, anchor } = annotations.label;
    ctx.font = 'bold 14px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    const [x, y] = anchor ? imageToCanvas(t, anchor) : [8, 24];
    haloText(ctx, text, x, y - 4, OVERLAY_COLOURS.label);
  }
  ctx.restore();
}
