/**
 * `--ratings FILE.csv`: agreement of two raters (e.g. a reader study) from a two-column CSV of categorical
 * labels. A header row is recognised when its two cells are not both labels seen elsewhere in the file.
 */
import { agreementTable, cohenKappa, gwetAc1 } from './agreement';
import { bootstrapInterval, wilsonInterval, type Interval } from './confidence';

export interface RatingsReport {
  items: number;
  categories: string[];
  ac1: { value: number; ci: Interval };
  kappa: { value: number; ci: Interval };
  percentAgreement: { value: number; ci: Interval };
}

export function parseRatingsCsv(text: string): { raterA: string[]; raterB: string[]; header?: [string, string] } {
  const rows = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line, i) => {
      const cells = line.split(/[,;\t]/).map((cell) => cell.trim().replace(/^"(.*)"$/, '$1'));
      if (cells.length !== 2) throw new Error(`Ratings CSV line ${i + 1}: expected 2 columns, found ${cells.length}`);
      return cells as [string, string];
    });
  if (rows.length === 0) throw new Error('Ratings CSV is empty');
  const [first, ...rest] = rows;
  const labels = new Set(rest.flat());
  const header = first && rest.length > 0 && !labels.has(first[0]) && !labels.has(first[1]) ? first : undefined;
  const data = header ? rest : rows;
  return {
    raterA: data.map((row) => row[0]),
    raterB: data.map((row) => row[1]),
    ...(header ? { header } : {}),
  };
}

export function ratingsReport(raterA: string[], raterB: string[]): RatingsReport {
  const categories = [...new Set([...raterA, ...raterB])].sort();
  if (categories.length < 2) throw new Error('Ratings use a single category: agreement statistics are undefined');
  const table = agreementTable(raterA, raterB, categories);
  const resampled = (statistic: typeof gwetAc1) => (indices: number[]) =>
    statistic(
      agreementTable(
        indices.map((i) => raterA[i] ?? ''),
        indices.map((i) => raterB[i] ?? ''),
        categories,
      ),
    );
  const agreeing = raterA.filter((label, i) => label === raterB[i]).length;
  return {
    items: raterA.length,
    categories,
    ac1: { value: gwetAc1(table), ci: bootstrapInterval(raterA.length, resampled(gwetAc1)) },
    kappa: { value: cohenKappa(table), ci: bootstrapInterval(raterA.length, resampled(cohenKappa)) },
    percentAgreement: { value: agreeing / raterA.length, ci: wilsonInterval(agreeing, raterA.length) },
  };
}
