/**
 * The image viewer of one disc level (docs/architecture.md §Viewer): the key slice first, then the level's axial
 * stack to scroll, window/level, zoom and pan, the AI's overlays on the key slice, and the sagittal image with the
 * current slice's line. Three seams, as in Cornerstone/OHIF: rendering (`render-frame.ts`, `viewport.ts`,
 * `image-layer.ts`), interaction (`viewer-tools.ts`), annotation state (`overlay-geometry.ts`, `draw-overlays.ts`).
 */
import {
  useCallback,
  useEffect,
  useId,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type KeyboardEvent,
  type PointerEvent,
} from 'react';
import type { LevelFinding, PixelPoint } from '../../../server/src/findings/findings';
import type { LevelStack, SagittalReference } from '../../../server/src/findings/viewer';
import type { ApiSession } from '../api';
import { errorToMessage } from '../error-message';
import { ALL_OVERLAYS, drawOverlays, OVERLAY_COLOURS, type OverlayVisibility } from './draw-overlays';
import { frameCacheFor } from './frame-cache';
import { ImageLayer, paintImage, prepareCanvas } from './image-layer';
import { findingLabelOf, findingToAnnotations } from './overlay-geometry';
import {
  dragSensitivityOf,
  dragWindow,
  valueRangeOf,
  windowPresetsOf,
  type ValueRange,
  type VoiWindow,
  type WindowPresetId,
} from './render-frame';
import { SagittalView } from './SagittalView';
import { useElementSize } from './use-element-size';
import { useModelInfo } from './use-viewer-data';
import type { DecodedFrame, FrameRef } from './viewer-api';
import {
  dragKindOf,
  dragToZoomFactor,
  KEY_BINDINGS,
  keyToCommand,
  moveSlice,
  wheelDeltaToPixels,
  wheelToSlices,
  wheelToZoomFactor,
  type DragKind,
  type SliceMove,
  type ToolMode,
  type ViewerCommand,
} from './viewer-tools';
import { FITTED, imageGeometryOf, panBy, viewTransformOf, zoomAt, ZOOM_STEP, type ViewportState } from './viewport';

export interface LevelViewerProps {
  /** The SMART session the API calls carry (`Authorization`, `X-FHIR-Server`). */
  session: ApiSession;
  /** The page the API lives beside (`window.location.href`). */
  baseUrl: string;
  /** The ImagingStudy's id (without `ImagingStudy/`). */
  imagingStudyId: string;
  /** The level to show: its key slice, box, intra-facet line and MSU class. */
  finding: LevelFinding;
  /** The level's axial stack from `/api/stacks`; until it comes, the key slice alone is shown. */
  stack: LevelStack | undefined;
  /** The sagittal image with a line per axial slice, when the study has one. */
  sagittal?: SagittalReference;
  /** The analyzed axial series (`Findings.seriesInstanceUid`). */
  seriesInstanceUid: string;
}

type WindowChoice = { kind: 'preset'; id: WindowPresetId } | { kind: 'custom'; window: VoiWindow };

const DEFAULT_WINDOW: WindowChoice = { kind: 'preset', id: 'default' };

interface Drag {
  pointerId: number;
  kind: DragKind;
  startX: number;
  startY: number;
  lastX: number;
  lastY: number;
  startWindow: VoiWindow;
  sensitivity: number;
}

const rangeOfFrame = new WeakMap<DecodedFrame, ValueRange>();
function valueRangeOfFrame(frame: DecodedFrame): ValueRange {
  let range = rangeOfFrame.get(frame);
  if (!range) {
    range = valueRangeOf(frame.pixels);
    rangeOfFrame.set(frame, range);
  }
  return range;
}

function sameSlice(a: { sopInstanceUid: string; frame: number }, b: { sopInstanceUid: string; frame: number }) {
  return a.sopInstanceUid === b.sopInstanceUid && a.frame === b.frame;
}

