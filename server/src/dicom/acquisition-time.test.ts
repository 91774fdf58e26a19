import { describe, expect, it } from 'vitest';
import { acquisitionDateTimeOf } from './acquisition-time';
import type { DicomJson } from './dicom-json';

const meta = (values: Record<string, string>): DicomJson =>
  Object.fromEntries(Object.entries(values).map(([tag, value]) => [tag, { vr: 'LO', Value: [value] }]));

describe('acquisitionDateTimeOf', () => {
  it('when the images name their time zone, then the earliest acquisition is a full FHIR dateTime', () => {
    const instances = [
      meta({ '00080022': '20261103', '00080032': '101512.5', '00080201': '+0100' }),
      meta({ '00080022': '20261103', '00080032': '101455', '00080201': '+0100' }),
    ];
    expect(acquisitionDateTimeOf(instances)).toBe('2026-11-03T10:14:55+01:00');
  });

  it('when Acquisition DateTime carries its own offset, then that offset is used', () => {
    expect(acquisitionDateTimeOf([meta({ '0008002A': '20261103081500-0500' })])).toBe('2026-11-03T08:15:00-05:00');
  });

  it('when no time zone is known, then only the date is given (FHIR needs a zone with a time)', () => {
    expect(acquisitionDateTimeOf([meta({ '00080021': '20261103', '00080031': '0915' })])).toBe('2026-11-03');
  });

  it('when only the study date is present, then it is used', () => {
    expect(acquisitionDateTimeOf([meta({ '00080020': '20240229' })])).toBe('2024-02-29');
  });

  it('when no instance has a date, then there is no acquisition time', () => {
    expect(acquisitionDateTimeOf([meta({ '00080060': 'MR' })])).toBeUndefined();
  });
});
