/**
 * The read-back of `findingsToStructuredReport`: a Comprehensive 3D SR with a TID 1500 report of ours → the level
 * findings, the model and the tracking UIDs. It reads by concept name, not by position, so other writers' extra
 * content items (TID 1500 is extensible) do not disturb it; what it cannot read it names.
 */
import { data } from 'dcmjs';
import {
  DISC_LEVELS,
  type DiscLevel,
  type LevelFinding,
  type ModelRef,
  type PixelBox,
  type PixelPoint,
  type SliceRef,
} from '../findings/findings';
import {
  CODES,
  DISC_SITES,
  HERNIATION_FINDING,
  LOCAL_CONCEPTS,
  NO_HERNIATION_FINDING,
  SIDE_CODES,
  gradeCode,
  zoneCode,
  type Code,
} from './codes';
import { COMPREHENSIVE_3D_SR_STORAGE } from './build-structured-report';
import { StructuredReportError } from './structured-report-error';

export interface StructuredReportContent {
  studyInstanceUid: string;
  /** The SR instance itself. */
  sopInstanceUid: string;
  /** From the groups' Algorithm Identification (TID 4019). */
  model: ModelRef;
  /** In report order. Coordinates to 0.001 px (Graphic Data is FL), confidence as written (4 decimals). */
  levels: LevelFinding[];
  trackingUids: Partial<Record<DiscLevel, string>>;
}

type Item = Record<string, unknown>;

const isItem = (value: unknown): value is Item => value !== null && typeof value === 'object' && !Array.isArray(value);
const sequence = (item: Item, keyword: string): Item[] => {
  const value = item[keyword];
  return Array.isArray(value) ? value.filter(isItem) : [];
};
const first = (value: unknown): unknown => (Array.isArray(value) ? (value as unknown[])[0] : value);
const text = (item: Item, keyword: string): string => {
  const value = first(item[keyword]);
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
};
const numbers = (item: Item, keyword: string): number[] => {
  const value = item[keyword];
  return (Array.isArray(value) ? (value as unknown[]) : [value]).map(Number).filter(Number.isFinite);
};

const codeOf = (code: Item | undefined): { value: string; scheme: string } | undefined =>
  code ? { value: text(code, 'CodeValue'), scheme: text(code, 'CodingSchemeDesignator') } : undefined;
const is = (code: { value: string; scheme: string } | undefined, expected: Code): boolean =>
  code?.value === expected.value && code.scheme === expected.scheme;
const conceptName = (item: Item): { value: string; scheme: string } | undefined =>
  codeOf(sequence(item, 'ConceptNameCodeSequence')[0]);
const conceptValue = (item: Item): { value: string; scheme: string } | undefined =>
  codeOf(sequence(item, 'ConceptCodeSequence')[0]);
const children = (item: Item, name: Code): Item[] =>
  sequence(item, 'ContentSequence').filter((child) => is(conceptName(child), name));
const child = (item: Item, name: Code): Item | undefined => children(item, name)[0];

/** Rounds away float32 noise: 0.001 px is finer than any detector box and coarser than FL's error below 8192 px. */
const pixel = (value: number): number => Math.round(value * 1000) / 1000;

/** The image an SCOORD is SELECTED FROM, or an IMAGE item itself: SOP Instance UID and frame (1 when absent). */
function sliceOf(item: Item, what: string): SliceRef {
  const image =
    text(item, 'ValueType') === 'IMAGE'
      ? item
      : sequence(item, 'ContentSequence').find((c) => text(c, 'RelationshipType') === 'SELECTED FROM');
  const reference = image ? sequence(image, 'ReferencedSOPSequence')[0] : undefined;
  const sopInstanceUid = reference ? text(reference, 'ReferencedSOPInstanceUID') : '';
  if (!reference || !sopInstanceUid) throw new StructuredReportError(`the ${what} references no image`);
  return { sopInstanceUid, frame: numbers(reference, 'ReferencedFrameNumber')[0] ?? 1 };
}

const levelOfSite = (site: { value: string; scheme: string } | undefined): DiscLevel | undefined =>
  DISC_LEVELS.find((level) => is(site, DISC_SITES[level]));

function codedValue<T extends string | number>(
  group: Item,
  name: Code,
  options: readonly T[],
  codeFor: (option: T) => Code,
  level: DiscLevel,
): T {
  const item = child(group, name);
  const value = item ? conceptValue(item) : undefined;
  const match = options.find((option) => is(value, codeFor(option)));
  if (match === undefined)
    throw new StructuredReportError(
      `the ${level} group has ${item ? `an unknown ${name.meaning} (${value?.value ?? '?'})` : `no ${name.meaning}`}`,
    );
  return match;
}

