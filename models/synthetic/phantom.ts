/**
 * A deterministic synthetic axial lumbar T2 study: one series "AX T2 TSE", 5 disc levels × 3 slices, with
 * ground-truth Findings in the same contract the pipeline returns, so results compare directly.
 *
 * Slice order: InstanceNumber 1…15 runs inferior → superior (ImagePositionPatient z increasing, LPS +z is
 * superior): L5-S1 = instances 1–3, L4-L5 = 4–6, …, L1-L2 = 13–15. The middle slice of each level (instance
 * 2, 5, 8, 11, 14) cuts the disc and is the key slice; its neighbours, 4 mm above and below, cut the endplates.
 * Every instance is single-frame, so the ground truth's keySlice.frame is 1.
 */
import {
  DISC_LEVELS,
  type DiscLevel,
  type Findings,
  type HerniationSide,
  type LevelFinding,
  type MsuGrade,
  type MsuZone,
  type PixelBox,
} from '../../server/src/findings/findings';
import { PHANTOM_GEOMETRY, PHANTOM_IMAGE_SIZE, PHANTOM_PIXEL_SPACING_MM } from './anatomy';
import { sliceToPart10 } from './dicom-writer';
import { herniationShape, neighbourShape, type HerniationShape, type PhantomHerniation } from './herniation-shape';
import { createRng, deterministicUid, pickWeighted, type Rng } from './prng';
import { renderSlice, type SliceKind } from './render';

export type { PhantomHerniation } from './herniation-shape';

export interface PhantomStudyOptions {
  seed: number;
  patientId: string;
  /** DICOM PN, 'Family^Given'. */
  patientName?: string;
  /** YYYYMMDD. */
  birthDate?: string;
  sex?: 'M' | 'F';
  /** Default: derived from the seed (0–2 herniated levels, mostly L4-L5 / L5-S1). */
  herniations?: Partial<Record<DiscLevel, PhantomHerniation>>;
  studyDate?: string;
  accessionNumber?: string;
}

export interface GeneratedInstance {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  instanceNumber: number;
  part10: Uint8Array;
}

export interface GeneratedStudy {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  studyDate: string;
  studyDescription: string;
  seriesDescription: string;
  patient: { id: string; name: string; birthDate: string; sex: 'M' | 'F' };
  instances: GeneratedInstance[];
  groundTruth: Findings;
}

export const PHANTOM_GROUND_TRUTH_MODEL = { id: 'ground-truth', version: 'synthetic-phantom-1' } as const;

const SLICES_PER_LEVEL = 3;
const SLICE_GAP_MM = 4;
const LEVEL_GAP_MM = 35;
/** z of the L5-S1 disc (mm, LPS); higher levels lie LEVEL_GAP_MM apart above it. */
const LOWEST_DISC_Z_MM = -100;
const STUDY_DESCRIPTION = 'MRI LUMBAR SPINE WO CONTRAST';
const SERIES_DESCRIPTION = 'AX T2 TSE';
const SERIES_NUMBER = 3;

const FAMILY_NAMES = [
  'Rivera',
  'Chen',
  'Okafor',
  'Novak',
  'Haddad',
  'Lindqvist',
  'Tanaka',
  'Moreau',
  'Kowalski',
  'Silva',
];
const GIVEN_NAMES = {
  F: ['Ana', 'Mei', 'Ngozi', 'Eva', 'Layla', 'Ingrid'],
  M: ['Luis', 'Wei', 'Chidi', 'Jan', 'Omar', 'Erik'],
};

/** Case mix of the default herniations: most at L4-L5 and L5-S1 (docs/msu.md §Why MSU). */
const LEVEL_WEIGHTS: [DiscLevel, number][] = [
  ['L4-L5', 0.4],
  ['L5-S1', 0.4],
  ['L3-L4', 0.12],
  ['L2-L3', 0.05],
  ['L1-L2', 0.03],
];
const ZONE_WEIGHTS: [MsuZone, number][] = [
  ['A', 0.35],
  ['AB', 0.2],
  ['B', 0.2],
  ['BC', 0.1],
  ['C', 0.15],
];
const GRADE_WEIGHTS: [MsuGrade, number][] = [
  [1, 0.3],
  [2, 0.45],
  [3, 0.25],
];

export function defaultHerniations(rng: Rng): Partial<Record<DiscLevel, PhantomHerniation>> {
  const count = pickWeighted<number>(rng, [
    [0, 0.25],
    [1, 0.45],
    [2, 0.3],
  ]);
  const herniations: Partial<Record<DiscLevel, PhantomHerniation>> = {};
  while (Object.keys(herniations).length < count) {
    const level = pickWeighted(rng, LEVEL_WEIGHTS);
    if (herniations[level]) continue;
    const zone = pickWeighted(rng, ZONE_WEIGHTS);
    const side: HerniationSide = zone === 'A' && rng.next() < 0.4 ? 'central' : rng.pick(['left', 'right'] as const);
    herniations[level] = { grade: pickWeighted(rng, GRADE_WEIGHTS), zone, side };
  }
  return herniations;
}

function dateFromSeed(rng: Rng, fromYear: number, years: number): string {
  const day = new Date(Date.UTC(fromYear, 0, 1) + Math.floor(rng.next() * years * 365) * 86_400_000);
  return day.toISOString().slice(0, 10).replaceAll('-', '');
}

/** Bounding box of the mask, its top edge on the disc margin: [x0, margin, x1, deepest row + 1]. */
function maskToBox(mask: Uint8Array, discMarginY: number): PixelBox | undefined {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const column = i % PHANTOM_IMAGE_SIZE;
    const row = Math.floor(i / PHANTOM_IMAGE_SIZE);
    x0 = Math.min(x0, column);
    x1 = Math.max(x1, column + 1);
    y1 = Math.max(y1, row + 1);
  }
  return Number.isFinite(x0) ? [x0, discMarginY, x1, y1] : undefined;
}

