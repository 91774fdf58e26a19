/**
 * Realistic synthetic lumbar MRI studies with exact MSU ground truth (issue 3): an axial T2 TSE series of angled
 * stacks, one per disc level (3–5 slices each), and a sagittal T2 TSE series of the same anatomy, with Findings
 * measured from the drawn pixels of each key slice (docs/msu.md §The rules we implement) and FHIR resources for the
 * study.
 *
 * Slice order in the axial series: InstanceNumber runs inferior → superior (L5-S1 stack first), like the phantom.
 * Everything derives from `seed` through separate random streams, so the same options give byte-identical files.
 */
import type { Endpoint, ImagingStudy, Patient } from 'fhir/r4';
import {
  DISC_LEVELS,
  type DiscLevel,
  type Findings,
  type LevelFinding,
  type PixelBox,
  type PixelPoint,
} from '../../server/src/findings/findings';
import { MR_IMAGE_STORAGE } from './dicom-writer';
import { buildStudyResources } from './fhir';
import { classifyMsu, measurePoints, type MsuMeasurement } from '../../server/src/inference/msu-geometry';
import { mrSliceToPart10, type MrAcquisitionHeader, type MrSliceSpec } from './mr-writer';
import type { GeneratedInstance, GeneratedStudy } from './phantom';
import { createRng, deterministicUid, type Rng } from './prng';
import { sampleLevel, samplePatient, type FieldStrength, type LevelAnatomy } from './realistic/anatomy';
import { add, planeToFrame, rotatedFrame, scale, type Frame, type PlaneToFrame, type Vec3 } from './realistic/frame';
import { planHerniation, sampleCaseMix, type PlannedHerniation } from './realistic/herniation';
import { acquire, renderAxial, renderSagittal, renderSoftTissue, type Acquisition } from './realistic/render';
import { discRadius, type SampleContext } from './realistic/tissue';
import { sampleTextures } from './realistic/texture';

export type SnrLevel = 'low' | 'medium' | 'high';

export interface SyntheticStudyOptions {
  seed: number;
  patientId: string;
  /** DICOM PN, 'Family^Given'. */
  patientName?: string;
  /** YYYYMMDD. */
  birthDate?: string;
  sex?: 'M' | 'F';
  studyDate?: string;
  accessionNumber?: string;
  /** Herniations to draw (grade, zone, side per level); default: a seeded case mix. `{}` = all levels normal. */
  herniations?: Partial<Record<DiscLevel, PlannedHerniation>>;
  /** Matrix (rows = columns), 256–512; default seeded from 256, 320, 384, 448, 512. */
  matrix?: number;
  field?: FieldStrength;
  snr?: SnrLevel;
  /** Default seeded: 160–260 mm. */
  fieldOfViewMm?: number;
  /** Default seeded: 3–5 mm. */
  sliceThicknessMm?: number;
  /** Default seeded: 3–5. */
  slicesPerLevel?: number;
  /** Motion ghosting: default seeded (about one study in five). */
  motion?: boolean;
  /** Skip the sagittal series (faster, e.g. for training sets of axial slices). */
  axialOnly?: boolean;
  /** Base URL written into the FHIR Endpoint. */
  dicomWebBaseUrl?: string;
}

/** A herniation's box on one slice of its level. */
export interface SliceBox {
  sopInstanceUid: string;
  frame: number;
  box: PixelBox;
  pixels: number;
}

export interface TruthExtras {
  /** Every slice of the level's stack where the herniation shows, with its box. */
  herniationSlices?: SliceBox[];
  /** The disc outline on the key slice, pixel coordinates, patient right → anterior → patient left → posterior. */
  discOutline: PixelPoint[];
  /** The measurement the MSU class was derived from (pixel units), and the disc margin point on the key slice. */
  measurement?: MsuMeasurement;
  discMarginPoint: PixelPoint;
  /** A diffuse bulge (mm) at a level without herniation: present in the image, not a herniation. */
  bulgeMm?: number;
  /** Stack slices of this level (inferior → superior). */
  sopInstanceUids: string[];
}

