/**
 * Writes one phantom slice as a DICOM Part 10 MR Image Storage object, explicit VR little endian, with dcmjs.
 * Modules per PS3.3 A.4 (MR Image IOD): Patient, General Study, General Series, Frame of Reference, General
 * Equipment, General Image, Image Plane, Image Pixel, MR Image, SOP Common.
 */
import { dcmjs, type NaturalDataset } from './dcmjs';

export const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Our implementation's UID (2.25 root, fixed) and version name, as File Meta requires (PS3.10 §7.1). */
const IMPLEMENTATION_CLASS_UID = '2.25.211750302153346563316442347307735326473';
const IMPLEMENTATION_VERSION_NAME = 'LDHCDS_SYNTH_1';

export interface SliceHeader {
  patient: { id: string; name: string; birthDate: string; sex: 'M' | 'F' };
  study: { instanceUid: string; date: string; time: string; description: string; accessionNumber: string; id: string };
  series: { instanceUid: string; number: number; description: string; frameOfReferenceUid: string };
  instance: {
    sopInstanceUid: string;
    number: number;
    /** ImagePositionPatient: the centre of the first transmitted pixel, mm, LPS. */
    position: [number, number, number];
    sliceLocation: number;
  };
  image: { rows: number; columns: number; pixelSpacingMm: number; sliceThicknessMm: number };
}

export function sliceToPart10(header: SliceHeader, pixels: Uint16Array): Uint8Array {
  const { patient, study, series, instance, image } = header;
  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 100',
    ImageType: ['ORIGINAL', 'PRIMARY', 'M', 'ND'],
    InstanceCreationDate: study.date,
    InstanceCreationTime: study.time,
    SOPClassUID: MR_IMAGE_STORAGE,
    SOPInstanceUID: instance.sopInstanceUid,
    StudyDate: study.date,
    SeriesDate: study.date,
    ContentDate: study.date,
    StudyTime: study.time,
    SeriesTime: study.time,
    ContentTime: study.time,
    AccessionNumber: study.accessionNumber,
    Modality: 'MR',
    Manufacturer: 'ldh-cds synthetic phantom',
    ReferringPhysicianName: '',
    StudyDescription: study.description,
    SeriesDescription: series.description,
    ManufacturerModelName: 'phantom-1',
    PatientName: patient.name,
    PatientID: patient.id,
    PatientBirthDate: patient.birthDate,
    PatientSex: patient.sex,
    BodyPartExamined: 'LSPINE',
    ScanningSequence: 'SE',
    SequenceVariant: 'SK',
    ScanOptions: '',
    MRAcquisitionType: '2D',
    SliceThickness: image.sliceThicknessMm,
    RepetitionTime: 3500,
    EchoTime: 100,
    NumberOfAverages: 2,
    ImagingFrequency: 63.87,
    ImagedNucleus: '1H',
    EchoNumbers: 1,
    MagneticFieldStrength: 1.5,
    SpacingBetweenSlices: image.sliceThicknessMm,
    EchoTrainLength: 16,
    PatientPosition: 'HFS',
    StudyInstanceUID: study.instanceUid,
    SeriesInstanceUID: series.instanceUid,
    StudyID: study.id,
    SeriesNumber: series.number,
    AcquisitionNumber: 1,
    InstanceNumber: instance.number,
    ImagePositionPatient: instance.position,
    ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
    FrameOfReferenceUID: series.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    SliceLocation: instance.sliceLocation,
    ImageComments: 'SYNTHETIC PHANTOM - NOT A PATIENT',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: image.rows,
    Columns: image.columns,
    PixelSpacing: [image.pixelSpacingMm, image.pixelSpacingMm],
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    WindowCenter: 1800,
    WindowWidth: 3600,
    PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength)],
    // dcmjs cannot infer the VR of multi-VR elements: 16-bit native pixel data is OW (PS3.5 §8.2).
    _vrMap: { PixelData: 'OW' },
  };
  return writePart10(dataset, MR_IMAGE_STORAGE, instance.sopInstanceUid);
}

/** File Meta (PS3.10 §7.1) + dataset → explicit VR little endian Part 10 bytes. */
export function writePart10(dataset: NaturalDataset, sopClassUid: string, sopInstanceUid: string): Uint8Array {
  const meta: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}
