/**
 * Every code the DICOM SR uses, in one place, each with where it was checked. DICOM code meanings are the ones
 * PS3.16 gives (checked against pydicom's concept dictionary, generated from PS3.16, and highdicom's templates);
 * our own concepts live in the private coding scheme 99LDHCDS, declared in the SR header with its FHIR canonical
 * URL, so that a FHIR Coding and an SR code of ours are the same concept.
 */
import type { DiscLevel, HerniationSide, MsuGrade, MsuZone } from '../findings/findings';

/** A code sequence item's three parts (PS3.3 Table 8.8-1). */
export interface Code {
  value: string;
  scheme: string;
  meaning: string;
}

const code = (value: string, scheme: string, meaning: string): Code => ({ value, scheme, meaning });
const dcm = (value: string, meaning: string): Code => code(value, 'DCM', meaning);
const sct = (value: string, meaning: string): Code => code(value, 'SCT', meaning);

/** Private coding scheme (PS3.3 §8.2: private designators start with "99"), declared in the header. */
export const LOCAL_SCHEME = {
  designator: '99LDHCDS',
  name: 'ldh-cds codes for the MSU classification of lumbar disc herniation',
  responsibleOrganization: 'ldh-cds',
  /** The FHIR CodeSystem with the same codes (its canonical URL). */
  fhirCanonicalUrl: 'https://ldh-cds.org/fhir/CodeSystem/ldh-cds',
} as const;
const local = (value: string, meaning: string): Code => code(value, LOCAL_SCHEME.designator, meaning);

export const CODES = {
  // TID 1500 and the templates it includes (PS3.16; meanings as in highdicom's tid1500.py).
  imagingMeasurementReport: dcm('126000', 'Imaging Measurement Report'),
  imageLibrary: dcm('111028', 'Image Library'),
  imageLibraryGroup: dcm('126200', 'Image Library Group'),
  imagingMeasurements: dcm('126010', 'Imaging Measurements'),
  measurementGroup: dcm('125007', 'Measurement Group'),
  trackingIdentifier: dcm('112039', 'Tracking Identifier'),
  trackingUniqueIdentifier: dcm('112040', 'Tracking Unique Identifier'),
  finding: dcm('121071', 'Finding'),
  findingSite: sct('363698007', 'Finding Site'),
  imageRegion: dcm('111030', 'Image Region'),
  source: sct('260753009', 'Source'),
  procedureReported: dcm('121058', 'Procedure reported'),
  // TID 1002 / 1004 (highdicom's DeviceObserverIdentifyingAttributes).
  observerType: dcm('121005', 'Observer Type'),
  device: dcm('121007', 'Device'),
  deviceObserverName: dcm('121013', 'Device Observer Name'),
  deviceObserverManufacturer: dcm('121014', 'Device Observer Manufacturer'),
  // TID 4019.
  algorithmName: dcm('111001', 'Algorithm Name'),
  algorithmVersion: dcm('111003', 'Algorithm Version'),
  /** Units (PS3.16 CID 7181): UCUM "1", a dimensionless ratio. */
  unitless: code('1', 'UCUM', 'no units'),
} as const;

/**
 * Procedure reported (TID 1500 row 4, DCID 100, extensible): (25056-3, LN, "MRI unspecified body region") — the
 * MR entry of CID 100, as DCMTK's cid100.cc generated from PS3.16 lists it. A lumbar-spine code of its own (LOINC,
 * RadLex) is not in CID 100 and we could not verify one here, so we report the modality-level procedure.
 */
export const PROCEDURE_REPORTED = code('25056-3', 'LN', 'MRI unspecified body region');

/** SNOMED 202708005, the value of "Finding" for a herniated level (docs/fhir-mapping.md §Observation; the FHIR write-back uses it). */
export const HERNIATION_FINDING = sct('202708005', 'Displacement of lumbar intervertebral disc without myelopathy');
/** The value of "Finding" for a level assessed without herniation: an absent finding, never "disorder = no". */
export const NO_HERNIATION_FINDING = local('no-herniation', 'No lumbar disc herniation');

/** Finding site per level: PS3.16 CID 7604 (SNOMED), code meanings as pydicom's concept dictionary gives them. */
export const DISC_SITES: Record<DiscLevel, Code> = {
  'L1-L2': sct('80064006', 'L1/L2 disc'),
  'L2-L3': sct('67459009', 'L2/L3 disc'),
  'L3-L4': sct('62551000', 'L3/L4 disc'),
  'L4-L5': sct('84020006', 'L4/L5 disc'),
  'L5-S1': sct('715056000', 'L5/S1 disc'),
};

/**
 * Concept names of our qualitative evaluations and measurements. Codes and meanings are the FHIR CodeSystem's
 * (server/fhir-definitions/CodeSystem-ldh-cds.json), so one concept reads the same in both (`intra-facet-line` names
 * coordinates, which only the SR carries).
 */
export const LOCAL_CONCEPTS = {
  msuClass: local('msu-class', 'MSU classification'),
  msuGrade: local('msu-grade', 'MSU size grade'),
  msuZone: local('msu-zone', 'MSU location zone'),
  side: local('herniation-side', 'Side of herniation'),
  confidence: local('model-confidence', 'AI model confidence'),
  intraFacetLine: local('intra-facet-line', 'Intra-facet line'),
} as const;

export const gradeCode = (grade: MsuGrade): Code => local(`grade-${grade}`, `MSU grade ${grade}`);
export const zoneCode = (zone: MsuZone): Code => local(`zone-${zone}`, `MSU zone ${zone}`);
export const msuClassCode = (grade: MsuGrade, zone: MsuZone): Code => local(`${grade}-${zone}`, `MSU ${grade}-${zone}`);

/** Side: SNOMED laterality qualifiers (PS3.16 CID 244) where one exists, our code for central. */
export const SIDE_CODES: Record<HerniationSide, Code> = {
  left: sct('7771000', 'Left'),
  right: sct('24028007', 'Right'),
  central: local('central', 'Central'),
};
