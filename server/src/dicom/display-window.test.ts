import { describe, expect, it } from 'vitest';
import type { DicomJson } from './dicom-json';
import { windowFromMetadata } from './display-window';

describe('windowFromMetadata', () => {
  it('when the image names several windows, then the first is the default', () => {
    const meta: DicomJson = {
      '00281050': { vr: 'DS', Value: [400, 40] },
      '00281051': { vr: 'DS', Value: ['800', '80'] },
    };
    expect(windowFromMetadata(meta)).toEqual({ center: 400, width: 800 });
  });

  it('when an enhanced image has a per-frame window, then that frame gets it', () => {
    const voi = (center: number, width: number): DicomJson => ({
      '00289132': {
        vr: 'SQ',
        Value: [{ '00281050': { vr: 'DS', Value: [center] }, '00281051': { vr: 'DS', Value: [width] } }],
      },
    });
    const meta: DicomJson = {
      '52009229': { vr: 'SQ', Value: [voi(100, 200)] },
      '52009230': { vr: 'SQ', Value: [voi(10, 20), {}] },
    };
    expect(windowFromMetadata(meta, 0)).toEqual({ center: 10, width: 20 });
    expect(windowFromMetadata(meta, 1)).toEqual({ center: 100, width: 200 });
  });

  it('when the image names no usable window, then there is none', () => {
    expect(windowFromMetadata({})).toBeUndefined();
    expect(
      windowFromMetadata({ '00281050': { vr: 'DS', Value: [10] }, '00281051': { vr: 'DS', Value: [0] } }),
    ).toBeUndefined();
  });
});
