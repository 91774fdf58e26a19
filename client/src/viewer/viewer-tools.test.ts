import { describe, expect, it } from 'vitest';
import {
  dragKindOf,
  dragToZoomFactor,
  keyToCommand,
  moveSlice,
  PAGE_STEP,
  wheelDeltaToPixels,
  wheelToSlices,
  wheelToZoomFactor,
} from './viewer-tools';

describe('keyboard', () => {
  it('binds the arrow, page, Home/End and K keys to slice moves', () => {
    expect(keyToCommand({ key: 'ArrowDown' })).toEqual({ kind: 'slice', move: 'next' });
    expect(keyToCommand({ key: 'ArrowUp' })).toEqual({ kind: 'slice', move: 'previous' });
    expect(keyToCommand({ key: 'PageDown' })).toEqual({ kind: 'slice', move: 'page-next' });
    expect(keyToCommand({ key: 'PageUp' })).toEqual({ kind: 'slice', move: 'page-previous' });
    expect(keyToCommand({ key: 'Home' })).toEqual({ kind: 'slice', move: 'first' });
    expect(keyToCommand({ key: 'End' })).toEqual({ kind: 'slice', move: 'last' });
    expect(keyToCommand({ key: 'k' })).toEqual({ kind: 'slice', move: 'key' });
    expect(keyToCommand({ key: 'K' })).toEqual({ kind: 'slice', move: 'key' });
  });

  it('binds + and − to zoom and R to reset; leaves browser shortcuts and other keys alone', () => {
    expect(keyToCommand({ key: '+' })).toEqual({ kind: 'zoom', direction: 'in' });
    expect(keyToCommand({ key: '=' })).toEqual({ kind: 'zoom', direction: 'in' });
    expect(keyToCommand({ key: '-' })).toEqual({ kind: 'zoom', direction: 'out' });
    expect(keyToCommand({ key: 'r' })).toEqual({ kind: 'reset' });
    expect(keyToCommand({ key: 'r', ctrlKey: true })).toBeUndefined();
    expect(keyToCommand({ key: '+', metaKey: true })).toBeUndefined();
    expect(keyToCommand({ key: 'Tab' })).toBeUndefined();
  });
});

describe('slice moves', () => {
  it('step, page and jump within the stack, never past its ends', () => {
    expect(moveSlice(2, 5, 3, 'next')).toBe(3);
    expect(moveSlice(4, 5, 3, 'next')).toBe(4);
    expect(moveSlice(0, 5, 3, 'previous')).toBe(0);
    expect(moveSlice(1, 20, 3, 'page-next')).toBe(1 + PAGE_STEP);
    expect(moveSlice(2, 20, 3, 'page-previous')).toBe(0);
    expect(moveSlice(2, 5, 3, 'first')).toBe(0);
    expect(moveSlice(2, 5, 3, 'last')).toBe(4);
    expect(moveSlice(0, 5, 3, 'key')).toBe(3);
    expect(moveSlice(0, 0, 0, 'next')).toBe(0);
  });
});

describe('wheel', () => {
  it('one mouse notch is one slice; small trackpad deltas add up', () => {
    expect(wheelToSlices(0, 100)).toEqual({ slices: 1, carried: 0 });
    expect(wheelToSlices(0, -120)).toEqual({ slices: -1, carried: 0 });
    const first = wheelToSlices(0, 20);
    expect(first).toEqual({ slices: 0, carried: 20 });
    const second = wheelToSlices(first.carried, 20);
    expect(second.slices).toBe(0);
    expect(wheelToSlices(second.carried, 15)).toEqual({ slices: 1, carried: 0 });
  });

  it('converts line and page deltas to pixels', () => {
    expect(wheelDeltaToPixels(3, 1)).toBe(48);
    expect(wheelDeltaToPixels(1, 2, 600)).toBe(600);
    expect(wheelDeltaToPixels(7, 0)).toBe(7);
  });

  it('Ctrl + wheel zooms in on wheel up and out on wheel down, within ×2 per event', () => {
    expect(wheelToZoomFactor(-100)).toBeGreaterThan(1);
    expect(wheelToZoomFactor(100)).toBeLessThan(1);
    expect(wheelToZoomFactor(-10_000)).toBe(2);
  });
});

describe('pointer drags', () => {
  const plain = { button: 0, shiftKey: false, ctrlKey: false, metaKey: false };
  it('the primary button does what the tool says; Shift or the middle button pans; Ctrl/⌘ zooms', () => {
    expect(dragKindOf(plain, 'window')).toBe('window');
    expect(dragKindOf(plain, 'pan')).toBe('pan');
    expect(dragKindOf({ ...plain, shiftKey: true }, 'window')).toBe('pan');
    expect(dragKindOf({ ...plain, button: 1 }, 'window')).toBe('pan');
    expect(dragKindOf({ ...plain, ctrlKey: true }, 'window')).toBe('zoom');
    expect(dragKindOf({ ...plain, metaKey: true }, 'window')).toBe('zoom');
    expect(dragKindOf({ ...plain, button: 2 }, 'window')).toBeUndefined();
  });

  it('a vertical zoom drag: up zooms in, 100 px doubles', () => {
    expect(dragToZoomFactor(-100)).toBe(2);
    expect(dragToZoomFactor(100)).toBe(0.5);
  });
});