/** The slices to scroll and where the key slice is among them. */
function slicesOf(
  finding: LevelFinding,
  stack: LevelStack | undefined,
  seriesInstanceUid: string,
): { slices: FrameRef[]; keyIndex: number } {
  const stackSlices = (stack?.slices ?? []).map((slice) => ({
    seriesInstanceUid,
    sopInstanceUid: slice.sopInstanceUid,
    frame: slice.frame,
  }));
  const key = finding.keySlice;
  if (!key) return { slices: stackSlices, keyIndex: Math.floor((stackSlices.length - 1) / 2) };
  const keyIndex = stackSlices.findIndex((slice) => sameSlice(slice, key));
  if (keyIndex >= 0) return { slices: stackSlices, keyIndex };
  return { slices: [{ seriesInstanceUid, ...key }], keyIndex: 0 };
}

function formatValue(value: number): string {
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
}

function offsetText(offset: number): string {
  return offset === 0 ? 'key slice' : `key slice ${offset > 0 ? '+' : '−'}${Math.abs(offset)}`;
}

const OVERLAY_CONTROLS: { id: keyof OverlayVisibility; label: string; missing: string }[] = [
  { id: 'box', label: 'Herniation box', missing: 'no herniation box at this level' },
  { id: 'line', label: 'Intra-facet line', missing: 'the model gave no intra-facet line' },
  { id: 'zones', label: 'MSU zones (A/B/C)', missing: 'the zones need the intra-facet line' },
  { id: 'label', label: 'Grade, zone and side', missing: '' },
];

