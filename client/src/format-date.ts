/**
 * Dates and times as the clinician reads them: in the user's locale and time zone (Intl), never an ISO string.
 * `locale` and `timeZone` are parameters so the tests pin them; the panel leaves them to the browser.
 */

export interface DateFormatOptions {
  /** BCP 47 tag; undefined = the browser's. */
  locale?: string;
  /** IANA zone; undefined = the browser's. */
  timeZone?: string;
}

function toDate(value: string): Date | undefined {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * A FHIR instant or dateTime with a time (`2026-03-05T10:04:00Z`) → `5 Mar 2026, 11:04` (en-GB, Europe/Berlin).
 * Something that is not a date is returned as it is rather than hidden.
 */
export function formatInstant(instant: string, options: DateFormatOptions = {}): string {
  const date = toDate(instant);
  if (!date) return instant;
  return new Intl.DateTimeFormat(options.locale, {
    dateStyle: 'medium',
    timeStyle: 'short',
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
  }).format(date);
}

/**
 * A FHIR date (`2026-03-05`, `2026-03`, `2026`) → the locale's date (`5 Mar 2026`), read as the calendar date it
 * names — no time-zone shift, so a date never moves to the day before west of Greenwich.
 */
export function formatFhirDate(value: string, options: Pick<DateFormatOptions, 'locale'> = {}): string {
  const match = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (!match) return formatInstant(value, options);
  const [, year, month, day] = match;
  const date = new Date(Date.UTC(Number(year), Number(month ?? '1') - 1, Number(day ?? '1')));
  return new Intl.DateTimeFormat(options.locale, {
    year: 'numeric',
    ...(month ? { month: 'short' } : {}),
    ...(day ? { day: 'numeric' } : {}),
    timeZone: 'UTC',
  }).format(date);
}
