/**
 * Enhanced MR Image Storage (PS3.3 A.36.2): the axial series as one multi-frame instance, with per-frame Plane
 * Position / Orientation and Frame Content (stack id = level, in-stack position), so a reader must take the geometry
 * from the functional groups rather than from top-level attributes (docs/architecture.md §DICOM and DICOMweb facts).
 */
import { readPart10, type NaturalDataset } from './dcmjs';
import { writePart10 } from './dicom-writer';
import { deterministicUid } from './prng';

export const ENHANCED_MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4.1';

const num = (value: unknown): number => Number(value);
const str = (value: unknown): string =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';

/**
 * @param part10s the single-frame axial instances, in series order
 * @param stackOf the stack (disc level) of each instance, e.g. 'L4-L5'
 */
export function axialSeriesToEnhancedMr(part10s: readonly Uint8Array[], stackOf: readonly string[]): Uint8Array {
  const frames = part10s.map((bytes) => readPart10(bytes));
  const first = frames[0];
  if (!first) throw new Error('an enhanced MR instance needs at least one frame');
  const rows = num(first.Rows);
  const columns = num(first.Columns);
  const pixels = new Uint8Array(rows * columns * 2 * frames.length);
  frames.forEach((frame, index) => {
    const data = (frame.PixelData as ArrayBuffer[] | undefined)?.[0];
    if (!data || data.byteLength !== rows * columns * 2)
      throw new Error(`frame ${index + 1} has no native 16-bit pixel data`);
    pixels.set(new Uint8Array(data), index * rows * columns * 2);
  });
  const stacks = [...new Set(stackOf)];
  const inStack = new Map<string, number>();
  const sopInstanceUid = enhancedMrUid(str(first.SeriesInstanceUID));
  const seriesInstanceUid = deterministicUid('enhanced-mr-series', str(first.SeriesInstanceUID));
  const dimensionOrganizationUid = deterministicUid('enhanced-mr-dimensions', str(first.SeriesInstanceUID));
  const code = (value: string, scheme: string, meaning: string): NaturalDataset => ({
    CodeValue: value,
    CodingSchemeDesignator: scheme,
    CodeMeaning: meaning,
  });

  const perFrame = frames.map((frame, index) => {
    const stack = stackOf[index] ?? '1';
    const position = (inStack.get(stack) ?? 0) + 1;
    inStack.set(stack, position);
    return {
      FrameContentSequence: [
        {
          FrameAcquisitionDateTime: `${str(frame.AcquisitionDate)}${str(frame.AcquisitionTime)}`,
          FrameReferenceDateTime: `${str(frame.AcquisitionDate)}${str(frame.AcquisitionTime)}`,
          FrameAcquisitionDuration: 180000,
          StackID: String(stacks.indexOf(stack) + 1),
          InStackPositionNumber: position,
          DimensionIndexValues: [stacks.indexOf(stack) + 1, position],
          FrameComments: stack,
        },
      ],
      PlanePositionSequence: [{ ImagePositionPatient: frame.ImagePositionPatient }],
      PlaneOrientationSequence: [{ ImageOrientationPatient: frame.ImageOrientationPatient }],
    };
  });

  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 100',
    ImageType: ['ORIGINAL', 'PRIMARY', 'STATIC', 'NONE'],
    InstanceCreationDate: first.InstanceCreationDate,
    InstanceCreationTime: first.InstanceCreationTime,
    SOPClassUID: ENHANCED_MR_IMAGE_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: first.StudyDate,
    SeriesDate: first.SeriesDate,
    ContentDate: first.ContentDate,
    AcquisitionDateTime: `${str(first.AcquisitionDate)}${str(first.AcquisitionTime)}`,
    StudyTime: first.StudyTime,
    SeriesTime: first.SeriesTime,
    ContentTime: first.ContentTime,
    AccessionNumber: first.AccessionNumber,
    Modality: 'MR',
    Manufacturer: first.Manufacturer,
    InstitutionName: first.InstitutionName,
    ReferringPhysicianName: '',
    StationName: first.StationName,
    StudyDescription: first.StudyDescription,
    SeriesDescription: `${str(first.SeriesDescription)} MF`,
    ManufacturerModelName: first.ManufacturerModelName,
    DeviceSerialNumber: 'SYNTH-0001',
    SoftwareVersions: first.SoftwareVersions,
    PatientName: first.PatientName,
    PatientID: first.PatientID,
    PatientBirthDate: first.PatientBirthDate,
    PatientSex: first.PatientSex,
    PatientAge: first.PatientAge,
    PatientWeight: first.PatientWeight,
    BodyPartExamined: 'LSPINE',
    ProtocolName: first.ProtocolName,
    PatientPosition: 'HFS',
    StudyInstanceUID: first.StudyInstanceUID,
    SeriesInstanceUID: seriesInstanceUid,
    StudyID: first.StudyID,
    SeriesNumber: num(first.SeriesNumber) + 100,
    InstanceNumber: 1,
    FrameOfReferenceUID: first.FrameOfReferenceUID,
    PositionReferenceIndicator: '',
    ImageComments: 'SYNTHETIC - NOT A PATIENT',
    // Image Pixel.
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: frames.length,
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: first.BitsStored,
    HighBit: first.HighBit,
    PixelRepresentation: 0,
    // Enhanced MR Image.
    PixelPresentation: 'MONOCHROME',
    VolumetricProperties: 'VOLUME',
    VolumeBasedCalculationTechnique: 'NONE',
    ComplexImageComponent: 'MAGNITUDE',
    AcquisitionContrast: 'T2',
    ContentQualification: 'PRODUCT',
    ResonantNucleus: '1H',
    KSpaceFiltering: 'NONE',
    MagneticFieldStrength: first.MagneticFieldStrength,
    ApplicableSafetyStandardAgency: 'IEC',
    BurnedInAnnotation: 'NO',
    LossyImageCompression: '00',
    PresentationLUTShape: 'IDENTITY',
    // MR Pulse Sequence.
    PulseSequenceName: 'TSE',
    MRAcquisitionType: '2D',
    EchoPulseSequence: 'SPIN',
    MultipleSpinEcho: 'YES',
    MultiPlanarExcitation: 'YES',
    PhaseContrast: 'NO',
    TimeOfFlightContrast: 'NO',
    SteadyStatePulseSequence: 'NONE',
    EchoPlanarPulseSequence: 'NO',
    SaturationRecovery: 'NO',
    SpectrallySelectedSuppression: 'NONE',
    OversamplingPhase: 'NONE',
    GeometryOfKSpaceTraversal: 'RECTILINEAR',
    RectilinearPhaseEncodeReordering: 'LINEAR',
    SegmentedKSpaceTraversal: 'PARTIAL',
    NumberOfKSpaceTrajectories: 1,
    AcquisitionDuration: 180,
    // Multi-frame Dimension: stack, then position in the stack.
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUid }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: 0x00209056,
        FunctionalGroupPointer: 0x00209111,
        DimensionDescriptionLabel: 'Stack ID',
      },
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: 0x00209057,
        FunctionalGroupPointer: 0x00209111,
        DimensionDescriptionLabel: 'In-Stack Position Number',
      },
    ],
    AcquisitionContextSequence: [],
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [
          {
            PixelSpacing: first.PixelSpacing,
            SliceThickness: first.SliceThickness,
            SpacingBetweenSlices: first.SpacingBetweenSlices,
          },
        ],
        FrameAnatomySequence: [
          {
            AnatomicRegionSequence: [code('122496007', 'SCT', 'Lumbar spine structure')],
            FrameLaterality: 'U',
          },
        ],
        PixelValueTransformationSequence: [{ RescaleIntercept: 0, RescaleSlope: 1, RescaleType: 'US' }],
        FrameVOILUTSequence: [{ WindowCenter: first.WindowCenter, WindowWidth: first.WindowWidth }],
        MRImageFrameTypeSequence: [
          {
            FrameType: ['ORIGINAL', 'PRIMARY', 'STATIC', 'NONE'],
            PixelPresentation: 'MONOCHROME',
            VolumetricProperties: 'VOLUME',
            VolumeBasedCalculationTechnique: 'NONE',
            ComplexImageComponent: 'MAGNITUDE',
            AcquisitionContrast: 'T2',
          },
        ],
        MRTimingAndRelatedParametersSequence: [
          {
            RepetitionTime: first.RepetitionTime,
            FlipAngle: first.FlipAngle,
            EchoTrainLength: first.EchoTrainLength,
            RFEchoTrainLength: first.EchoTrainLength,
            GradientEchoTrainLength: 0,
            SpecificAbsorptionRateSequence: [
              { SpecificAbsorptionRateDefinition: 'IEC_WHOLE_BODY', SpecificAbsorptionRateValue: 1.2 },
            ],
            GradientOutputType: 'DB_DT',
            GradientOutput: 20,
            OperatingModeSequence: [
              { OperatingModeType: 'STATIC FIELD', OperatingMode: 'IEC_NORMAL' },
              { OperatingModeType: 'RF', OperatingMode: 'IEC_NORMAL' },
              { OperatingModeType: 'GRADIENT', OperatingMode: 'IEC_NORMAL' },
            ],
          },
        ],
        MRFOVGeometrySequence: [
          {
            InPlanePhaseEncodingDirection: 'COLUMN',
            MRAcquisitionFrequencyEncodingSteps: columns,
            MRAcquisitionPhaseEncodingStepsInPlane: Math.round(rows * 0.8),
            PercentSampling: 80,
            PercentPhaseFieldOfView: 100,
          },
        ],
        MREchoSequence: [{ EffectiveEchoTime: first.EchoTime }],
        MRModifierSequence: [
          {
            InversionRecovery: 'NO',
            SpectrallySelectedExcitation: 'NONE',
            FlowCompensation: 'NONE',
            T2Preparation: 'NO',
            SpatialPresaturation: 'NONE',
            PartialFourier: 'NO',
            ParallelAcquisition: 'NO',
          },
        ],
        MRImagingModifierSequence: [
          {
            MagnetizationTransfer: 'NONE',
            BloodSignalNulling: 'NO',
            Tagging: 'NONE',
            TransmitterFrequency: first.ImagingFrequency,
            PixelBandwidth: first.PixelBandwidth,
          },
        ],
        MRReceiveCoilSequence: [
          {
            ReceiveCoilName: 'SPINE',
            ReceiveCoilManufacturerName: 'ldh-cds synthetic',
            ReceiveCoilType: 'MULTICOIL',
            QuadratureReceiveCoil: 'NO',
            MultiCoilDefinitionSequence: [{ MultiCoilElementName: 'SP1', MultiCoilElementUsed: 'YES' }],
          },
        ],
        MRTransmitCoilSequence: [
          { TransmitCoilName: 'BODY', TransmitCoilManufacturerName: 'ldh-cds synthetic', TransmitCoilType: 'BODY' },
        ],
        MRAveragesSequence: [{ NumberOfAverages: first.NumberOfAverages }],
      },
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: 'OW' },
  };
  return writePart10(dataset, ENHANCED_MR_IMAGE_STORAGE, sopInstanceUid);
}

