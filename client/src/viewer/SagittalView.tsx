/**
 * The sagittal image the levels were located on, with a line where each axial slice of the level cuts it; the
 * current slice's line is highlighted and follows the scrolling. Fetched through the same frame cache, after the key
 * slice.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { DiscLevel } from '../../../server/src/findings/findings';
import type { SagittalReference, SliceLine } from '../../../server/src/findings/viewer';
import { errorToMessage } from '../error-message';
import type { FrameCache } from './frame-cache';
import { ImageLayer, paintImage, prepareCanvas } from './image-layer';
import { useElementSize } from './use-element-size';
import type { FrameRef } from './viewer-api';
import { FITTED, imageGeometryOf, imageToCanvas, viewTransformOf } from './viewport';

export interface SagittalViewProps {
  cache: FrameCache;
  sagittal: SagittalReference;
  /** The level's axial slices (their lines are drawn faint). */
  levelSlices: FrameRef[];
  /** The axial slice shown now (its line is highlighted). */
  current: FrameRef | undefined;
  /** `slice 2 of 5`, for the image's description. */
  sliceText: string;
  level: DiscLevel;
  /** Start loading (after the key slice, which comes first). */
  ready: boolean;
}

export const SLICE_LINE_COLOUR = '#ffd400';

function lineOf(lines: SliceLine[], ref: FrameRef | undefined): SliceLine | undefined {
  if (!ref) return undefined;
  return lines.find((line) => line.sopInstanceUid === ref.sopInstanceUid && line.frame === ref.frame);
}

export function SagittalView({ cache, sagittal, levelSlices, current, sliceText, level, ready }: SagittalViewProps) {
  const ref: FrameRef = useMemo(
    () => ({
      seriesInstanceUid: sagittal.seriesInstanceUid,
      sopInstanceUid: sagittal.sopInstanceUid,
      frame: sagittal.frame,
    }),
    [sagittal],
  );
  const [, setLoaded] = useState(0);
  const [error, setError] = useState<string | undefined>(undefined);
  const stageRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const layer = useRef(new ImageLayer());
  const size = useElementSize(stageRef);
  const frame = cache.get(ref);

  useEffect(() => {
    if (!ready || cache.has(ref)) return undefined;
    let live = true;
    cache.load(ref).then(
      () => {
        if (live) setLoaded((tick) => tick + 1);
      },
      (reason: unknown) => {
        if (live) setError(errorToMessage(reason, 'load the sagittal image'));
      },
    );
    return () => {
      live = false;
    };
  }, [cache, ref, ready]);

  const levelLines = useMemo(
    () => levelSlices.map((slice) => lineOf(sagittal.lines, slice)).filter((line) => line !== undefined),
    [levelSlices, sagittal.lines],
  );
  const currentLine = lineOf(sagittal.lines, current);

  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || !frame || size.width === 0 || size.height === 0) return;
    const ctx = prepareCanvas(canvas, size);
    if (!ctx) return;
    const t = viewTransformOf(imageGeometryOf(frame.columns, frame.rows, frame.pixelSpacing), size, FITTED);
    paintImage(ctx, layer.current.update(frame, frame.window), t);
    ctx.save();
    for (const line of levelLines) {
      const isCurrent = line === currentLine;
      const [a, b] = line.line.map((point) => imageToCanvas(t, point));
      if (!a || !b) continue;
      ctx.strokeStyle = isCurrent ? SLICE_LINE_COLOUR : 'rgba(255, 255, 255, 0.45)';
      ctx.lineWidth = isCurrent ? 2 : 1;
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    }
    ctx.restore();
    canvas.dataset.sliceLine = currentLine
      ? currentLine.line
          .flat()
          .map((v) => v.toFixed(1))
          .join(',')
      : '';
  }, [frame, size, levelLines, currentLine]);

  return (
    <figure className="viewer-sagittal" data-testid="sagittal-view">
      <div className="viewer-stage viewer-stage-sagittal" ref={stageRef}>
        <canvas
          ref={canvasRef}
          className="viewer-canvas"
          role="img"
          data-testid="sagittal-canvas"
          aria-label={
            currentLine
              ? `Sagittal T2 reference image; the highlighted line marks where axial ${sliceText} of ${level} cuts the spine.`
              : `Sagittal T2 reference image of the lumbar spine; the current axial slice of ${level} has no line on it.`
          }
        />
        {!frame && !error ? <span className="viewer-loading">Loading the sagittal image…</span> : null}
      </div>
      <figcaption className="viewer-caption">
        {error ? (
          <span role="alert">{error}</span>
        ) : (
          <span>Sagittal: the highlighted line is the axial slice shown</span>
        )}
      </figcaption>
    </figure>
  );
}
