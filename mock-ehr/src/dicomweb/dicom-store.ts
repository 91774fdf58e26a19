/**
 * The mock PACS: Part 10 instances kept in memory, indexed study → series → instance. Attributes come from the
 * parsed dataset (dcmjs), so QIDO and WADO answer exactly what the files contain.
 */
import { badRequest, notFound } from '../http/errors';
import { parsePart10, type DicomJsonDataset, type DicomJsonElement } from './dcmjs';

export const TAG = {
  TransferSyntaxUID: '00020010',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  ModalitiesInStudy: '00080061',
  Modality: '00080060',
  ReferringPhysicianName: '00080090',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  RetrieveURL: '00081190',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  BodyPartExamined: '00180015',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  SamplesPerPixel: '00280002',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  BitsAllocated: '00280100',
  PixelData: '7FE00010',
} as const;

export interface StoredInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  instanceNumber: number | undefined;
  part10: Uint8Array;
  dataset: DicomJsonDataset;
}

export interface StoredSeries {
  seriesInstanceUid: string;
  instances: Map<string, StoredInstance>;
}

export interface StoredStudy {
  studyInstanceUid: string;
  series: Map<string, StoredSeries>;
}

export class DicomStore {
  private readonly studies = new Map<string, StoredStudy>();

  /** Parses and stores one Part 10 instance; the same SOP Instance UID replaces the earlier copy. */
  add(part10: Uint8Array): StoredInstance {
    const { meta, dataset } = parsePart10(part10);
    const instance: StoredInstance = {
      studyInstanceUid: requireUid(dataset, TAG.StudyInstanceUID, 'StudyInstanceUID'),
      seriesInstanceUid: requireUid(dataset, TAG.SeriesInstanceUID, 'SeriesInstanceUID'),
      sopInstanceUid: requireUid(dataset, TAG.SOPInstanceUID, 'SOPInstanceUID'),
      sopClassUid: requireUid(dataset, TAG.SOPClassUID, 'SOPClassUID'),
      transferSyntaxUid: requireUid(meta, TAG.TransferSyntaxUID, 'TransferSyntaxUID (file meta)'),
      instanceNumber: firstNumber(dataset[TAG.InstanceNumber]),
      part10,
      dataset,
    };
    let study = this.studies.get(instance.studyInstanceUid);
    if (!study) {
      study = { studyInstanceUid: instance.studyInstanceUid, series: new Map() };
      this.studies.set(study.studyInstanceUid, study);
    }
    let series = study.series.get(instance.seriesInstanceUid);
    if (!series) {
      series = { seriesInstanceUid: instance.seriesInstanceUid, instances: new Map() };
      study.series.set(series.seriesInstanceUid, series);
    }
    series.instances.set(instance.sopInstanceUid, instance);
    return instance;
  }

  listStudies(): StoredStudy[] {
    return [...this.studies.values()];
  }

  getStudy(studyUid: string): StoredStudy {
    const study = this.studies.get(studyUid);
    if (!study) throw notFound(`Study ${studyUid} is not in this DICOMweb store`);
    return study;
  }

  getSeries(studyUid: string, seriesUid: string): StoredSeries {
    const series = this.getStudy(studyUid).series.get(seriesUid);
    if (!series) throw notFound(`Series ${seriesUid} is not in study ${studyUid}`);
    return series;
  }

  getInstance(studyUid: string, seriesUid: string, sopUid: string): StoredInstance {
    const instance = this.getSeries(studyUid, seriesUid).instances.get(sopUid);
    if (!instance) throw notFound(`Instance ${sopUid} is not in series ${seriesUid}`);
    return instance;
  }

  clear(): void {
    this.studies.clear();
  }
}

/** Instances of a series ordered by InstanceNumber (then UID), as viewers and the pipeline expect. */
export function sortedInstances(series: StoredSeries): StoredInstance[] {
  return [...series.instances.values()].sort(
    (a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0) || a.sopInstanceUid.localeCompare(b.sopInstanceUid),
  );
}

export function firstString(element: DicomJsonElement | undefined): string | undefined {
  const value = element?.Value?.[0];
  return typeof value === 'string' ? value : undefined;
}

export function firstNumber(element: DicomJsonElement | undefined): number | undefined {
  const value = element?.Value?.[0];
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function requireUid(dataset: DicomJsonDataset, tag: string, name: string): string {
  const value = firstString(dataset[tag]);
  if (!value) throw badRequest(`DICOM instance lacks ${name} (${tag})`);
  return value;
}
