/**
 * What an SR copies from the study it reports on (PS3.3 A.35.13 Comprehensive 3D SR IOD): the Patient and General
 * Study modules, and the SOP Class of every image it references. `srSourceFromDicomJson` reads them from the
 * analyzed instances' metadata (WADO-RS `/metadata`, or a Part 10 file's data set read by dcmjs: both are the
 * DICOM JSON model of PS3.18 §F.2), so the SR repeats the source's values verbatim.
 */
import { StructuredReportError } from './structured-report-error';

export interface SrPatient {
  /** DICOM PN, 'Family^Given'; '' when unknown (Type 2). */
  name: string;
  id: string;
  issuerOfId?: string;
  /** YYYYMMDD or ''. */
  birthDate: string;
  /** M, F, O or ''. */
  sex: string;
}

export interface SrStudy {
  instanceUid: string;
  /** YYYYMMDD or ''. */
  date: string;
  /** HHMMSS[.ffffff] or ''. */
  time: string;
  id: string;
  accessionNumber: string;
  /** DICOM PN or ''. */
  referringPhysicianName: string;
}

export interface SrImage {
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  /** More than 1 for a multi-frame image: references to it then name the frame (PS3.3 C.18.3.1). */
  numberOfFrames?: number;
}

export interface SrSource {
  patient: SrPatient;
  study: SrStudy;
  /** The analyzed images: the SR's image library and evidence. Every key slice must be one of them. */
  images: SrImage[];
}

/** One instance's attributes in the DICOM JSON model: tag (8 hex digits) → { vr, Value }. */
export type DicomJsonAttributes = Record<string, { vr: string; Value?: unknown[] } | undefined>;

function text(attributes: DicomJsonAttributes, tag: string): string {
  const value = attributes[tag]?.Value?.[0];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  // PN in the JSON model: { Alphabetic: 'Family^Given' } (PS3.18 §F.2.2).
  if (value !== null && typeof value === 'object' && 'Alphabetic' in value && typeof value.Alphabetic === 'string')
    return value.Alphabetic;
  return '';
}

/**
 * The SR source of the given instances (one analyzed series, or several): patient and study from the first, one
 * image per instance. Throws when there is no instance or a required UID is missing, naming the attribute.
 */
export function srSourceFromDicomJson(instances: readonly DicomJsonAttributes[]): SrSource {
  const first = instances[0];
  if (!first) throw new StructuredReportError('an SR source needs at least one instance');
  const required = (attributes: DicomJsonAttributes, tag: string, keyword: string): string => {
    const value = text(attributes, tag);
    if (!value) throw new StructuredReportError(`an instance has no ${keyword} (${tag.slice(0, 4)},${tag.slice(4)})`);
    return value;
  };
  const issuerOfId = text(first, '00100021');
  return {
    patient: {
      name: text(first, '00100010'),
      id: text(first, '00100020'),
      ...(issuerOfId ? { issuerOfId } : {}),
      birthDate: text(first, '00100030'),
      sex: text(first, '00100040'),
    },
    study: {
      instanceUid: required(first, '0020000D', 'StudyInstanceUID'),
      date: text(first, '00080020'),
      time: text(first, '00080030'),
      id: text(first, '00200010'),
      accessionNumber: text(first, '00080050'),
      referringPhysicianName: text(first, '00080090'),
    },
    images: instances.map((attributes) => {
      const frames = Number(text(attributes, '00280008'));
      return {
        sopClassUid: required(attributes, '00080016', 'SOPClassUID'),
        sopInstanceUid: required(attributes, '00080018', 'SOPInstanceUID'),
        seriesInstanceUid: required(attributes, '0020000E', 'SeriesInstanceUID'),
        ...(frames > 1 ? { numberOfFrames: frames } : {}),
      };
    }),
  };
}
