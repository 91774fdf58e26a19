/**
 * When a series was acquired, as a FHIR dateTime (R4 datatypes.html#dateTime), read from its instances' metadata:
 * Acquisition DateTime (DT), else Acquisition, Series or Study Date with the matching Time (DA + TM), the earliest
 * over the instances (PS3.3 C.7.6.1, C.7.3.1, C.7.2.1). DICOM dates carry no time zone unless Timezone Offset From UTC
 * (0008,0201) or an offset inside the DT says so (PS3.5 6.2); FHIR requires a zone whenever a time is given, so
 * without one the date alone is returned — a true statement at lower precision rather than a guessed zone.
 */
import { getString, type DicomJson, type TagKeyword } from './dicom-json';

interface Moment {
  /** YYYYMMDDHHMMSS(.ffffff) for ordering; the date part alone when there is no time. */
  sortKey: string;
  fhir: string;
}

const DICOM_DATE = /^(\d{4})(\d{2})(\d{2})$/;
const DICOM_TIME = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(\.\d{1,6})?)?)?$/;
const DICOM_DATETIME = /^(\d{8})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?([+-]\d{4})?$/;
const OFFSET = /^([+-])(\d{2})(\d{2})$/;

function fhirDate(date: string): string | undefined {
  const match = DICOM_DATE.exec(date);
  return match ? `${match[1] ?? ''}-${match[2] ?? ''}-${match[3] ?? ''}` : undefined;
}

function fhirOffset(offset: string | undefined): string | undefined {
  const match = offset ? OFFSET.exec(offset) : null;
  return match ? `${match[1] ?? ''}${match[2] ?? ''}:${match[3] ?? ''}` : undefined;
}

function moment(date: string, time: string | undefined, offset: string | undefined): Moment | undefined {
  const day = fhirDate(date);
  if (!day) return undefined;
  const clock = time ? DICOM_TIME.exec(time.trim()) : null;
  const zone = fhirOffset(offset);
  if (!clock || !zone) return { sortKey: date, fhir: day };
  const [, hh = '00', mm = '00', ss = '00', fraction = ''] = clock;
  return { sortKey: `${date}${hh}${mm}${ss}${fraction}`, fhir: `${day}T${hh}:${mm}:${ss}${fraction}${zone}` };
}

function instantOf(meta: DicomJson): Moment | undefined {
  const offset = getString(meta, 'TimezoneOffsetFromUTC');
  const dateTime = DICOM_DATETIME.exec(getString(meta, 'AcquisitionDateTime')?.trim() ?? '');
  if (dateTime) return moment(dateTime[1] ?? '', dateTime[2], dateTime[3] ?? offset);
  const pairs: [TagKeyword, TagKeyword][] = [
    ['AcquisitionDate', 'AcquisitionTime'],
    ['SeriesDate', 'SeriesTime'],
    ['StudyDate', 'StudyTime'],
  ];
  for (const [dateTag, timeTag] of pairs) {
    const date = getString(meta, dateTag);
    if (date) return moment(date.trim(), getString(meta, timeTag), offset);
  }
  return undefined;
}

/** The earliest acquisition moment of the instances, or undefined when none of them carries a date. */
export function acquisitionDateTimeOf(instances: readonly DicomJson[]): string | undefined {
  let earliest: Moment | undefined;
  for (const meta of instances) {
    const candidate = instantOf(meta);
    if (candidate && (!earliest || candidate.sortKey < earliest.sortKey)) earliest = candidate;
  }
  return earliest?.fhir;
}
