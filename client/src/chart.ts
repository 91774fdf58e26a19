/**
 * Patient and ImagingStudy resources → what the panel shows. Pure functions over FHIR R4 types.
 */
import type { Bundle, HumanName, ImagingStudy, Patient } from 'fhir/r4';

export interface PatientSummary {
  name: string;
  gender: string;
  birthDate: string;
  mrn: string;
}

export interface StudySummary {
  id: string;
  date: string;
  description: string;
  modalities: string[];
  seriesCount: number;
  instanceCount: number;
}

const UNKNOWN = 'Unknown';

export function humanNameToText(name: HumanName | undefined): string {
  if (!name) return '';
  if (name.text?.trim()) return name.text.trim();
  const given = (name.given ?? []).join(' ');
  return [name.family, given].filter((part): part is string => Boolean(part?.trim())).join(', ');
}

function officialOrFirstName(names: HumanName[] | undefined): HumanName | undefined {
  return names?.find((name) => name.use === 'official') ?? names?.find((name) => name.use !== 'old') ?? names?.[0];
}

/** The medical record number: the identifier typed `MR` (HL7 v2-0203), else none — we never guess from other ids. */
export function patientMrn(patient: Patient): string | undefined {
  const mr = patient.identifier?.find((identifier) =>
    identifier.type?.coding?.some(
      (coding) => coding.code === 'MR' && (coding.system === undefined || coding.system.endsWith('v2-0203')),
    ),
  );
  return mr?.value;
}

function capitalize(text: string): string {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

export function patientToSummary(patient: Patient): PatientSummary {
  return {
    name: humanNameToText(officialOrFirstName(patient.name)) || UNKNOWN,
    gender: patient.gender ? capitalize(patient.gender) : UNKNOWN,
    birthDate: patient.birthDate ?? UNKNOWN,
    mrn: patientMrn(patient) ?? UNKNOWN,
  };
}

/** `2024-03-05T10:00:00Z` → `2024-03-05`; the date as recorded, no time-zone conversion. */
export function fhirDateToDisplay(dateTime: string | undefined): string {
  if (!dateTime) return 'Date unknown';
  const match = /^\d{4}(-\d{2}(-\d{2})?)?/.exec(dateTime);
  return match ? match[0] : dateTime;
}

export function studyModalities(study: ImagingStudy): string[] {
  const codes = [...(study.modality ?? []), ...(study.series ?? []).map((series) => series.modality)]
    .map((coding) => coding.code)
    .filter((code): code is string => Boolean(code));
  return [...new Set(codes)];
}

export function isMrStudy(study: ImagingStudy): boolean {
  return studyModalities(study).includes('MR');
}

export function imagingStudyToSummary(study: ImagingStudy): StudySummary {
  const series = study.series ?? [];
  const instancesInSeries = series.reduce(
    (sum, item) => sum + (item.numberOfInstances ?? item.instance?.length ?? 0),
    0,
  );
  return {
    id: study.id ?? '',
    date: fhirDateToDisplay(study.started),
    description:
      study.description?.trim() ||
      study.procedureCode?.[0]?.text?.trim() ||
      study.procedureCode?.[0]?.coding?.[0]?.display?.trim() ||
      'MR study',
    modalities: studyModalities(study),
    seriesCount: study.numberOfSeries ?? series.length,
    instanceCount: study.numberOfInstances ?? instancesInSeries,
  };
}

/** ImagingStudy resources of a search Bundle (or of fhirclient's flattened pages). */
export function bundleToImagingStudies(result: Bundle | Bundle[] | ImagingStudy[]): ImagingStudy[] {
  const items: (Bundle | ImagingStudy)[] = Array.isArray(result) ? result : [result];
  return items.flatMap((item) => {
    if (item.resourceType === 'ImagingStudy') return [item];
    return (item.entry ?? [])
      .map((entry) => entry.resource)
      .filter((resource): resource is ImagingStudy => resource?.resourceType === 'ImagingStudy');
  });
}

/** The MR studies that have an id, newest first (undated last). */
export function mrStudySummaries(studies: ImagingStudy[]): StudySummary[] {
  return studies
    .filter((study) => isMrStudy(study) && Boolean(study.id))
    .sort((a, b) => (b.started ?? '').localeCompare(a.started ?? ''))
    .map(imagingStudyToSummary);
}

/** `3 series · 45 images` */
export function studyCountsLabel(study: Pick<StudySummary, 'seriesCount' | 'instanceCount'>): string {
  const images = study.instanceCount === 1 ? 'image' : 'images';
  return `${study.seriesCount} series · ${study.instanceCount} ${images}`;
}
