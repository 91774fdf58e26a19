/**
 * Series selection as declarative rules (MONAI Deploy style). A series is described by facts read from its
 * QIDO-RS attributes and its instances' metadata; refusal rules say why a series cannot be the axial T2,
 * preference rules rank the rest (T2 over unknown weighting over STIR). When nothing qualifies, the error lists
 * every series seen and why each was refused.
 */
import { getNumber, getString, type DicomJson } from './dicom-json';
import { frameGeometries, isAxial, isSagittal } from './geometry';

export type Weighting = 'T2' | 'T1' | 'STIR' | 'PD' | 'unknown';

export interface SeriesFacts {
  seriesInstanceUid: string;
  seriesNumber?: number;
  description: string;
  modality: string;
  /** Images (frames) in the series, and how many are axial / sagittal by ImageOrientationPatient. */
  images: number;
  axialImages: number;
  sagittalImages: number;
  weighting: Weighting;
  /** Why the weighting was concluded, e.g. "SeriesDescription 'AX T2 TSE'" or "TE 100 ms, TR 3500 ms". */
  weightingEvidence: string;
}

export interface RefusalRule {
  reason: (facts: SeriesFacts) => string;
  refuses: (facts: SeriesFacts) => boolean;
}

export interface PreferenceRule {
  description: string;
  score: (facts: SeriesFacts) => number;
}

export const REFUSAL_RULES: RefusalRule[] = [
  { refuses: (f) => f.modality !== 'MR', reason: (f) => `modality ${f.modality || 'unknown'}, not MR` },
  { refuses: (f) => f.images === 0, reason: () => 'no images with usable geometry' },
  {
    refuses: (f) => f.axialImages === 0,
    reason: (f) =>
      f.sagittalImages > 0 ? 'sagittal, not axial (ImageOrientationPatient)' : 'not axial (ImageOrientationPatient)',
  },
  { refuses: (f) => f.weighting === 'T1', reason: (f) => `T1-weighted (${f.weightingEvidence})` },
  { refuses: (f) => f.weighting === 'PD', reason: (f) => `proton-density weighted (${f.weightingEvidence})` },
];

export const PREFERENCE_RULES: PreferenceRule[] = [
  { description: 'T2-weighted', score: (f) => (f.weighting === 'T2' ? 4 : f.weighting === 'unknown' ? 1 : 0) },
  { description: 'mostly axial images', score: (f) => (f.axialImages >= f.images / 2 ? 1 : 0) },
];

/**
 * Weighting from, in order: the SeriesDescription (what the technologist named it), inversion recovery
 * (STIR), then TE/TR (T2: long TE ≥ 60 ms and long TR ≥ 1500 ms; T1: short TE < 30 ms and TR < 1000 ms;
 * PD: short TE, long TR). Thresholds are the usual spin-echo rules of thumb (check), kept here in one place.
 */
export function weightingOf(
  description: string,
  first: DicomJson | undefined,
): { weighting: Weighting; evidence: string } {
  const named = `SeriesDescription '${description}'`;
  if (/stir|tirm/i.test(description)) return { weighting: 'STIR', evidence: named };
  if (/t2|tse2|hste/i.test(description)) return { weighting: 'T2', evidence: named };
  if (/t1/i.test(description)) return { weighting: 'T1', evidence: named };
  if (/\bpd\b|proton/i.test(description)) return { weighting: 'PD', evidence: named };
  if (!first) return { weighting: 'unknown', evidence: 'no metadata' };
  const te = getNumber(first, 'EchoTime');
  const tr = getNumber(first, 'RepetitionTime');
  const ti = getNumber(first, 'InversionTime');
  const scanning = getString(first, 'ScanningSequence') ?? '';
  if (ti !== undefined && ti > 0 && ti < 300 && /IR/.test(scanning))
    return { weighting: 'STIR', evidence: `inversion recovery, TI ${ti} ms` };
  if (te === undefined || tr === undefined) return { weighting: 'unknown', evidence: 'no EchoTime/RepetitionTime' };
  const timing = `TE ${te} ms, TR ${tr} ms`;
  if (te >= 60 && tr >= 1500) return { weighting: 'T2', evidence: timing };
  if (te < 30 && tr < 1000) return { weighting: 'T1', evidence: timing };
  if (te < 30 && tr >= 1500) return { weighting: 'PD', evidence: timing };
  return { weighting: 'unknown', evidence: timing };
}

/** Facts of one series from its QIDO-RS attributes and its instances' metadata (may be empty). */
export function seriesFacts(series: DicomJson, instances: DicomJson[]): SeriesFacts {
  const description = getString(series, 'SeriesDescription')?.trim() ?? '';
  const first = instances[0];
  let images = 0;
  let axialImages = 0;
  let sagittalImages = 0;
  for (const meta of instances) {
    try {
      for (const geometry of frameGeometries(meta)) {
        images++;
        if (isAxial(geometry)) axialImages++;
        else if (isSagittal(geometry)) sagittalImages++;
      }
    } catch {
      // An instance without geometry counts as no image; the series' refusal says so when none is left.
    }
  }
  const { weighting, evidence } = weightingOf(description, first);
  const seriesNumber = getNumber(series, 'SeriesNumber') ?? (first ? getNumber(first, 'SeriesNumber') : undefined);
  return {
    seriesInstanceUid: getString(series, 'SeriesInstanceUID') ?? '?',
    ...(seriesNumber !== undefined ? { seriesNumber } : {}),
    description,
    modality: (getString(series, 'Modality') ?? (first ? getString(first, 'Modality') : undefined) ?? '').trim(),
    images,
    axialImages,
    sagittalImages,
    weighting,
    weightingEvidence: evidence,
  };
}

export interface SeriesDecision {
  facts: SeriesFacts;
  refusals: string[];
  score: number;
}

/** Applies the rules: qualifying series best first, then the refused ones with their reasons. */
export function decideSeries(facts: SeriesFacts[]): { chosen: SeriesDecision[]; refused: SeriesDecision[] } {
  const decisions = facts.map((f) => ({
    facts: f,
    refusals: REFUSAL_RULES.filter((rule) => rule.refuses(f)).map((rule) => rule.reason(f)),
    score: PREFERENCE_RULES.reduce((sum, rule) => sum + rule.score(f), 0),
  }));
  return {
    chosen: decisions
      .filter((d) => d.refusals.length === 0)
      .sort((a, b) => b.score - a.score || b.facts.axialImages - a.facts.axialImages),
    refused: decisions.filter((d) => d.refusals.length > 0),
  };
}

export function describeSeries(facts: SeriesFacts): string {
  return `series ${facts.seriesNumber ?? '?'} '${facts.description || 'no description'}' (${facts.modality || '?'}, ${facts.images} image(s))`;
}

/** "No axial T2 series: series 1 'LOC' (MR, 3 image(s)): not axial; series 2 …" */
export function noQualifyingSeriesMessage(studyUid: string, refused: SeriesDecision[]): string {
  if (refused.length === 0) return `Study ${studyUid} has no series`;
  return `No axial T2 MR series in study ${studyUid}. Seen: ${refused
    .map((d) => `${describeSeries(d.facts)}: ${d.refusals.join(', ')}`)
    .join('; ')}`;
}

/** QIDO-level prefilter: which series are worth fetching metadata for (MR, or modality unknown). */
export function isCandidateSeries(series: DicomJson): boolean {
  const modality = getString(series, 'Modality')?.trim();
  return modality === undefined || modality === 'MR';
}

export class SeriesSelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeriesSelectionError';
  }
}
