/**
 * Rendering, part 3: a decoded frame through a window, kept as a canvas at the image's own size so that scrolling,
 * zooming and panning only scale it (`drawImage`) and the window is applied again only when it or the frame changes.
 */
import { renderFrame, type VoiWindow } from './render-frame';
import type { DecodedFrame } from './viewer-api';
import type { CanvasSize, ViewTransform } from './viewport';

export class ImageLayer {
  private canvas: HTMLCanvasElement | undefined;
  private imageData: ImageData | undefined;
  private frame: DecodedFrame | undefined;
  private window: VoiWindow | undefined;

  /** The frame rendered through the window (re-rendered only when either changed). */
  update(frame: DecodedFrame, window: VoiWindow): HTMLCanvasElement {
    const canvas = (this.canvas ??= document.createElement('canvas'));
    const sameWindow = this.window?.center === window.center && this.window.width === window.width;
    if (this.frame === frame && sameWindow) return canvas;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('the browser gave no 2D canvas');
    if (canvas.width !== frame.columns || canvas.height !== frame.rows || !this.imageData) {
      canvas.width = frame.columns;
      canvas.height = frame.rows;
      this.imageData = ctx.createImageData(frame.columns, frame.rows);
    }
    renderFrame(frame.pixels, frame.columns, frame.rows, window, this.imageData);
    ctx.putImageData(this.imageData, 0, 0);
    this.frame = frame;
    this.window = window;
    return canvas;
  }
}

/**
 * Sizes `canvas`'s backing store for `size` CSS pixels at the device pixel ratio, clears it black and returns a
 * context that draws in CSS pixels.
 */
export function prepareCanvas(canvas: HTMLCanvasElement, size: CanvasSize): CanvasRenderingContext2D | undefined {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(size.width * ratio));
  const height = Math.max(1, Math.round(size.height * ratio));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return undefined;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

/** The rendered image at its place on the canvas (smoothed when magnified, as radiology viewers do). */
export function paintImage(ctx: CanvasRenderingContext2D, image: HTMLCanvasElement, t: ViewTransform): void {
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, t.offsetX, t.offsetY, image.width * t.scaleX, image.height * t.scaleY);
}