/** The ground truth re-pointed at the multi-frame instance: frame n is the n-th single-frame instance. */
export function truthForEnhancedMr<T extends { levels: { keySlice?: { sopInstanceUid: string; frame: number } }[] }>(
  truth: T,
  singleFrameUids: readonly string[],
  enhancedUid: string,
): T {
  const frameOf = (uid: string): number => {
    const index = singleFrameUids.indexOf(uid);
    if (index < 0) throw new Error(`instance ${uid} is not part of the enhanced MR series`);
    return index + 1;
  };
  const copy = structuredClone(truth);
  for (const level of copy.levels as Record<string, unknown>[]) {
    const key = level.keySlice as { sopInstanceUid: string; frame: number } | undefined;
    if (key) level.keySlice = { sopInstanceUid: enhancedUid, frame: frameOf(key.sopInstanceUid) };
    const slices = level.herniationSlices as { sopInstanceUid: string; frame: number }[] | undefined;
    if (slices)
      level.herniationSlices = slices.map((slice) => ({
        ...slice,
        sopInstanceUid: enhancedUid,
        frame: frameOf(slice.sopInstanceUid),
      }));
    const uids = level.sopInstanceUids as string[] | undefined;
    if (uids) level.frames = uids.map(frameOf);
  }
  return copy;
}

/** The SOP Instance UID `axialSeriesToEnhancedMr` gives the multi-frame instance of a series. */
export function enhancedMrUid(seriesInstanceUid: string): string {
  return deterministicUid('enhanced-mr', seriesInstanceUid);
}