export function LevelViewer({
  session,
  baseUrl,
  imagingStudyId,
  finding,
  stack,
  sagittal,
  seriesInstanceUid,
}: LevelViewerProps) {
  const ids = useId();
  const cache = useMemo(() => frameCacheFor(session, baseUrl, imagingStudyId), [session, baseUrl, imagingStudyId]);
  const { slices, keyIndex } = useMemo(
    () => slicesOf(finding, stack, seriesInstanceUid),
    [finding, stack, seriesInstanceUid],
  );
  const count = slices.length;
  const keyRef = slices[keyIndex];

  // The slice shown is kept by reference, so that it stays put when the stack arrives after the key slice.
  const [currentRef, setCurrentRef] = useState<FrameRef | undefined>(undefined);
  const foundIndex = currentRef ? slices.findIndex((slice) => sameSlice(slice, currentRef)) : -1;
  const sliceIndex = foundIndex >= 0 ? foundIndex : keyIndex;
  const current = slices[sliceIndex];
  const isKeySlice = sliceIndex === keyIndex;

  const [windowChoice, setWindowChoice] = useState<WindowChoice>(DEFAULT_WINDOW);
  const [viewport, setViewport] = useState<ViewportState>(FITTED);
  const [overlays, setOverlays] = useState<OverlayVisibility>(ALL_OVERLAYS);
  const [tool, setTool] = useState<ToolMode>('window');
  const [, setLoadedTick] = useState(0);
  const [error, setError] = useState<string | undefined>(undefined);
  const [announcement, setAnnouncement] = useState('');

  const stageRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const layer = useRef(new ImageLayer());
  const size = useElementSize(stageRef);
  const model = useModelInfo(session, baseUrl);

  const frame = current ? cache.get(current) : undefined;
  const keyFrame = keyRef ? cache.get(keyRef) : undefined;
  const cachedCount = slices.filter((slice) => cache.has(slice)).length;

  // The key slice first; the rest of the stack behind it, a few requests at once.
  useEffect(() => {
    if (!keyRef) return undefined;
    let live = true;
    const started = performance.now();
    const refresh = (): void => {
      if (live) setLoadedTick((tick) => tick + 1);
    };
    cache.load(keyRef).then(
      () => {
        refresh();
        const rest = slices.filter((slice) => !sameSlice(slice, keyRef));
        void Promise.all(rest.map((slice) => cache.prefetch([slice]).then(refresh))).then(() => {
          if (live) performance.measure('ldh-viewer:stack-cached', { start: started });
        });
      },
      (reason: unknown) => {
        if (live) setError(errorToMessage(reason, 'load the key slice'));
      },
    );
    return () => {
      live = false;
    };
  }, [cache, keyRef, slices]);

  // A slice the user scrolled to before the prefetch reached it: ahead of the queue.
  useEffect(() => {
    if (!current || cache.has(current)) return undefined;
    let live = true;
    cache.load(current).then(
      () => {
        if (live) setLoadedTick((tick) => tick + 1);
      },
      (reason: unknown) => {
        if (live) setError(errorToMessage(reason, 'load the slice'));
      },
    );
    return () => {
      live = false;
    };
  }, [cache, current]);

  const range = frame ? valueRangeOfFrame(frame) : undefined;
  const presets = useMemo(() => (frame && range ? windowPresetsOf(frame.window, range) : []), [frame, range]);
  const voi: VoiWindow | undefined =
    windowChoice.kind === 'custom'
      ? windowChoice.window
      : (presets.find((preset) => preset.id === windowChoice.id)?.window ?? frame?.window);

  const geometry = useMemo(
    () => (frame ? imageGeometryOf(frame.columns, frame.rows, frame.pixelSpacing) : undefined),
    [frame],
  );
  const annotations = useMemo(() => findingToAnnotations(finding), [finding]);
  const firstPaint = useRef(false);
  const available = (id: keyof OverlayVisibility): boolean => {
    if (id === 'box') return annotations.box !== undefined;
    if (id === 'line' || id === 'zones') return annotations.intraFacetLine !== undefined;
    return true;
  };

  // Rendering: the image through the window, placed by the viewport; the overlays on the key slice only. A layout
  // effect, so the canvas changes in the same frame as the slice label and never a frame late.
  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || !frame || !voi || !geometry || size.width === 0 || size.height === 0) return;
    const ctx = prepareCanvas(canvas, size);
    if (!ctx) return;
    const transform = viewTransformOf(geometry, size, viewport);
    paintImage(ctx, layer.current.update(frame, voi), transform);
    if (isKeySlice) drawOverlays(ctx, transform, annotations, overlays);
    canvas.dataset.renderedSlice = String(sliceIndex + 1);
    if (!firstPaint.current) {
      firstPaint.current = true;
      performance.mark('ldh-viewer:first-image');
    }
  }, [frame, voi, geometry, size, viewport, isKeySlice, annotations, overlays, sliceIndex]);

  const goTo = useCallback(
    (move: SliceMove) => {
      const next = slices[moveSlice(sliceIndex, count, keyIndex, move)];
      if (!next || next === current) return;
      setCurrentRef(next);
      const index = slices.indexOf(next);
      setAnnouncement(`Slice ${index + 1} of ${count}, ${offsetText(index - keyIndex)}.`);
    },
    [slices, sliceIndex, count, keyIndex, current],
  );

  const zoomBy = useCallback(
    (factor: number, anchor?: PixelPoint) => {
      if (!geometry) return;
      setViewport((state) => zoomAt(geometry, size, state, factor, anchor));
    },
    [geometry, size],
  );

  const reset = useCallback(() => {
    setWindowChoice(DEFAULT_WINDOW);
    setViewport(FITTED);
    setAnnouncement('Window and zoom reset.');
  }, []);

  const run = useCallback(
    (command: ViewerCommand) => {
      if (command.kind === 'slice') goTo(command.move);
      else if (command.kind === 'zoom') zoomBy(command.direction === 'in' ? ZOOM_STEP : 1 / ZOOM_STEP);
      else reset();
    },
    [goTo, zoomBy, reset],
  );

  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>): void => {
    const command = keyToCommand(event);
    if (!command) return;
    event.preventDefault();
    run(command);
  };

  // The wheel needs a non-passive listener to keep the page from scrolling (React's onWheel is passive); it calls
  // the latest handler through a ref.
  const wheelCarried = useRef(0);
  const onWheel = useRef<(event: WheelEvent) => void>(() => undefined);
  useLayoutEffect(() => {
    onWheel.current = (event: WheelEvent): void => {
      event.preventDefault();
      const pixels = wheelDeltaToPixels(event.deltaY, event.deltaMode, size.height);
      if (event.ctrlKey || event.metaKey) {
        const box = canvasRef.current?.getBoundingClientRect();
        zoomBy(wheelToZoomFactor(pixels), box ? [event.clientX - box.left, event.clientY - box.top] : undefined);
        return;
      }
      const { slices: steps, carried } = wheelToSlices(wheelCarried.current, pixels);
      wheelCarried.current = carried;
      if (steps !== 0) goTo(steps > 0 ? 'next' : 'previous');
    };
  });
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return undefined;
    const listener = (event: WheelEvent): void => {
      onWheel.current(event);
    };
    canvas.addEventListener('wheel', listener, { passive: false });
    return () => {
      canvas.removeEventListener('wheel', listener);
    };
  }, []);

  // Pointer gestures (mouse, pen, touch): one pointer drags by the tool; two touch pointers pinch-zoom and pan.
  const drag = useRef<Drag | undefined>(undefined);
  const touches = useRef(new Map<number, PixelPoint>());
  const pinch = useRef<{ distance: number; centre: PixelPoint } | undefined>(undefined);

  const localPoint = (event: PointerEvent<HTMLCanvasElement>): PixelPoint => {
    const box = event.currentTarget.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  };

  const pinchOf = (): { distance: number; centre: PixelPoint } | undefined => {
    const [a, b] = [...touches.current.values()];
    if (!a || !b) return undefined;
    return { distance: Math.hypot(b[0] - a[0], b[1] - a[1]), centre: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
  };

  const onPointerDown = (event: PointerEvent<HTMLCanvasElement>): void => {
    if (!frame || !voi || !range) return;
    event.currentTarget.focus();
    event.currentTarget.setPointerCapture(event.pointerId);
    if (event.pointerType === 'touch') {
      touches.current.set(event.pointerId, localPoint(event));
      if (touches.current.size === 2) {
        drag.current = undefined;
        pinch.current = pinchOf();
        return;
      }
    }
    const kind = dragKindOf(event, tool);
    if (!kind) return;
    event.preventDefault();
    drag.current = {
      pointerId: event.pointerId,
      kind,
      startX: event.clientX,
      startY: event.clientY,
      lastX: event.clientX,
      lastY: event.clientY,
      startWindow: voi,
      sensitivity: dragSensitivityOf(range),
    };
  };

  const onPointerMove = (event: PointerEvent<HTMLCanvasElement>): void => {
    if (event.pointerType === 'touch' && touches.current.has(event.pointerId)) {
      touches.current.set(event.pointerId, localPoint(event));
      const before = pinch.current;
      const now = pinchOf();
      if (before && now && before.distance > 0) {
        zoomBy(now.distance / before.distance, now.centre);
        setViewport((state) => panBy(state, now.centre[0] - before.centre[0], now.centre[1] - before.centre[1]));
        pinch.current = now;
        return;
      }
    }
    const active = drag.current;
    if (active?.pointerId !== event.pointerId) return;
    const dx = event.clientX - active.lastX;
    const dy = event.clientY - active.lastY;
    active.lastX = event.clientX;
    active.lastY = event.clientY;
    if (active.kind === 'window') {
      const next = dragWindow(
        active.startWindow,
        event.clientX - active.startX,
        event.clientY - active.startY,
        active.sensitivity,
      );
      setWindowChoice({ kind: 'custom', window: next });
    } else if (active.kind === 'pan') {
      setViewport((state) => panBy(state, dx, dy));
    } else {
      const box = event.currentTarget.getBoundingClientRect();
      zoomBy(dragToZoomFactor(dy), [active.startX - box.left, active.startY - box.top]);
    }
  };

  const onPointerEnd = (event: PointerEvent<HTMLCanvasElement>): void => {
    touches.current.delete(event.pointerId);
    if (touches.current.size < 2) pinch.current = undefined;
    if (drag.current?.pointerId === event.pointerId) drag.current = undefined;
  };

  const offset = sliceIndex - keyIndex;
  const label = findingLabelOf(finding);
  // "slice n of N" once the stack is known; until then the key slice is all there is to show.
  const positionText = count === 0 ? 'no slice' : stack ? `slice ${sliceIndex + 1} of ${count}` : 'the key slice';
  const shownOverlays = isKeySlice
    ? OVERLAY_CONTROLS.filter((control) => overlays[control.id] && available(control.id))
        .map((control) => control.label.toLowerCase())
        .join(', ')
    : '';
  const canvasLabel =
    `Axial T2 image of ${finding.level}, ${stack ? `${positionText}, ${offsetText(offset)}` : positionText}. ` +
    `AI finding: ${label}.` +
    (isKeySlice
      ? shownOverlays
        ? ` Overlays shown: ${shownOverlays}.`
        : ' No overlay shown.'
      : ' Overlays are drawn on the key slice only.');

  const presetValue = windowChoice.kind === 'preset' ? windowChoice.id : 'custom';
  const helpId = `${ids}-help`;
  const headingId = `${ids}-heading`;
  const modelText =
    model.state === 'loaded'
      ? `AI output of ${model.value.name}${model.value.name.includes(model.value.version) ? '' : ` ${model.value.version}`}`
      : 'AI output (preliminary)';

  return (
    <section className="level-viewer" aria-labelledby={headingId} data-testid="level-viewer" data-level={finding.level}>
      <header className="viewer-header">
        <h3 id={headingId} className="viewer-title">
          {finding.level} images
        </h3>
        <span
          className="viewer-model"
          data-testid="viewer-model"
          title={model.state === 'loaded' ? model.value.intendedUse : undefined}
        >
          {modelText}
          {model.state === 'loaded' && model.value.card ? (
            <>
              {' · '}
              <a href={new URL(model.value.card, baseUrl).toString()} target="_blank" rel="noopener noreferrer">
                model card
              </a>
            </>
          ) : null}
        </span>
      </header>
      {error ? (
        <div className="error-box" role="alert">
          <span className="error-message">{error}</span>
        </div>
      ) : null}
      <div className="viewer-body">
        <figure className="viewer-axial">
          <div className="viewer-stage" ref={stageRef}>
            <canvas
              ref={canvasRef}
              className={`viewer-canvas tool-${tool}`}
              role="img"
              tabIndex={0}
              aria-label={canvasLabel}
              aria-describedby={helpId}
              aria-keyshortcuts="ArrowUp ArrowDown PageUp PageDown Home End K + - R"
              data-testid="viewer-canvas"
              onKeyDown={onKeyDown}
              onPointerDown={onPointerDown}
              onPointerMove={onPointerMove}
              onPointerUp={onPointerEnd}
              onPointerCancel={onPointerEnd}
              onLostPointerCapture={onPointerEnd}
              onContextMenu={(event) => {
                event.preventDefault();
              }}
            />
            {!keyFrame && !error ? (
              <span className="viewer-loading" data-testid="viewer-loading">
                Loading the key slice…
              </span>
            ) : null}
            {count > 0 ? (
              <span
                className={`viewer-badge${isKeySlice ? ' viewer-badge-key' : ''}`}
                data-testid="key-slice-offset"
                title={
                  isKeySlice
                    ? 'The key slice: the AI finding is read on this slice.'
                    : 'The AI overlays belong to the key slice; press K to go back to it.'
                }
              >
                {offsetText(offset)}
              </span>
            ) : null}
          </div>
          <figcaption className="viewer-caption">
            <span data-testid="slice-label">{positionText}</span>
            <span data-testid="window-values">
              {voi ? `W ${formatValue(voi.width)} · C ${formatValue(voi.center)}` : 'W – · C –'}
            </span>
            <span data-testid="cache-status">
              {!stack
                ? 'key slice only (stack loading)'
                : cachedCount < count
                  ? `loading stack ${cachedCount}/${count}`
                  : `${count} ${count === 1 ? 'slice' : 'slices'} loaded`}
            </span>
          </figcaption>
        </figure>
        {sagittal ? (
          <SagittalView
            cache={cache}
            sagittal={sagittal}
            levelSlices={slices}
            current={current}
            sliceText={positionText}
            level={finding.level}
            ready={keyFrame !== undefined || error !== undefined}
          />
        ) : null}
      </div>
      <div className="viewer-controls">
        <div className="viewer-group" role="group" aria-label="Slice">
          <button
            type="button"
            onClick={() => {
              goTo('previous');
            }}
            disabled={sliceIndex <= 0}
          >
            Previous slice
          </button>
          <label className="viewer-slider">
            <span className="visually-hidden">Slice</span>
            <input
              type="range"
              min={1}
              max={Math.max(1, count)}
              value={Math.max(1, sliceIndex + 1)}
              disabled={count <= 1}
              aria-valuetext={`${positionText}, ${offsetText(offset)}`}
              onChange={(event) => {
                const next = slices[Number(event.target.value) - 1];
                if (next) setCurrentRef(next);
              }}
            />
          </label>
          <button
            type="button"
            onClick={() => {
              goTo('next');
            }}
            disabled={sliceIndex >= count - 1}
          >
            Next slice
          </button>
          <button
            type="button"
            onClick={() => {
              goTo('key');
            }}
            disabled={isKeySlice}
          >
            Key slice
          </button>
        </div>
        <div className="viewer-group" role="group" aria-label="Window and zoom">
          <label className="viewer-select">
            Window
            <select
              value={presetValue}
              data-testid="window-preset"
              onChange={(event) => {
                const id = event.target.value;
                const preset = presets.find((candidate) => candidate.id === id);
                if (preset) setWindowChoice({ kind: 'preset', id: preset.id });
              }}
            >
              {presets.map((preset) => (
                <option key={preset.id} value={preset.id} title={preset.description}>
                  {preset.label}
                </option>
              ))}
              {presetValue === 'custom' ? <option value="custom">Custom (dragged)</option> : null}
            </select>
          </label>
          <button
            type="button"
            aria-pressed={tool === 'window'}
            onClick={() => {
              setTool('window');
            }}
          >
            Window/level drag
          </button>
          <button
            type="button"
            aria-pressed={tool === 'pan'}
            onClick={() => {
              setTool('pan');
            }}
          >
            Pan drag
          </button>
          <button
            type="button"
            aria-label="Zoom out"
            onClick={() => {
              zoomBy(1 / ZOOM_STEP);
            }}
          >
            −
          </button>
          <span className="viewer-zoom" data-testid="zoom-value">
            {Math.round(viewport.zoom * 100)} %
          </span>
          <button
            type="button"
            aria-label="Zoom in"
            onClick={() => {
              zoomBy(ZOOM_STEP);
            }}
          >
            +
          </button>
          <button type="button" data-testid="viewer-reset" onClick={reset}>
            Reset
          </button>
        </div>
      </div>
      <fieldset className="viewer-overlays">
        <legend>AI overlays, drawn on the key slice only</legend>
        {OVERLAY_CONTROLS.map((control) => {
          const enabled = available(control.id);
          return (
            <label key={control.id} className={enabled ? undefined : 'viewer-unavailable'}>
              <input
                type="checkbox"
                data-testid={`overlay-${control.id}`}
                checked={enabled && overlays[control.id]}
                disabled={!enabled}
                onChange={(event) => {
                  const visible = event.target.checked;
                  setOverlays((state) => ({ ...state, [control.id]: visible }));
                }}
              />
              <span className="viewer-swatch" style={{ background: OVERLAY_COLOURS[control.id] }} aria-hidden="true" />
              {control.label}
              {control.id === 'label' ? <span className="viewer-label-text"> ({label})</span> : null}
              {enabled ? null : <span className="viewer-note"> — {control.missing}</span>}
            </label>
          );
        })}
        <p
          className="viewer-note"
          data-testid="disc-outline-note"
          title="The model finds the herniation's box and the facet edges; it does not trace the disc, so no outline is drawn."
        >
          Disc outline: not drawn — the model does not output it.
        </p>
      </fieldset>
      <p id={helpId} className="viewer-help">
        Keys on the image: {KEY_BINDINGS.map((binding) => `${binding.keys.join(' / ')} ${binding.does}`).join('; ')}.
        Wheel scrolls slices, Ctrl/⌘ + wheel zooms; drag sets the window (across: width, up and down: centre), Shift +
        drag pans.
      </p>
      <div className="visually-hidden" aria-live="polite" data-testid="viewer-announcement">
        {announcement}
      </div>
    </section>
  );
}