export type SyntheticLevelFinding = LevelFinding & TruthExtras;

export interface SyntheticFindings extends Findings {
  levels: SyntheticLevelFinding[];
}

export interface GeneratedSeries {
  seriesInstanceUid: string;
  seriesNumber: number;
  description: string;
  instances: GeneratedInstance[];
}

/**
 * A superset of the phantom's GeneratedStudy, so the mock EHR seeds either: `seriesInstanceUid` is the axial T2
 * series the ground truth refers to; `instances` holds the axial series, then the sagittal one.
 */
export interface SyntheticStudy extends GeneratedStudy {
  series: GeneratedSeries[];
  /** Axial pixels before encoding, for training sets and contact sheets (same order as the axial series). */
  axialPixels: { sopInstanceUid: string; level: DiscLevel; pixels: Uint16Array; rows: number; columns: number }[];
  groundTruth: SyntheticFindings;
  fhir: { patient: Patient; imagingStudy: ImagingStudy; endpoint: Endpoint };
  acquisition: {
    matrix: number;
    fieldOfViewMm: number;
    sliceThicknessMm: number;
    field: FieldStrength;
    snr: SnrLevel;
    motion: boolean;
  };
}

export const SYNTHETIC_GROUND_TRUTH_MODEL = { id: 'ground-truth', version: 'synthetic-realistic-1' } as const;

const STUDY_DESCRIPTION = 'MRI LUMBAR SPINE WO CONTRAST';
const AXIAL_DESCRIPTION = 'AX T2 TSE';
const SAGITTAL_DESCRIPTION = 'SAG T2 TSE';
const MATRICES = [256, 320, 384, 448, 512];
/** Noise σ relative to CSF signal, per SNR setting (3 T gains about 1.6×). */
const NOISE_SIGMA: Record<SnrLevel, number> = { high: 1 / 38, medium: 1 / 20, low: 1 / 10 };
/** Lordosis: disc normal tilt (degrees, anterior positive), T12-L1 … L5-S1. */
const DISC_TILT_DEG = [-6, -3, 1, 5, 10, 17];

const FAMILY = ['Rivera', 'Chen', 'Okafor', 'Novak', 'Haddad', 'Lindqvist', 'Tanaka', 'Moreau', 'Kowalski', 'Silva'];
const GIVEN = {
  F: ['Ana', 'Mei', 'Ngozi', 'Eva', 'Layla', 'Ingrid'],
  M: ['Luis', 'Wei', 'Chidi', 'Jan', 'Omar', 'Erik'],
};

interface PlacedLevel {
  anatomy: LevelAnatomy;
  /** Midline of the posterior disc margin (LPS). */
  origin: Vec3;
  frame: Frame;
  /** The axial stack's orientation, planned along the disc with a small mismatch. */
  stack: Frame;
}

function dateFromSeed(rng: Rng, fromYear: number, years: number): string {
  const day = new Date(Date.UTC(fromYear, 0, 1) + Math.floor(rng.next() * years * 365) * 86_400_000);
  return day.toISOString().slice(0, 10).replaceAll('-', '');
}

function timeAfter(start: string, seconds: number): string {
  const total = Number(start.slice(0, 2)) * 3600 + Number(start.slice(2, 4)) * 60 + Number(start.slice(4, 6)) + seconds;
  const h = Math.floor(total / 3600) % 24;
  const m = Math.floor((total % 3600) / 60);
  const s = Math.floor(total % 60);
  return [h, m, s].map((value) => String(value).padStart(2, '0')).join('');
}

/** Level-frame (x, y) → pixel coordinates of a slice, inverting the plane map's in-plane part. */
function levelToPixel(map: PlaneToFrame, x: number, y: number, size: number, pixelMm: number): PixelPoint {
  const det = map.xu * map.yv - map.xv * map.yu;
  const dx = x - map.x0;
  const dy = y - map.y0;
  const u = (dx * map.yv - dy * map.xv) / det;
  const v = (dy * map.xu - dx * map.yu) / det;
  return [u / pixelMm + size / 2, v / pixelMm + size / 2];
}

