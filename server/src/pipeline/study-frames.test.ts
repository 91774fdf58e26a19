import { describe, expect, it } from 'vitest';
import { parseFrameParameter, parseUidParameter, percentileWindow } from './study-frames';

describe('frame request parameters', () => {
  it('when a UID is well-formed, then it is taken as is', () => {
    expect(parseUidParameter('series', '1.2.840.10008.5.1.4.1.1.4')).toBe('1.2.840.10008.5.1.4.1.1.4');
    expect(parseUidParameter('series', `1.${'2'.repeat(62)}`)).toHaveLength(64);
  });

  it('when a UID is malformed, too long, repeated or missing, then the error names the parameter', () => {
    for (const bad of ['1.2.a', '.1.2', '1..2', '1.2.', `1.${'2'.repeat(63)}`, ['1.2', '1.3'], undefined, '']) {
      expect(() => parseUidParameter('instance', bad)).toThrow(/^"instance" must be a DICOM UID/);
    }
  });

  it('when a frame number is not a positive integer, then the error names "frame"', () => {
    expect(parseFrameParameter('1')).toBe(1);
    expect(parseFrameParameter('250')).toBe(250);
    for (const bad of ['0', '-1', '1.5', '01', '1e3', 'x', '', undefined, ['1', '2'], '100001']) {
      expect(() => parseFrameParameter(bad)).toThrow(/^"frame" must be a positive integer/);
    }
  });
});

describe('percentileWindow', () => {
  it('when the image names no window, then the 1st to 99th percentile of its values is the window', () => {
    const pixels = Float32Array.from({ length: 1001 }, (_, i) => i);
    expect(percentileWindow(pixels)).toEqual({ center: 500, width: 980 });
  });

  it('when the image is flat, then the window is 1 wide around its value', () => {
    expect(percentileWindow(new Float32Array(16).fill(7))).toEqual({ center: 7, width: 1 });
  });
});