function levelOf(group: Item): { finding: LevelFinding; trackingUid: string; model: ModelRef } {
  const site = child(group, CODES.findingSite);
  const level = levelOfSite(site ? conceptValue(site) : undefined);
  if (!level) throw new StructuredReportError('a measurement group has no lumbar disc as its Finding Site');
  const trackingUid = text(child(group, CODES.trackingUniqueIdentifier) ?? {}, 'UID');
  const model = {
    id: text(child(group, CODES.algorithmName) ?? {}, 'TextValue'),
    version: text(child(group, CODES.algorithmVersion) ?? {}, 'TextValue'),
  };

  const findingItem = child(group, CODES.finding);
  const findingValue = findingItem ? conceptValue(findingItem) : undefined;
  if (!findingItem || (!is(findingValue, HERNIATION_FINDING) && !is(findingValue, NO_HERNIATION_FINDING)))
    throw new StructuredReportError(`the ${level} group has no Finding of ours (${findingValue?.value ?? 'none'})`);

  const confidenceItem = child(group, LOCAL_CONCEPTS.confidence);
  const confidence = confidenceItem
    ? numbers(sequence(confidenceItem, 'MeasuredValueSequence')[0] ?? {}, 'NumericValue')[0]
    : undefined;
  if (confidence === undefined)
    throw new StructuredReportError(`the ${level} group has no ${LOCAL_CONCEPTS.confidence.meaning}`);

  const lineItem = child(findingItem, LOCAL_CONCEPTS.intraFacetLine);
  const linePoints = lineItem ? numbers(lineItem, 'GraphicData').map(pixel) : [];
  if (lineItem && linePoints.length !== 4)
    throw new StructuredReportError(`the intra-facet line of ${level} has ${linePoints.length / 2} points, not 2`);
  const [lx0 = 0, ly0 = 0, lx1 = 0, ly1 = 0] = linePoints;
  const intraFacetLine: [PixelPoint, PixelPoint] | undefined = lineItem
    ? [
        [lx0, ly0],
        [lx1, ly1],
      ]
    : undefined;

  if (is(findingValue, NO_HERNIATION_FINDING)) {
    const source = child(group, CODES.source);
    const keySlice = source
      ? sliceOf(source, `key slice of ${level}`)
      : lineItem
        ? sliceOf(lineItem, `intra-facet line of ${level}`)
        : undefined;
    return {
      finding: {
        level,
        herniation: false,
        confidence,
        ...(keySlice ? { keySlice } : {}),
        ...(intraFacetLine ? { intraFacetLine } : {}),
      },
      trackingUid,
      model,
    };
  }

  const region = child(group, CODES.imageRegion);
  const corners = region ? numbers(region, 'GraphicData').map(pixel) : [];
  if (!region || corners.length !== 10)
    throw new StructuredReportError(`the ${level} herniation has no Image Region of 5 points (its box)`);
  // Points 1 and 3 of the closed rectangle (see boxPolyline in build-structured-report.ts).
  const box: PixelBox = [corners[0] ?? 0, corners[1] ?? 0, corners[4] ?? 0, corners[5] ?? 0];
  return {
    finding: {
      level,
      herniation: true,
      grade: codedValue(group, LOCAL_CONCEPTS.msuGrade, [1, 2, 3] as const, gradeCode, level),
      zone: codedValue(group, LOCAL_CONCEPTS.msuZone, ['A', 'B', 'C', 'AB', 'BC'] as const, zoneCode, level),
      side: codedValue(group, LOCAL_CONCEPTS.side, ['left', 'right', 'central'] as const, (s) => SIDE_CODES[s], level),
      confidence,
      keySlice: sliceOf(region, `box of ${level}`),
      box,
      ...(intraFacetLine ? { intraFacetLine } : {}),
    },
    trackingUid,
    model,
  };
}

/** Reads an SR written by `findingsToStructuredReport`. Throws StructuredReportError naming what is missing. */
export function structuredReportToFindings(part10: Uint8Array | ArrayBuffer): StructuredReportContent {
  const buffer =
    part10 instanceof Uint8Array
      ? (part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer)
      : part10;
  let dataset: Item;
  try {
    dataset = data.DicomMetaDictionary.naturalizeDataset(data.DicomMessage.readFile(buffer).dict);
  } catch (error: unknown) {
    throw new StructuredReportError(
      `not a DICOM Part 10 file: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const sopClassUid = text(dataset, 'SOPClassUID');
  if (sopClassUid !== COMPREHENSIVE_3D_SR_STORAGE)
    throw new StructuredReportError(`SOP Class ${sopClassUid || '(none)'} is not Comprehensive 3D SR`);
  if (!is(conceptName(dataset), CODES.imagingMeasurementReport))
    throw new StructuredReportError('the SR is not an Imaging Measurement Report (TID 1500)');
  const measurements = child(dataset, CODES.imagingMeasurements);
  const groups = measurements ? children(measurements, CODES.measurementGroup) : [];
  if (groups.length === 0) throw new StructuredReportError('the report has no measurement group');

  const read = groups.map(levelOf);
  const trackingUids: Partial<Record<DiscLevel, string>> = {};
  for (const { finding, trackingUid } of read) trackingUids[finding.level] = trackingUid;
  return {
    studyInstanceUid: text(dataset, 'StudyInstanceUID'),
    sopInstanceUid: text(dataset, 'SOPInstanceUID'),
    model: read[0]?.model ?? { id: '', version: '' },
    levels: read.map(({ finding }) => finding),
    trackingUids,
  };
}
