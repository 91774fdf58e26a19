import { describe, expect, it } from 'vitest';
import { sideOfSpan } from './msu-side';

describe('sideOfSpan', () => {
  it('when the span is centred on the midline, then it is central', () => {
    expect(sideOfSpan(40, 60, 50, true)).toBe('central');
  });

  it('when one part is at least half the other, then it is still central', () => {
    expect(sideOfSpan(45, 60, 50, true)).toBe('central');
  });

  it('when the span starts at the midline and runs toward higher x (patient left), then it is left', () => {
    expect(sideOfSpan(50, 58, 50, true)).toBe('left');
  });

  it('when it crosses the midline only a little, then the side holding most of it wins', () => {
    expect(sideOfSpan(48, 70, 50, true)).toBe('left');
    expect(sideOfSpan(30, 52, 50, true)).toBe('right');
  });

  it('when the image is flipped (higher x = patient right), then the sides swap', () => {
    expect(sideOfSpan(55, 70, 50, false)).toBe('right');
  });
});
