/**
 * Findings → one DICOM SR per analysis, as IHE AI Results (AIR) asks: a Comprehensive 3D SR (PS3.3 A.35.13) in the
 * source study, holding a TID 1500 Measurement Report with one measurement group per assessed disc level, each
 * with a tracking identifier and UID that FHIR can point at. AI output is marked as such: VerificationFlag
 * UNVERIFIED, PreliminaryFlag PRELIMINARY, a device observer, the algorithm named in every group.
 *
 * The tree, top-down (PS3.16 TID 1500 → 1204, 1001/1002/1004, 1600, 1410 or 1501, 4108, 4019):
 *
 *   CONTAINER Imaging Measurement Report (TID 1500)
 *     HAS CONCEPT MOD  Language of Content Item and Descendants = English (United States)
 *     HAS OBS CONTEXT  Observer Type = Device; Device Observer UID, Name (model id), Manufacturer, Model Name
 *     HAS CONCEPT MOD  Procedure reported = MRI unspecified body region
 *     CONTAINS CONTAINER Image Library → Image Library Group (one per series) → IMAGE Source, one per image
 *     CONTAINS CONTAINER Imaging Measurements
 *       CONTAINS CONTAINER Measurement Group, one per level: TID 1410 (planar ROI) for a herniation, TID 1501 else
 *         HAS OBS CONTEXT  Tracking Identifier = 'L4-L5'; Tracking Unique Identifier = a new UID
 *         CONTAINS CODE    Finding = Displacement of lumbar intervertebral disc … | No lumbar disc herniation
 *           INFERRED FROM SCOORD Intra-facet line = POLYLINE of 2 points → SELECTED FROM IMAGE key slice
 *         HAS CONCEPT MOD  Finding Site = L4/L5 disc
 *         HAS CONCEPT MOD  Algorithm Name = model id; Algorithm Version = model version
 *         CONTAINS SCOORD  Image Region = closed POLYLINE, the box → SELECTED FROM IMAGE key slice (+ frame)
 *                          (a level without herniation: CONTAINS IMAGE Source = its key slice, if it has one)
 *         CONTAINS NUM     AI model confidence (UCUM "1")
 *         CONTAINS CODE    MSU classification, MSU size grade, MSU location zone, Side of herniation
 *
 * Built with dcmjs's port of highdicom's SR classes where they work; where they do not, from dcmjs's content
 * items, and each such place says why (dcmjs 0.51).
 */
import { createHash } from 'node:crypto';
import { data, sr } from 'dcmjs';
import {
  DISC_LEVELS,
  type DiscLevel,
  type Findings,
  type LevelFinding,
  type PixelBox,
  type SliceRef,
} from '../findings/findings';
import {
  CODES,
  DISC_SITES,
  HERNIATION_FINDING,
  LOCAL_CONCEPTS,
  LOCAL_SCHEME,
  NO_HERNIATION_FINDING,
  PROCEDURE_REPORTED,
  SIDE_CODES,
  gradeCode,
  msuClassCode,
  zoneCode,
  type Code,
} from './codes';
import type { SrImage, SrSource } from './sr-source';
import { StructuredReportError } from './structured-report-error';

type ContentItem = sr.valueTypes.ContentItem;

export const COMPREHENSIVE_3D_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.34';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Identifies the software that wrote the file (PS3.7 D.3.3.2), a UUID-derived UID (PS3.5 B.2). */
const IMPLEMENTATION_CLASS_UID = '2.25.274722177949954585717310520230722500868';
const IMPLEMENTATION_VERSION_NAME = 'LDHCDS_SR_1';
/** Decimals the model confidence keeps in the SR (Numeric Value is a DS, PS3.5 6.2). */
export const CONFIDENCE_DECIMALS = 4;

const { RelationshipTypes } = sr.valueTypes;

export interface SrOptions {
  /** Manufacturer (General Equipment) and Device Observer Manufacturer, e.g. 'ldh-cds'. */
  manufacturer: string;
  /** Device Observer UID; default: derived from the model id and version, so one model keeps one UID. */
  deviceUid?: string;
  /** Default 900. */
  seriesNumber?: number;
  /** Default 'ldh-cds AI result (preliminary)'. */
  seriesDescription?: string;
  /** Content date and time (written in UTC); default now. */
  now?: Date;
  /** New UIDs (series, instance, tracking); default dcmjs's 2.25 UUID-derived UIDs. */
  uids?: () => string;
}