function maskToBox(mask: Uint8Array, size: number): PixelBox | undefined {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const c = i % size;
    const r = (i - c) / size;
    if (c < x0) x0 = c;
    if (c + 1 > x1) x1 = c + 1;
    if (r < y0) y0 = r;
    if (r + 1 > y1) y1 = r + 1;
  }
  return Number.isFinite(x0) ? [x0, y0, x1, y1] : undefined;
}

function maskPoints(mask: Uint8Array, size: number): PixelPoint[] {
  const points: PixelPoint[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const c = i % size;
    points.push([c + 0.5, (i - c) / size + 0.5]);
  }
  return points;
}

export function generateSyntheticStudy(options: SyntheticStudyOptions): SyntheticStudy {
  const { seed } = options;
  const caseRng = createRng(seed);
  const protocolRng = createRng(seed + 0x1f2e);
  const anatomyRng = createRng(seed + 0x3c4d);
  const herniationRng = createRng(seed + 0x5a6b);
  const noiseRng = createRng(seed + 0x7e8f);

  // Patient and case.
  const sex = options.sex ?? caseRng.pick(['F', 'M'] as const);
  const birthDate = options.birthDate ?? dateFromSeed(caseRng, 1940, 60);
  const studyDate = options.studyDate ?? dateFromSeed(caseRng, 2023, 3);
  const ageYears = Number(studyDate.slice(0, 4)) - Number(birthDate.slice(0, 4)) || 50;
  const patient = {
    id: options.patientId,
    name: options.patientName ?? `${caseRng.pick(FAMILY)}^${caseRng.pick(GIVEN[sex])}`,
    birthDate,
    sex,
  };
  const plan = options.herniations ?? sampleCaseMix(caseRng);

  // Protocol.
  const field: FieldStrength = options.field ?? (protocolRng.next() < 0.7 ? 1.5 : 3);
  const snr: SnrLevel = options.snr ?? protocolRng.pick(['low', 'medium', 'medium', 'high', 'high'] as const);
  const matrix = options.matrix ?? protocolRng.pick(MATRICES);
  if (!Number.isInteger(matrix) || matrix < 256 || matrix > 512)
    throw new Error(`matrix must be an integer 256–512, not ${matrix}`);
  const fov = options.fieldOfViewMm ?? Math.round(protocolRng.uniform(160, 260));
  const thickness = options.sliceThicknessMm ?? protocolRng.pick([3, 3.5, 4, 4, 4.5, 5]);
  const slicesPerLevel = options.slicesPerLevel ?? protocolRng.pick([3, 4, 5, 5]);
  const motion = options.motion ?? protocolRng.next() < 0.2;
  const pixelMm = fov / matrix;
  const acquisitionHeader: MrAcquisitionHeader = {
    fieldStrengthT: field,
    repetitionTimeMs: Math.round(protocolRng.uniform(field === 3 ? 3500 : 3000, field === 3 ? 5200 : 4600)),
    echoTimeMs: Math.round(protocolRng.uniform(88, 112)),
    echoTrainLength: protocolRng.pick([13, 15, 17, 19, 21]),
    averages: protocolRng.pick([1, 2, 2, 3]),
    pixelBandwidth: protocolRng.pick([190, 200, 220, 250]),
    flipAngleDeg: protocolRng.pick([90, 150, 160]),
    phaseEncodingDirection: 'COL',
  };
  const noiseSigma = NOISE_SIGMA[snr] / (field === 3 ? 1.6 : 1);
  const storedCsf = protocolRng.uniform(1200, 3000);
  const acquisition: Acquisition = {
    scale: storedCsf,
    noiseSigma,
    biasGain: protocolRng.uniform(0.25, 0.6),
    biasLengthMm: protocolRng.uniform(70, 150),
    biasTilt: protocolRng.uniform(-0.25, 0.25),
    // Acquired matrices are often interpolated up: the point-spread function widens with the display matrix.
    blurSigmaPx: Math.min(0.9, Math.max(0.45, (0.5 * matrix) / 320)) * protocolRng.uniform(0.9, 1.2),
    ghostAmplitude: motion ? protocolRng.uniform(0.04, 0.1) : 0,
    ghostShift: Math.round(matrix * protocolRng.uniform(0.12, 0.3)),
    maxValue: 4095,
  };

  // Anatomy: patient habitus and six discs (T12-L1 only on the sagittal), placed along a lordotic curve.
  const patientAnatomy = samplePatient(anatomyRng, field, ageYears, sex);
  const sizeFactor = (sex === 'M' ? 1.04 : 0.96) * anatomyRng.uniform(0.92, 1.08);
  const lordosis = anatomyRng.uniform(0.6, 1.4);
  const rotation = anatomyRng.uniform(-10, 10);
  const anatomies = [-1, 0, 1, 2, 3, 4].map((index) => sampleLevel(anatomyRng, index, ageYears, sizeFactor));
  const placed: PlacedLevel[] = [];
  let origin: Vec3 = [anatomyRng.uniform(-4, 4), anatomyRng.uniform(-6, 6), -95];
  for (let k = anatomies.length - 1; k >= 0; k--) {
    const anatomy = anatomies[k];
    if (!anatomy) continue;
    const tilt = (DISC_TILT_DEG[k] ?? 0) * lordosis + anatomyRng.uniform(-2, 2);
    const frame = rotatedFrame(tilt, anatomyRng.uniform(-2, 2), rotation + anatomyRng.uniform(-1.5, 1.5));
    // The technologist plans each stack along the disc; the remaining mismatch is the tilt the slices show.
    const stack = rotatedFrame(tilt + anatomyRng.uniform(-7, 7), anatomyRng.uniform(-5, 5), 0);
    placed.unshift({ anatomy, origin, frame, stack });
    const above = anatomies[k - 1];
    if (above) {
      const spacing = anatomy.discHalfHeight + above.discHalfHeight + anatomyRng.uniform(26, 30) * sizeFactor;
      const next = add(origin, scale(frame.z, spacing));
      next[0] += anatomyRng.uniform(-2.5, 2.5);
      origin = next;
    }
  }
  for (const level of placed) {
    // Normal levels: now and then a diffuse bulge, which is not a herniation.
    const name = level.anatomy.level as DiscLevel;
    if (level.anatomy.index >= 0 && !plan[name] && anatomyRng.next() < 0.2)
      level.anatomy.bulge = anatomyRng.uniform(1.2, 2.8);
  }

  const context: SampleContext = {
    patient: patientAnatomy,
    textures: sampleTextures(anatomyRng),
    pixelMm,
    slabMm: thickness,
  };
  const imageCentre: [number, number] = [anatomyRng.uniform(-8, 8), anatomyRng.uniform(-28, -6)];
  const sliceGap = thickness + protocolRng.pick([0, 0, 0.3, 0.5]);

  const studyInstanceUid = deterministicUid('synthetic-study', seed);
  const axialUid = deterministicUid('synthetic-series-axial', seed);
  const sagittalUid = deterministicUid('synthetic-series-sagittal', seed);
  const frameOfReferenceUid = deterministicUid('synthetic-frame-of-reference', seed);
  const studyTime = timeAfter('080000', Math.floor(caseRng.next() * 9 * 3600));
  const study = {
    instanceUid: studyInstanceUid,
    date: studyDate,
    time: studyTime,
    description: STUDY_DESCRIPTION,
    accessionNumber: options.accessionNumber ?? `SYN${String(seed).padStart(7, '0')}`,
    id: String(seed).slice(0, 16),
  };
  const dicomPatient = {
    ...patient,
    ageYears,
    weightKg: Math.round((sex === 'M' ? 82 : 68) * (0.8 + (0.5 * (patientAnatomy.bodyHalfWidth - 120)) / 80)),
  };
  const window = { center: storedCsf * 0.5, width: storedCsf * 1.1 };

  // Axial stacks, L5-S1 first.
  const axialInstances: GeneratedInstance[] = [];
  const axialPixels: SyntheticStudy['axialPixels'] = [];
  const levelFindings: SyntheticLevelFinding[] = [];
  let instanceNumber = 0;
  for (const level of [...placed].reverse()) {
    if (level.anatomy.index < 0) continue;
    const name = level.anatomy.level as DiscLevel;
    const centre = add(level.origin, add(scale(level.frame.x, imageCentre[0]), scale(level.frame.y, imageCentre[1])));
    const jitter = anatomyRng.uniform(-0.35, 0.35) * sliceGap;
    const offsets = Array.from(
      { length: slicesPerLevel },
      (_, k) => (k - (slicesPerLevel - 1) / 2) * sliceGap + jitter,
    );
    // Spine-axis z of each slice at the canal (level point (0, facetY/2)), to centre the herniation on one slice.
    const zAtCanal = offsets.map((offset) => {
      const map = planeToFrame(add(centre, scale(level.stack.z, offset)), level.stack, level.origin, level.frame);
      const [u, v] = levelToPixel(map, 0, level.anatomy.facetY / 2, 0, 1);
      return map.z0 + u * map.zu + v * map.zv;
    });
    const planned = plan[name];
    let plannedKey = -1;
    if (planned) {
      plannedKey = zAtCanal.reduce((best, z, k) => (Math.abs(z) < Math.abs(zAtCanal[best] ?? Infinity) ? k : best), 0);
      // Herniations may sit a little above or below the disc's mid-plane (migration), on the key slice.
      const keyZ = zAtCanal[plannedKey] ?? 0;
      level.anatomy.herniation = planHerniation(planned, level.anatomy, keyZ, herniationRng);
    }

    const slices: { sopInstanceUid: string; map: PlaneToFrame; mask: Uint8Array; count: number }[] = [];
    const soft = renderSoftTissue(
      level.anatomy,
      planeToFrame(centre, level.stack, level.origin, level.frame),
      { size: matrix, pixelMm },
      context,
    );
    offsets.forEach((offset) => {
      const sliceCentre = add(centre, scale(level.stack.z, offset));
      const map = planeToFrame(sliceCentre, level.stack, level.origin, level.frame);
      const rendered = renderAxial(level.anatomy, map, { size: matrix, pixelMm }, context, soft);
      const pixels = acquire(rendered.signal, matrix, acquisition, noiseRng, 'rows');
      instanceNumber++;
      const sopInstanceUid = deterministicUid('synthetic-instance', seed, 'axial', instanceNumber);
      const corner = add(
        sliceCentre,
        add(scale(level.stack.x, (0.5 - matrix / 2) * pixelMm), scale(level.stack.y, (0.5 - matrix / 2) * pixelMm)),
      );
      const spec: MrSliceSpec = {
        patient: dicomPatient,
        study,
        series: {
          instanceUid: axialUid,
          number: 4,
          description: AXIAL_DESCRIPTION,
          protocolName: 'L-SPINE T2 AX',
          frameOfReferenceUid,
          seriesTime: timeAfter(studyTime, 420),
        },
        instance: { sopInstanceUid, number: instanceNumber, contentTime: timeAfter(studyTime, 420 + instanceNumber) },
        plane: {
          rows: matrix,
          columns: matrix,
          pixelSpacingMm: pixelMm,
          sliceThicknessMm: thickness,
          spacingBetweenSlicesMm: sliceGap,
          orientation: [...level.stack.x, ...level.stack.y],
          position: corner,
          sliceLocation: corner[0] * level.stack.z[0] + corner[1] * level.stack.z[1] + corner[2] * level.stack.z[2],
        },
        acquisition: acquisitionHeader,
        window,
        bitsStored: 12,
      };
      axialInstances.push({
        sopInstanceUid,
        seriesInstanceUid: axialUid,
        instanceNumber,
        part10: mrSliceToPart10(spec, pixels),
      });
      axialPixels.push({ sopInstanceUid, level: name, pixels, rows: matrix, columns: matrix });
      slices.push({ sopInstanceUid, map, mask: rendered.herniationMask, count: rendered.herniationPixels });
    });

    // Ground truth, measured on the drawn pixels of the key slice (the slice with the largest herniation).
    const withHerniation = slices.filter((slice) => slice.count > 0);
    const nearestToDisc = zAtCanal.reduce(
      (best, z, k) => (Math.abs(z) < Math.abs(zAtCanal[best] ?? Infinity) ? k : best),
      0,
    );
    const key = withHerniation.length
      ? withHerniation.reduce((best, slice) => (slice.count > best.count ? slice : best))
      : slices[nearestToDisc];
    if (!key) throw new Error('a level without slices');
    const { anatomy } = level;
    const intraFacetLine: [PixelPoint, PixelPoint] = [
      levelToPixel(key.map, -anatomy.facetX, anatomy.facetY, matrix, pixelMm),
      levelToPixel(key.map, anatomy.facetX, anatomy.facetY, matrix, pixelMm),
    ];
    const discMarginPoint = levelToPixel(key.map, 0, 0, matrix, pixelMm);
    const discOutline: PixelPoint[] = [];
    for (let k = 0; k < 36; k++) {
      const angle = Math.PI + (k / 36) * 2 * Math.PI; // start at the patient's right
      // March outward along the ray from the disc centre to the outline.
      const cx = 0;
      const cy = -anatomy.discDepth / 2;
      let t = 0;
      while (t < 80 && discRadius(anatomy, cx + t * Math.cos(angle), cy - t * Math.sin(angle), anatomy.bulge) < 1)
        t += 0.25;
      discOutline.push(levelToPixel(key.map, cx + t * Math.cos(angle), cy - t * Math.sin(angle), matrix, pixelMm));
    }
    const common = {
      level: name,
      confidence: 1,
      keySlice: { sopInstanceUid: key.sopInstanceUid, frame: 1 },
      intraFacetLine,
      discOutline,
      discMarginPoint,
      sopInstanceUids: slices.map((slice) => slice.sopInstanceUid),
    };
    const box = maskToBox(key.mask, matrix);
    if (anatomy.herniation && box) {
      const measurement = measurePoints(maskPoints(key.mask, matrix), discMarginPoint, intraFacetLine);
      const msu = classifyMsu(measurement);
      levelFindings.push({
        ...common,
        herniation: true,
        grade: msu.grade,
        zone: msu.zone,
        side: msu.side,
        box,
        measurement,
        herniationSlices: withHerniation.map((slice) => ({
          sopInstanceUid: slice.sopInstanceUid,
          frame: 1,
          box: maskToBox(slice.mask, matrix) ?? box,
          pixels: slice.count,
        })),
      });
    } else {
      levelFindings.push({ ...common, herniation: false, ...(anatomy.bulge > 0 ? { bulgeMm: anatomy.bulge } : {}) });
    }
  }
  levelFindings.sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level));

  // Sagittal T2 through the same anatomy: rows anterior → posterior, columns superior → inferior.
  const sagittalInstances: GeneratedInstance[] = [];
  if (!options.axialOnly) {
    const sagFrame: Frame = { x: [0, 1, 0], y: [0, 0, -1], z: [-1, 0, 0] };
    const sagMatrix = matrix > 384 ? 320 : 256;
    const sagFov = Math.round(protocolRng.uniform(260, 320));
    const sagPixel = sagFov / sagMatrix;
    const sagSlices = protocolRng.pick([9, 11, 13]);
    const sagGap = protocolRng.pick([3.5, 4, 4]);
    const first = placed[0]?.origin ?? [0, 0, 0];
    const last = placed[placed.length - 1]?.origin ?? [0, 0, 0];
    const sagCentre: Vec3 = [(first[0] + last[0]) / 2, (first[1] + last[1]) / 2 + 5, (first[2] + last[2]) / 2 - 10];
    const sagContext: SampleContext = { ...context, pixelMm: sagPixel, slabMm: sagGap };
    for (let k = 0; k < sagSlices; k++) {
      // Patient right (−x) to left: slice normal is −x, so step along +x.
      const offset = (k - (sagSlices - 1) / 2) * sagGap;
      const sliceCentre: Vec3 = [sagCentre[0] + offset, sagCentre[1], sagCentre[2]];
      const maps = placed.map((level) => ({
        anatomy: level.anatomy,
        map: planeToFrame(sliceCentre, sagFrame, level.origin, level.frame),
      }));
      const signal = renderSagittal(maps, { size: sagMatrix, pixelMm: sagPixel }, sagContext);
      const pixels = acquire(signal, sagMatrix, { ...acquisition, ghostAmplitude: 0 }, noiseRng, 'columns');
      const number = k + 1;
      const sopInstanceUid = deterministicUid('synthetic-instance', seed, 'sagittal', number);
      const corner = add(
        sliceCentre,
        add(scale(sagFrame.x, (0.5 - sagMatrix / 2) * sagPixel), scale(sagFrame.y, (0.5 - sagMatrix / 2) * sagPixel)),
      );
      const spec: MrSliceSpec = {
        patient: dicomPatient,
        study,
        series: {
          instanceUid: sagittalUid,
          number: 2,
          description: SAGITTAL_DESCRIPTION,
          protocolName: 'L-SPINE T2 SAG',
          frameOfReferenceUid,
          seriesTime: timeAfter(studyTime, 60),
        },
        instance: { sopInstanceUid, number, contentTime: timeAfter(studyTime, 60 + number) },
        plane: {
          rows: sagMatrix,
          columns: sagMatrix,
          pixelSpacingMm: sagPixel,
          sliceThicknessMm: sagGap,
          spacingBetweenSlicesMm: sagGap,
          orientation: [...sagFrame.x, ...sagFrame.y],
          position: corner,
          sliceLocation: -corner[0],
        },
        acquisition: { ...acquisitionHeader, phaseEncodingDirection: 'ROW' },
        window,
        bitsStored: 12,
      };
      sagittalInstances.push({
        sopInstanceUid,
        seriesInstanceUid: sagittalUid,
        instanceNumber: number,
        part10: mrSliceToPart10(spec, pixels),
      });
    }
  }

  const series: GeneratedSeries[] = [
    { seriesInstanceUid: axialUid, seriesNumber: 4, description: AXIAL_DESCRIPTION, instances: axialInstances },
  ];
  if (sagittalInstances.length)
    series.push({
      seriesInstanceUid: sagittalUid,
      seriesNumber: 2,
      description: SAGITTAL_DESCRIPTION,
      instances: sagittalInstances,
    });
  const fhir = buildStudyResources({
    patient,
    studyInstanceUid,
    studyDate,
    studyTime,
    accessionNumber: study.accessionNumber,
    description: STUDY_DESCRIPTION,
    series: series.map((entry) => ({
      uid: entry.seriesInstanceUid,
      number: entry.seriesNumber,
      description: entry.description,
      instances: entry.instances.map((instance) => ({ ...instance, sopClassUid: MR_IMAGE_STORAGE })),
    })),
    dicomWebBaseUrl: options.dicomWebBaseUrl ?? 'http://localhost:4000/dicom-web',
  });
  return {
    studyInstanceUid,
    seriesInstanceUid: axialUid,
    studyDate,
    studyDescription: STUDY_DESCRIPTION,
    seriesDescription: AXIAL_DESCRIPTION,
    patient,
    instances: [...axialInstances, ...sagittalInstances],
    series,
    axialPixels,
    groundTruth: {
      studyInstanceUid,
      seriesInstanceUid: axialUid,
      model: { ...SYNTHETIC_GROUND_TRUTH_MODEL },
      levels: levelFindings,
      warnings: [],
    },
    fhir,
    acquisition: { matrix, fieldOfViewMm: fov, sliceThicknessMm: thickness, field, snr, motion },
  };
}
