/**
 * Interaction (the tools seam, docs/architecture.md §Viewer): which key, wheel or pointer gesture does what. Pure
 * functions from events to commands, so the bindings are read and tested in one place; `LevelViewer` applies them.
 */

export type SliceMove = 'next' | 'previous' | 'page-next' | 'page-previous' | 'first' | 'last' | 'key';

export type ViewerCommand =
  { kind: 'slice'; move: SliceMove } | { kind: 'zoom'; direction: 'in' | 'out' } | { kind: 'reset' };

/** PageUp / PageDown move this many slices. */
export const PAGE_STEP = 5;

/** What the keys do, in the words the viewer's help line uses (also its `aria-keyshortcuts`). */
export const KEY_BINDINGS: readonly { keys: string[]; does: string }[] = [
  { keys: ['ArrowUp', 'ArrowDown'], does: 'previous / next slice' },
  { keys: ['PageUp', 'PageDown'], does: `${PAGE_STEP} slices back / on` },
  { keys: ['Home', 'End'], does: 'first / last slice' },
  { keys: ['K'], does: 'key slice' },
  { keys: ['+', '-'], does: 'zoom in / out' },
  { keys: ['R'], does: 'reset window and zoom' },
];

export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

/** The command of a key press on the image, or undefined (the browser keeps the key). */
export function keyToCommand(event: KeyLike): ViewerCommand | undefined {
  if (event.ctrlKey || event.metaKey || event.altKey) return undefined;
  switch (event.key) {
    case 'ArrowDown':
      return { kind: 'slice', move: 'next' };
    case 'ArrowUp':
      return { kind: 'slice', move: 'previous' };
    case 'PageDown':
      return { kind: 'slice', move: 'page-next' };
    case 'PageUp':
      return { kind: 'slice', move: 'page-previous' };
    case 'Home':
      return { kind: 'slice', move: 'first' };
    case 'End':
      return { kind: 'slice', move: 'last' };
    case 'k':
    case 'K':
      return { kind: 'slice', move: 'key' };
    case '+':
    case '=':
      return { kind: 'zoom', direction: 'in' };
    case '-':
    case '_':
      return { kind: 'zoom', direction: 'out' };
    case 'r':
    case 'R':
      return { kind: 'reset' };
    default:
      return undefined;
  }
}

/** The slice index after `move` in a stack of `count` (clamped, never wraps). */
export function moveSlice(current: number, count: number, keyIndex: number, move: SliceMove): number {
  if (count <= 0) return 0;
  const clamp = (index: number): number => Math.min(count - 1, Math.max(0, index));
  switch (move) {
    case 'next':
      return clamp(current + 1);
    case 'previous':
      return clamp(current - 1);
    case 'page-next':
      return clamp(current + PAGE_STEP);
    case 'page-previous':
      return clamp(current - PAGE_STEP);
    case 'first':
      return 0;
    case 'last':
      return count - 1;
    case 'key':
      return clamp(keyIndex);
  }
}

/** Pixels of wheel travel per slice: one mouse-wheel notch (≈100 px) is one slice, a trackpad adds up small deltas. */
export const WHEEL_PIXELS_PER_SLICE = 50;

/** `WheelEvent.deltaMode`: 0 pixels, 1 lines, 2 pages. */
export function wheelDeltaToPixels(deltaY: number, deltaMode: number, pageHeight = 800): number {
  if (deltaMode === 1) return deltaY * 16;
  if (deltaMode === 2) return deltaY * pageHeight;
  return deltaY;
}

/**
 * Wheel → slices: a notch moves one slice whatever its size; smaller deltas add up in `carried` until they make one.
 * Returns the slices to move (−1, 0 or +1; down = next) and what is carried to the next event.
 */
export function wheelToSlices(carried: number, deltaPixels: number): { slices: number; carried: number } {
  if (Math.abs(deltaPixels) >= WHEEL_PIXELS_PER_SLICE) return { slices: Math.sign(deltaPixels), carried: 0 };
  const total = carried + deltaPixels;
  if (Math.abs(total) >= WHEEL_PIXELS_PER_SLICE) return { slices: Math.sign(total), carried: 0 };
  return { slices: 0, carried: total };
}

/** Ctrl/⌘ + wheel (and a trackpad pinch, which browsers send as one) → a zoom factor; a notch ≈ one zoom step. */
export function wheelToZoomFactor(deltaPixels: number): number {
  return Math.min(2, Math.max(0.5, Math.exp(-deltaPixels / 400)));
}

export type DragKind = 'window' | 'pan' | 'zoom';
export type ToolMode = 'window' | 'pan';

export interface PointerLike {
  button: number;
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
}

/**
 * What a one-pointer drag does: the middle button or Shift pans, Ctrl/⌘ zooms (vertical), otherwise the selected
 * tool (window/level or pan; a touch user picks Pan with the button). Secondary button: nothing.
 */
export function dragKindOf(pointer: PointerLike, mode: ToolMode): DragKind | undefined {
  if (pointer.button === 1 || pointer.shiftKey) return 'pan';
  if (pointer.button !== 0) return undefined;
  if (pointer.ctrlKey || pointer.metaKey) return 'zoom';
  return mode;
}

/** A vertical zoom drag: up zooms in, 100 px ≈ ×2. */
export function dragToZoomFactor(dy: number): number {
  return Math.pow(2, -dy / 100);
}