export interface StructuredReport {
  /** Part 10 file: File Meta Information and the data set, explicit VR little endian. */
  part10: Uint8Array;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  /** Tracking Unique Identifier of each level's measurement group. */
  trackingUids: Partial<Record<DiscLevel, string>>;
}

const concept = (code: Code): sr.coding.CodedConcept =>
  new sr.coding.CodedConcept({ value: code.value, meaning: code.meaning, schemeDesignator: code.scheme });

/** A name-based UID (the UUID version 5 pattern, SHA-1) under the 2.25 root (PS3.5 B.2). */
export function nameBasedUid(name: string): string {
  const bytes = createHash('sha1').update(`ldh-cds:${name}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString()}`;
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
const dicomDate = (date: Date): string =>
  `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}`;
const dicomTime = (date: Date): string =>
  `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`;

/** Resolves key-slice references against the source images (their SOP Class, whether they have frames). */
class ImageIndex {
  private readonly byUid = new Map<string, SrImage>();

  constructor(images: readonly SrImage[]) {
    for (const image of images) this.byUid.set(image.sopInstanceUid, image);
  }

  /** The reference of a SELECTED FROM / Source IMAGE item: frame number only for multi-frame images. */
  reference(slice: SliceRef, level: DiscLevel): ConstructorParameters<typeof sr.contentItems.SourceImageForRegion>[0] {
    const image = this.byUid.get(slice.sopInstanceUid);
    if (!image)
      throw new StructuredReportError(
        `the key slice of ${level} (SOP Instance UID ${slice.sopInstanceUid}) is not one of the source images`,
      );
    const frames = image.numberOfFrames ?? 1;
    if (!Number.isInteger(slice.frame) || slice.frame < 1 || slice.frame > frames)
      throw new StructuredReportError(
        `the key slice of ${level} names frame ${slice.frame} of an image with ${frames} frame(s)`,
      );
    return {
      referencedSOPClassUID: image.sopClassUid,
      referencedSOPInstanceUID: image.sopInstanceUid,
      ...(frames > 1 ? { referencedFrameNumbers: [slice.frame] } : {}),
    };
  }
}

function finitePoints(points: readonly number[], what: string, level: DiscLevel): number[] {
  if (!points.every(Number.isFinite))
    throw new StructuredReportError(`the ${what} of ${level} has a non-finite coordinate`);
  return [...points];
}

/**
 * The box as a closed POLYLINE of 5 points (PS3.3 C.18.6.1.2: first = last closes it), corners in the order
 * (x0,y0) (x1,y0) (x1,y1) (x0,y1): the reader takes points 1 and 3 back as [x0, y0, x1, y1]. Coordinates are the
 * findings' pixel coordinates unchanged: both put 0,0 at the top left corner of the top left pixel (C.18.6.1.1).
 */
function boxPolyline([x0, y0, x1, y1]: PixelBox, level: DiscLevel): number[] {
  return finitePoints([x0, y0, x1, y0, x1, y1, x0, y1, x0, y0], 'box', level);
}

function codeItem(name: Code, value: Code, relationshipType: sr.valueTypes.RelationshipType): ContentItem {
  return new sr.valueTypes.CodeContentItem({ name: concept(name), value: concept(value), relationshipType });
}

function textItem(name: Code, value: string, relationshipType: sr.valueTypes.RelationshipType): ContentItem {
  return new sr.valueTypes.TextContentItem({ name: concept(name), value, relationshipType });
}

/** dcmjs leaves empty Content Sequences (FindingSite always adds one); the attribute is Type 1C: drop them. */
function pruneEmptyContentSequences(item: ContentItem): void {
  if (!item.ContentSequence) return;
  if (item.ContentSequence.length === 0) delete item.ContentSequence;
  else item.ContentSequence.forEach(pruneEmptyContentSequences);
}

/**
 * One level's measurement group. dcmjs's PlanarROIMeasurementsAndQualitativeEvaluations and
 * MeasurementAndQualitativeEvaluationGroup always throw (their tracking-identifier check filters the template
 * array, which makes Array species construct a TrackingIdentifier without options), so the group is built here
 * from dcmjs content items in highdicom's order.
 */
function levelGroup(
  finding: LevelFinding,
  trackingUid: string,
  model: Findings['model'],
  images: ImageIndex,
): ContentItem {
  const { level } = finding;
  // TID 1410 needs exactly one image region, which a level without herniation does not have: TID 1501 then.
  const group = new sr.valueTypes.ContainerContentItem({
    name: concept(CODES.measurementGroup),
    relationshipType: RelationshipTypes.CONTAINS,
    templateID: finding.herniation ? '1410' : '1501',
  });
  const items: ContentItem[] = [...new sr.templates.TrackingIdentifier({ uid: trackingUid, identifier: level })];

  const findingItem = codeItem(
    CODES.finding,
    finding.herniation ? HERNIATION_FINDING : NO_HERNIATION_FINDING,
    RelationshipTypes.CONTAINS,
  );
  if (finding.intraFacetLine) {
    if (!finding.keySlice)
      throw new StructuredReportError(`${level} has an intra-facet line but no key slice to place it on`);
    // TID 1410 allows one image region (the ROI, here the box) and its measurements (TID 1419) carry no
    // coordinates of their own; an open 2-point line is no region anyway. TID 1410 and 1501 are extensible, and
    // the IOD lets a CODE be INFERRED FROM a SCOORD (PS3.3 Table A.35.13-2): the finding — grade and zone are
    // read against this line (MSU) — is inferred from it, an open POLYLINE on the key slice.
    const line = new sr.valueTypes.ScoordContentItem({
      name: concept(LOCAL_CONCEPTS.intraFacetLine),
      relationshipType: RelationshipTypes.INFERRED_FROM,
      graphicType: 'POLYLINE',
      graphicData: finitePoints(finding.intraFacetLine.flat(), 'intra-facet line', level),
    });
    line.ContentSequence = [new sr.contentItems.SourceImageForRegion(images.reference(finding.keySlice, level))];
    findingItem.ContentSequence = [line];
  }
  items.push(findingItem);
  items.push(new sr.contentItems.FindingSite({ anatomicLocation: concept(DISC_SITES[level]) }));
  items.push(...new sr.templates.AlgorithmIdentification({ name: model.id, version: model.version }));

  if (finding.herniation) {
    items.push(
      new sr.contentItems.ImageRegion({
        graphicType: 'POLYLINE',
        graphicData: boxPolyline(finding.box, level),
        sourceImage: new sr.contentItems.SourceImageForRegion(images.reference(finding.keySlice, level)),
      }),
    );
  } else if (finding.keySlice) {
    // TID 1501's source image row (SCT "Source", as highdicom writes it): the slice the level was read on.
    const ref = images.reference(finding.keySlice, level);
    items.push(
      new sr.valueTypes.ImageContentItem({
        name: concept(CODES.source),
        relationshipType: RelationshipTypes.CONTAINS,
        ...ref,
      }),
    );
  }

  if (!Number.isFinite(finding.confidence) || finding.confidence < 0 || finding.confidence > 1)
    throw new StructuredReportError(`the confidence of ${level} is ${finding.confidence}, not a number in [0, 1]`);
  // A measurement (TID 1419 / TID 300): a NUM with UCUM "1"; qualitative evaluations take only CODE or TEXT.
  items.push(
    new sr.valueTypes.NumContentItem({
      name: concept(LOCAL_CONCEPTS.confidence),
      value: Number(finding.confidence.toFixed(CONFIDENCE_DECIMALS)),
      unit: concept(CODES.unitless),
      relationshipType: RelationshipTypes.CONTAINS,
    }),
  );

  if (finding.herniation) {
    // Qualitative evaluations (TID 1410/1501 rows "CONTAINS CODE"), concept names and values of 99LDHCDS.
    items.push(
      codeItem(LOCAL_CONCEPTS.msuClass, msuClassCode(finding.grade, finding.zone), RelationshipTypes.CONTAINS),
      codeItem(LOCAL_CONCEPTS.msuGrade, gradeCode(finding.grade), RelationshipTypes.CONTAINS),
      codeItem(LOCAL_CONCEPTS.msuZone, zoneCode(finding.zone), RelationshipTypes.CONTAINS),
      codeItem(LOCAL_CONCEPTS.side, SIDE_CODES[finding.side], RelationshipTypes.CONTAINS),
    );
  }
  group.ContentSequence = items;
  return group;
}

/**
 * TID 1002 + 1004 for the model as a device. dcmjs's DeviceObserverIdentifyingAttributes writes its
 * `manufacturerName` under 121013, which is Device Observer Name, with the meaning "Device Observer Manufacturer"
 * (PS3.16 TID 1004 and highdicom: manufacturer is 121014), and has no name option: we pass only the UID and model
 * name and add name and manufacturer ourselves, in TID 1004's row order. dcmjs's ObservationContext insists on a
 * person observer, which an AI result has not: the observer context goes into the report on its own.
 */
function deviceObserverContext(
  deviceUid: string,
  model: Findings['model'],
  manufacturer: string,
): sr.templates.Template {
  const attributes = new sr.templates.DeviceObserverIdentifyingAttributes({ uid: deviceUid, modelName: model.id });
  const [uidItem, modelNameItem] = [...attributes];
  if (!uidItem || !modelNameItem) throw new Error('dcmjs DeviceObserverIdentifyingAttributes changed shape');
  // Reorder in place (splice would make Array species call the template's constructor without options).
  attributes.length = 0;
  attributes.push(
    uidItem,
    textItem(CODES.deviceObserverName, model.id, RelationshipTypes.HAS_OBS_CONTEXT),
    textItem(CODES.deviceObserverManufacturer, manufacturer, RelationshipTypes.HAS_OBS_CONTEXT),
    modelNameItem,
  );
  return new sr.templates.ObserverContext({
    observerType: concept(CODES.device),
    observerIdentifyingAttributes: attributes,
  });
}

/** TID 1600: one Image Library Group per series, one IMAGE (SCT "Source", as highdicom writes) per image. */
function imageLibraryGroups(images: readonly SrImage[]): ContentItem[] {
  const bySeries = new Map<string, SrImage[]>();
  for (const image of images)
    bySeries.set(image.seriesInstanceUid, [...(bySeries.get(image.seriesInstanceUid) ?? []), image]);
  return [...bySeries.values()].map((seriesImages) => {
    const group = new sr.valueTypes.ContainerContentItem({
      name: concept(CODES.imageLibraryGroup),
      relationshipType: RelationshipTypes.CONTAINS,
    });
    group.ContentSequence = seriesImages.map(
      (image) =>
        new sr.valueTypes.ImageContentItem({
          name: concept(CODES.source),
          relationshipType: RelationshipTypes.CONTAINS,
          referencedSOPClassUID: image.sopClassUid,
          referencedSOPInstanceUID: image.sopInstanceUid,
        }),
    );
    return group;
  });
}

function checkInput(findings: Findings, source: SrSource): void {
  if (findings.studyInstanceUid !== source.study.instanceUid)
    throw new StructuredReportError(
      `the findings are of study ${findings.studyInstanceUid}, the source metadata of study ${source.study.instanceUid}`,
    );
  if (source.images.length === 0) throw new StructuredReportError('the SR source lists no images to reference');
  if (findings.levels.length === 0)
    throw new StructuredReportError('the findings assess no disc level: nothing to report');
  const seen = new Set<DiscLevel>();
  for (const { level } of findings.levels) {
    if (!DISC_LEVELS.includes(level)) throw new StructuredReportError(`unknown disc level ${JSON.stringify(level)}`);
    if (seen.has(level)) throw new StructuredReportError(`the findings assess ${level} twice`);
    seen.add(level);
  }
}

/** Builds the SR of one analysis. Throws StructuredReportError, naming the problem, on inconsistent input. */
export function findingsToStructuredReport(findings: Findings, source: SrSource, options: SrOptions): StructuredReport {
  checkInput(findings, source);
  const newUid = options.uids ?? ((): string => data.DicomMetaDictionary.uid());
  const now = options.now ?? new Date();
  const images = new ImageIndex(source.images);
  const { model } = findings;

  const trackingUids: Partial<Record<DiscLevel, string>> = {};
  const groups = findings.levels.map((finding) => {
    const uid = newUid();
    trackingUids[finding.level] = uid;
    return levelGroup(finding, uid, model, images);
  });

  const report = new sr.templates.MeasurementReport({
    languageOfContentItemAndDescendants: new sr.templates.LanguageOfContentItemAndDescendants({}),
    observationContext: deviceObserverContext(
      options.deviceUid ?? nameBasedUid(`device:${model.id}:${model.version}`),
      model,
      options.manufacturer,
    ),
    procedureReported: concept(PROCEDURE_REPORTED),
    imagingMeasurements: groups,
  });
  const root = report[0];
  if (!root) throw new Error('dcmjs MeasurementReport changed shape');
  // dcmjs's MeasurementReport always adds an empty Image Library (it takes no images): fill it.
  const library = root.ContentSequence?.find(
    (item) => item.ConceptNameCodeSequence[0]?.CodeValue === CODES.imageLibrary.value,
  );
  if (!library) throw new Error('dcmjs MeasurementReport wrote no Image Library');
  library.ContentSequence = imageLibraryGroups(source.images);
  pruneEmptyContentSequences(root);

  const seriesInstanceUid = newUid();
  const sopInstanceUid = newUid();
  const assessed = new Set(findings.levels.map((finding) => finding.level)).size;
  const document = new sr.documents.Comprehensive3DSR({
    content: root,
    evidence: source.images.map((image) => ({
      StudyInstanceUID: source.study.instanceUid,
      SeriesInstanceUID: image.seriesInstanceUid,
      SOPClassUID: image.sopClassUid,
      SOPInstanceUID: image.sopInstanceUid,
    })),
    seriesInstanceUID: seriesInstanceUid,
    seriesNumber: options.seriesNumber ?? 900,
    seriesDescription: options.seriesDescription ?? 'ldh-cds AI result (preliminary)',
    sopInstanceUID: sopInstanceUid,
    instanceNumber: 1,
    manufacturer: options.manufacturer,
    // COMPLETE: every lumbar level is in the report; verification is a separate flag (UNVERIFIED below).
    isComplete: assessed === DISC_LEVELS.length,
    isVerified: false,
    isFinal: false,
    // dcmjs writes the evidence as Current Requested Procedure Evidence (the images are of this study's procedure,
    // PS3.3 C.17.2.3) only when given requested procedures, else as Pertinent Other Evidence.
    requestedProcedures: [],
  });
  const dataset: Record<string, unknown> = Object.assign({}, document);
  // …and then writes an empty Referenced Request Sequence (Type 1C: only when the request is known).
  delete dataset.ReferencedRequestSequence;

  const { patient, study } = source;
  Object.assign(dataset, {
    // dcmjs stamps its own local-time "now": ours, in UTC, with the offset said.
    ContentDate: dicomDate(now),
    ContentTime: dicomTime(now),
    SeriesDate: dicomDate(now),
    SeriesTime: dicomTime(now),
    TimezoneOffsetFromUTC: '+0000',
    // Patient and General Study modules: the source's values (Type 2: present, empty when unknown).
    PatientName: patient.name,
    PatientID: patient.id,
    ...(patient.issuerOfId ? { IssuerOfPatientID: patient.issuerOfId } : {}),
    PatientBirthDate: patient.birthDate,
    PatientSex: patient.sex,
    StudyInstanceUID: study.instanceUid,
    StudyDate: study.date,
    StudyTime: study.time,
    StudyID: study.id,
    AccessionNumber: study.accessionNumber,
    ReferringPhysicianName: study.referringPhysicianName,
    CompletionFlagDescription: `Preliminary AI result; ${assessed} of ${DISC_LEVELS.length} lumbar disc levels assessed`,
    // The private coding scheme, with its FHIR CodeSystem (PS3.3 C.12.1.1.2).
    CodingSchemeIdentificationSequence: [
      {
        CodingSchemeDesignator: LOCAL_SCHEME.designator,
        CodingSchemeName: LOCAL_SCHEME.name,
        CodingSchemeResponsibleOrganization: LOCAL_SCHEME.responsibleOrganization,
        // URL type DOC: PS3.3's Defined Terms (DOC, OWL, CSV) have none for a FHIR CodeSystem, whose canonical URL
        // resolves to the code system's description.
        CodingSchemeResourcesSequence: [{ CodingSchemeURLType: 'DOC', CodingSchemeURL: LOCAL_SCHEME.fhirCanonicalUrl }],
      },
    ],
  });

  // The default repertoire is ASCII; anything else (a patient name, say) is written as UTF-8 and must say so.
  if (/[^\x20-\x7e]/.test(JSON.stringify(dataset))) dataset.SpecificCharacterSet = 'ISO_IR 192';

  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: COMPREHENSIVE_3D_SR_STORAGE,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };
  const dict = new data.DicomDict(data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return { part10: new Uint8Array(dict.write()), sopInstanceUid, seriesInstanceUid, trackingUids };
}
