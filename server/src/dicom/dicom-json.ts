/**
 * Typed access to the DICOM JSON model (PS3.18 §F.2) that WADO-RS metadata returns. Accessors name the tag
 * (keyword and number) when it is missing or malformed, so the user learns exactly what the study lacks.
 */

export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomJsonElement | undefined>;

export const TAGS = {
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  SeriesDate: '00080021',
  AcquisitionDate: '00080022',
  StudyTime: '00080030',
  SeriesTime: '00080031',
  AcquisitionTime: '00080032',
  AcquisitionDateTime: '0008002A',
  TimezoneOffsetFromUTC: '00080201',
  Modality: '00080060',
  PatientID: '00100020',
  IssuerOfPatientID: '00100021',
  SeriesDescription: '0008103E',
  ScanningSequence: '00180020',
  SequenceName: '00180024',
  RepetitionTime: '00180080',
  EchoTime: '00180081',
  InversionTime: '00180082',
  SOPClassUID: '00080016',
  NumberOfSeriesRelatedInstances: '00201209',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  FrameOfReferenceUID: '00200052',
  TransferSyntaxUID: '00020010',
  SamplesPerPixel: '00280002',
  PhotometricInterpretation: '00280004',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  BitsAllocated: '00280100',
  BitsStored: '00280101',
  PixelRepresentation: '00280103',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
} as const;
export type TagKeyword = keyof typeof TAGS;

export class DicomMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DicomMetadataError';
  }
}

const describe = (keyword: TagKeyword): string => `${keyword} (${TAGS[keyword].slice(0, 4)},${TAGS[keyword].slice(4)})`;

export function getValues(meta: DicomJson, keyword: TagKeyword): unknown[] {
  return meta[TAGS[keyword]]?.Value ?? [];
}

export function getString(meta: DicomJson, keyword: TagKeyword): string | undefined {
  const value = getValues(meta, keyword)[0];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

export function getNumber(meta: DicomJson, keyword: TagKeyword): number | undefined {
  const value = getValues(meta, keyword)[0];
  const number = typeof value === 'string' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) ? number : undefined;
}

export function requireString(meta: DicomJson, keyword: TagKeyword): string {
  const value = getString(meta, keyword);
  if (value === undefined || value === '') throw new DicomMetadataError(`DICOM metadata lacks ${describe(keyword)}`);
  return value;
}

export function requireNumber(meta: DicomJson, keyword: TagKeyword): number {
  const value = getNumber(meta, keyword);
  if (value === undefined) throw new DicomMetadataError(`DICOM metadata lacks a numeric ${describe(keyword)}`);
  return value;
}

export function requireNumbers(meta: DicomJson, keyword: TagKeyword, count: number): number[] {
  const values = getValues(meta, keyword).map((value) => (typeof value === 'string' ? Number(value) : value));
  if (
    values.length !== count ||
    !values.every((value): value is number => typeof value === 'number' && Number.isFinite(value))
  ) {
    throw new DicomMetadataError(
      `DICOM metadata ${describe(keyword)} must hold ${count} numbers, found ${JSON.stringify(getValues(meta, keyword))}`,
    );
  }
  return values;
}