export function generatePhantomStudy(options: PhantomStudyOptions): GeneratedStudy {
  const { seed } = options;
  // Separate streams, so that e.g. passing explicit herniations does not change the noise or the patient.
  const caseRng = createRng(seed);
  const shapeRng = createRng(seed + 0x51ed);
  const noiseRng = createRng(seed + 0x2f6b);

  const sex = options.sex ?? caseRng.pick(['F', 'M'] as const);
  const patient = {
    id: options.patientId,
    name: options.patientName ?? `${caseRng.pick(FAMILY_NAMES)}^${caseRng.pick(GIVEN_NAMES[sex])}`,
    birthDate: options.birthDate ?? dateFromSeed(caseRng, 1945, 50),
    sex,
  };
  const studyDate = options.studyDate ?? dateFromSeed(caseRng, 2023, 3);
  const herniations = options.herniations ?? defaultHerniations(caseRng);

  const studyInstanceUid = deterministicUid('study', seed);
  const seriesInstanceUid = deterministicUid('series', seed);
  const header = {
    patient,
    study: {
      instanceUid: studyInstanceUid,
      date: studyDate,
      time: '093000',
      description: STUDY_DESCRIPTION,
      accessionNumber: options.accessionNumber ?? `SYN${String(seed).padStart(7, '0')}`,
      id: String(seed),
    },
    series: {
      instanceUid: seriesInstanceUid,
      number: SERIES_NUMBER,
      description: SERIES_DESCRIPTION,
      frameOfReferenceUid: deterministicUid('frame-of-reference', seed),
    },
    image: {
      rows: PHANTOM_IMAGE_SIZE,
      columns: PHANTOM_IMAGE_SIZE,
      pixelSpacingMm: PHANTOM_PIXEL_SPACING_MM,
      sliceThicknessMm: SLICE_GAP_MM,
    },
  };
  // Centre of the first pixel such that the image centre is the isocentre (x = y = 0).
  const firstPixelMm = -((PHANTOM_IMAGE_SIZE / 2 - 0.5) * PHANTOM_PIXEL_SPACING_MM);

  const instances: GeneratedInstance[] = [];
  const levels: LevelFinding[] = [];
  // Inferior → superior, so InstanceNumber and z increase together.
  const levelsBottomUp = [...DISC_LEVELS].reverse();
  levelsBottomUp.forEach((level, levelIndex) => {
    const herniation = herniations[level];
    const keyShape = herniation ? herniationShape(herniation, PHANTOM_GEOMETRY, shapeRng) : undefined;
    // Seen smaller on one neighbour (which one is seeded), absent on the other.
    const neighbourWithHerniation = shapeRng.next() < 0.5 ? 0 : 2;
    const discZ = LOWEST_DISC_Z_MM + levelIndex * LEVEL_GAP_MM;
    let keySopInstanceUid = '';
    let keyMask: Uint8Array | undefined;
    for (let sliceIndex = 0; sliceIndex < SLICES_PER_LEVEL; sliceIndex++) {
      const isKey = sliceIndex === 1;
      const kind: SliceKind = isKey ? 'disc' : 'endplate';
      let shape: HerniationShape | undefined;
      if (keyShape)
        shape = isKey ? keyShape : sliceIndex === neighbourWithHerniation ? neighbourShape(keyShape) : undefined;
      const rendered = renderSlice(PHANTOM_GEOMETRY, kind, shape, noiseRng);
      const instanceNumber = levelIndex * SLICES_PER_LEVEL + sliceIndex + 1;
      const z = discZ + (sliceIndex - 1) * SLICE_GAP_MM;
      const sopInstanceUid = deterministicUid('instance', seed, instanceNumber);
      const part10 = sliceToPart10(
        {
          ...header,
          instance: {
            sopInstanceUid,
            number: instanceNumber,
            position: [firstPixelMm, firstPixelMm, z],
            sliceLocation: z,
          },
        },
        rendered.pixels,
      );
      instances.push({ sopInstanceUid, seriesInstanceUid, instanceNumber, part10 });
      if (isKey) {
        keySopInstanceUid = sopInstanceUid;
        keyMask = rendered.herniationMask;
      }
    }
    const intraFacetLine = PHANTOM_GEOMETRY.facetMedialEdges.map(([x, y]) => [x, y] as [number, number]) as [
      [number, number],
      [number, number],
    ];
    const box = herniation && keyMask ? maskToBox(keyMask, PHANTOM_GEOMETRY.discMarginY) : undefined;
    if (herniation && box) {
      levels.push({
        level,
        herniation: true,
        grade: herniation.grade,
        zone: herniation.zone,
        side: herniation.side,
        confidence: 1,
        keySlice: { sopInstanceUid: keySopInstanceUid, frame: 1 },
        box,
        intraFacetLine,
      });
    } else {
      levels.push({
        level,
        herniation: false,
        confidence: 1,
        keySlice: { sopInstanceUid: keySopInstanceUid, frame: 1 },
        intraFacetLine,
      });
    }
  });
  // Findings list levels top-down, L1-L2 first, like a report.
  levels.sort((a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level));

  return {
    studyInstanceUid,
    seriesInstanceUid,
    studyDate,
    studyDescription: STUDY_DESCRIPTION,
    seriesDescription: SERIES_DESCRIPTION,
    patient,
    instances,
    groundTruth: {
      studyInstanceUid,
      seriesInstanceUid,
      model: { ...PHANTOM_GROUND_TRUTH_MODEL },
      levels,
      warnings: [],
    },
  };
}
