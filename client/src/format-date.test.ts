import { describe, expect, it } from 'vitest';
import { formatFhirDate, formatInstant } from './format-date';

describe('dates in the user’s locale', () => {
  it('when an instant is shown, then it is in the locale and time zone given, not ISO', () => {
    const text = formatInstant('2026-03-05T10:04:00Z', { locale: 'en-GB', timeZone: 'Europe/Berlin' });
    expect(text).toBe('5 Mar 2026, 11:04');
    expect(text).not.toMatch(/T\d|Z$/);
  });

  it('when the locale changes, then the order and words follow it', () => {
    expect(formatInstant('2026-03-05T10:04:00Z', { locale: 'en-US', timeZone: 'UTC' })).toBe('Mar 5, 2026, 10:04 AM');
    expect(formatInstant('2026-03-05T10:04:00Z', { locale: 'de-DE', timeZone: 'UTC' })).toBe('05.03.2026, 10:04');
  });

  it('when a FHIR date has no time, then it stays the calendar day it names, in any time zone', () => {
    expect(formatFhirDate('2026-03-05', { locale: 'en-GB' })).toBe('5 Mar 2026');
    expect(formatFhirDate('2026-03', { locale: 'en-GB' })).toBe('Mar 2026');
    expect(formatFhirDate('2026', { locale: 'en-GB' })).toBe('2026');
  });

  it('when the value is not a date, then it is shown as it is rather than as "Invalid Date"', () => {
    expect(formatInstant('soon')).toBe('soon');
    expect(formatFhirDate('unknown')).toBe('unknown');
  });
});
