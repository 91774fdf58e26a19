/**
 * Series selection as declarative rules (MONAI Deploy style): MR only, then prefer descriptions that say
 * axial T2, then the series with the most instances.
 */
import { getNumber, getString, type DicomJson } from './dicom-json';

export interface SeriesRule {
  description: string;
  score(series: DicomJson): number;
}

export const SERIES_RULES: SeriesRule[] = [
  {
    description: 'description mentions T2',
    score: (s) => (/t2/i.test(getString(s, 'SeriesDescription') ?? '') ? 2 : 0),
  },
  {
    description: 'description mentions axial',
    score: (s) => (/\b(ax|axial|tra)/i.test(getString(s, 'SeriesDescription') ?? '') ? 1 : 0),
  },
];

/** QIDO-RS series results → the candidate MR series, best first. */
export function rankMrSeries(series: DicomJson[]): DicomJson[] {
  return series
    .filter((s) => getString(s, 'Modality') === 'MR')
    .map((s) => ({
      s,
      score: SERIES_RULES.reduce((acc, rule) => acc + rule.score(s), 0),
      count: getNumber(s, 'NumberOfSeriesRelatedInstances') ?? 0,
    }))
    .sort((a, b) => b.score - a.score || b.count - a.count)
    .map(({ s }) => s);
}
