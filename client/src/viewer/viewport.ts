/**
 * Rendering, part 2 (the viewport seam, docs/architecture.md §Viewer): where the image lies on the canvas. The image
 * is fitted to the canvas keeping its physical aspect (pixel spacing), then zoomed and panned. Pure math; canvas
 * coordinates are CSS pixels, image coordinates the findings' pixel coordinates (column, row; origin top-left).
 */
import type { PixelPoint } from '../../../server/src/findings/findings';

export interface ImageGeometry {
  columns: number;
  rows: number;
  /** mm between rows (the first value of Pixel Spacing (0028,0030)); 1 when unknown. */
  rowSpacing: number;
  /** mm between columns (the second value). */
  columnSpacing: number;
}

export interface CanvasSize {
  width: number;
  height: number;
}

/** What the user changed: zoom (1 = fitted) and pan (CSS pixels from the centred position). */
export interface ViewportState {
  zoom: number;
  panX: number;
  panY: number;
}

/** canvas = offset + image · scale, per axis. */
export interface ViewTransform {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

export const FITTED: ViewportState = { zoom: 1, panX: 0, panY: 0 };
export const MIN_ZOOM = 0.25;
export const MAX_ZOOM = 16;
/** One zoom step (button, key, wheel notch). */
export const ZOOM_STEP = 1.25;

function clampZoom(zoom: number): number {
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
}

/**
 * The image fitted into the canvas at zoom 1, centred, each pixel drawn `columnSpacing × rowSpacing` in proportion
 * (a 0.5 × 1 mm pixel is drawn twice as tall as wide), then zoomed about the canvas centre and panned.
 */
export function viewTransformOf(image: ImageGeometry, canvas: CanvasSize, state: ViewportState): ViewTransform {
  const rowSpacing = image.rowSpacing > 0 ? image.rowSpacing : 1;
  const columnSpacing = image.columnSpacing > 0 ? image.columnSpacing : 1;
  const widthMm = image.columns * columnSpacing;
  const heightMm = image.rows * rowSpacing;
  const fit = widthMm > 0 && heightMm > 0 ? Math.min(canvas.width / widthMm, canvas.height / heightMm) : 1;
  const scaleX = fit * columnSpacing * state.zoom;
  const scaleY = fit * rowSpacing * state.zoom;
  return {
    scaleX,
    scaleY,
    offsetX: (canvas.width - image.columns * scaleX) / 2 + state.panX,
    offsetY: (canvas.height - image.rows * scaleY) / 2 + state.panY,
  };
}

export function imageToCanvas(t: ViewTransform, [x, y]: PixelPoint): PixelPoint {
  return [t.offsetX + x * t.scaleX, t.offsetY + y * t.scaleY];
}

export function canvasToImage(t: ViewTransform, [x, y]: PixelPoint): PixelPoint {
  return [(x - t.offsetX) / t.scaleX, (y - t.offsetY) / t.scaleY];
}

/** Zoom by `factor` keeping the image point under `anchor` (a canvas point; default the canvas centre) in place. */
export function zoomAt(
  image: ImageGeometry,
  canvas: CanvasSize,
  state: ViewportState,
  factor: number,
  anchor: PixelPoint = [canvas.width / 2, canvas.height / 2],
): ViewportState {
  const zoom = clampZoom(state.zoom * factor);
  if (zoom === state.zoom) return state;
  const before = viewTransformOf(image, canvas, state);
  const fixed = canvasToImage(before, anchor);
  const unpanned = viewTransformOf(image, canvas, { zoom, panX: 0, panY: 0 });
  // anchor = offset' + fixed · scale'  ⇒  pan' = anchor − fixed · scale' − unpanned offset
  return {
    zoom,
    panX: anchor[0] - fixed[0] * unpanned.scaleX - unpanned.offsetX,
    panY: anchor[1] - fixed[1] * unpanned.scaleY - unpanned.offsetY,
  };
}

export function panBy(state: ViewportState, dx: number, dy: number): ViewportState {
  return { ...state, panX: state.panX + dx, panY: state.panY + dy };
}

/** Image geometry from the frame's size and `X-Pixel-Spacing` (`row,column` mm; 1 × 1 when unknown). */
export function imageGeometryOf(columns: number, rows: number, pixelSpacing?: [number, number]): ImageGeometry {
  return { columns, rows, rowSpacing: pixelSpacing?.[0] ?? 1, columnSpacing: pixelSpacing?.[1] ?? 1 };
}
