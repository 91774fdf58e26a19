/**
 * MR Image Storage objects for the realistic generator (PS3.3 A.4): any orientation and position, acquisition
 * parameters that vary with the field strength, 16-bit pixels. Shares the Part 10 writer with the phantom.
 */
import type { NaturalDataset } from './dcmjs';
import { MR_IMAGE_STORAGE, writePart10 } from './dicom-writer';

export interface MrAcquisitionHeader {
  fieldStrengthT: number;
  repetitionTimeMs: number;
  echoTimeMs: number;
  echoTrainLength: number;
  averages: number;
  pixelBandwidth: number;
  flipAngleDeg: number;
  /** 'COL' for axial (anterior–posterior phase encoding), 'ROW' for sagittal. */
  phaseEncodingDirection: 'ROW' | 'COL';
}

export interface MrSliceSpec {
  patient: { id: string; name: string; birthDate: string; sex: 'M' | 'F'; ageYears: number; weightKg: number };
  study: { instanceUid: string; date: string; time: string; description: string; accessionNumber: string; id: string };
  series: {
    instanceUid: string;
    number: number;
    description: string;
    protocolName: string;
    frameOfReferenceUid: string;
    seriesTime: string;
  };
  instance: { sopInstanceUid: string; number: number; contentTime: string };
  plane: {
    rows: number;
    columns: number;
    pixelSpacingMm: number;
    sliceThicknessMm: number;
    spacingBetweenSlicesMm: number;
    orientation: [number, number, number, number, number, number];
    position: [number, number, number];
    sliceLocation: number;
  };
  acquisition: MrAcquisitionHeader;
  window: { center: number; width: number };
  bitsStored: number;
}

/** DS values: at most 16 characters (PS3.5 6.2). */
const ds = (value: number): number => Number(value.toPrecision(10));

export function buildMrDataset(spec: MrSliceSpec, pixels: Uint16Array): NaturalDataset {
  const { patient, study, series, instance, plane, acquisition } = spec;
  const larmorMHz = 42.577478 * acquisition.fieldStrengthT;
  return {
    SpecificCharacterSet: 'ISO_IR 100',
    ImageType: ['ORIGINAL', 'PRIMARY', 'OTHER'],
    InstanceCreationDate: study.date,
    InstanceCreationTime: instance.contentTime,
    SOPClassUID: MR_IMAGE_STORAGE,
    SOPInstanceUID: instance.sopInstanceUid,
    StudyDate: study.date,
    SeriesDate: study.date,
    AcquisitionDate: study.date,
    ContentDate: study.date,
    StudyTime: study.time,
    SeriesTime: series.seriesTime,
    AcquisitionTime: instance.contentTime,
    ContentTime: instance.contentTime,
    AccessionNumber: study.accessionNumber,
    Modality: 'MR',
    Manufacturer: 'ldh-cds synthetic',
    InstitutionName: 'Synthetic Imaging Center',
    ReferringPhysicianName: '',
    StationName: 'SYNTH-MR',
    StudyDescription: study.description,
    SeriesDescription: series.description,
    ManufacturerModelName: `synthetic-mr-${acquisition.fieldStrengthT}T`,
    PatientName: patient.name,
    PatientID: patient.id,
    PatientBirthDate: patient.birthDate,
    PatientSex: patient.sex,
    PatientAge: `${String(Math.min(999, Math.max(0, Math.round(patient.ageYears)))).padStart(3, '0')}Y`,
    PatientWeight: patient.weightKg,
    BodyPartExamined: 'LSPINE',
    ScanningSequence: 'SE',
    SequenceVariant: ['SK', 'OSP'],
    ScanOptions: 'PFP',
    MRAcquisitionType: '2D',
    SequenceName: '*tse2d1_' + String(acquisition.echoTrainLength),
    SliceThickness: ds(plane.sliceThicknessMm),
    RepetitionTime: ds(acquisition.repetitionTimeMs),
    EchoTime: ds(acquisition.echoTimeMs),
    NumberOfAverages: acquisition.averages,
    ImagingFrequency: ds(larmorMHz),
    ImagedNucleus: '1H',
    EchoNumbers: 1,
    MagneticFieldStrength: acquisition.fieldStrengthT,
    SpacingBetweenSlices: ds(plane.spacingBetweenSlicesMm),
    EchoTrainLength: acquisition.echoTrainLength,
    PercentSampling: 80,
    PercentPhaseFieldOfView: 100,
    PixelBandwidth: acquisition.pixelBandwidth,
    SoftwareVersions: 'ldh-cds-synth 1',
    ProtocolName: series.protocolName,
    ReceiveCoilName: 'SPINE',
    TransmitCoilName: 'BODY',
    AcquisitionMatrix:
      acquisition.phaseEncodingDirection === 'ROW'
        ? [0, Math.round(plane.columns * 0.8), plane.rows, 0]
        : [plane.columns, 0, 0, Math.round(plane.rows * 0.8)],
    InPlanePhaseEncodingDirection: acquisition.phaseEncodingDirection,
    FlipAngle: acquisition.flipAngleDeg,
    PatientPosition: 'HFS',
    StudyInstanceUID: study.instanceUid,
    SeriesInstanceUID: series.instanceUid,
    StudyID: study.id,
    SeriesNumber: series.number,
    AcquisitionNumber: 1,
    InstanceNumber: instance.number,
    ImagePositionPatient: plane.position.map(ds),
    ImageOrientationPatient: plane.orientation.map((value) => Number(value.toFixed(8))),
    FrameOfReferenceUID: series.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    SliceLocation: ds(plane.sliceLocation),
    ImageComments: 'SYNTHETIC - NOT A PATIENT',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: plane.rows,
    Columns: plane.columns,
    PixelSpacing: [ds(plane.pixelSpacingMm), ds(plane.pixelSpacingMm)],
    BitsAllocated: 16,
    BitsStored: spec.bitsStored,
    HighBit: spec.bitsStored - 1,
    PixelRepresentation: 0,
    WindowCenter: Math.round(spec.window.center),
    WindowWidth: Math.round(spec.window.width),
    PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength)],
    _vrMap: { PixelData: 'OW' },
  };
}

export function mrSliceToPart10(spec: MrSliceSpec, pixels: Uint16Array): Uint8Array {
  return writePart10(buildMrDataset(spec, pixels), MR_IMAGE_STORAGE, spec.instance.sopInstanceUid);
}
