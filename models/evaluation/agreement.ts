/**
 * Agreement between two raters over categorical labels (docs/msu.md §Agreement): percent
 * agreement, Gwet's AC1 and Cohen's kappa. The seed paper reports AC1; kappa is printed beside it because it is
 * what most readers know, and the two diverge exactly where AC1 was designed to help (skewed prevalence).
 */

export interface AgreementTable {
  categories: readonly string[];
  /** counts[i][j] = items rater A labelled categories[i] and rater B categories[j]. */
  counts: number[][];
  total: number;
}

/**
 * @param categories the task's full category set (K in AC1's pe); labels outside it are an error, since a
 *   silently extended K would change pe.
 */
export function agreementTable(
  a: readonly string[],
  b: readonly string[],
  categories: readonly string[],
): AgreementTable {
  if (a.length !== b.length) throw new Error(`Rater label lists differ in length: ${a.length} vs ${b.length}`);
  const index = new Map(categories.map((category, i) => [category, i]));
  const counts = categories.map(() => categories.map(() => 0));
  a.forEach((labelA, item) => {
    const labelB = b[item] ?? '';
    const i = index.get(labelA);
    const j = index.get(labelB);
    if (i === undefined || j === undefined) {
      throw new Error(
        `Item ${item + 1}: label "${i === undefined ? labelA : labelB}" is not one of ${categories.join(', ')}`,
      );
    }
    const row = counts[i];
    if (row) row[j] = (row[j] ?? 0) + 1;
  });
  return { categories, counts, total: a.length };
}

function marginals(table: AgreementTable): { rowShare: number[]; columnShare: number[]; observed: number } {
  const n = table.total;
  const rowShare = table.counts.map((row) => row.reduce((sum, value) => sum + value, 0) / n);
  const columnShare = table.categories.map((_, j) => table.counts.reduce((sum, row) => sum + (row[j] ?? 0), 0) / n);
  const observed = table.counts.reduce((sum, row, i) => sum + (row[i] ?? 0), 0) / n;
  return { rowShare, columnShare, observed };
}

export function percentAgreement(table: AgreementTable): number {
  return marginals(table).observed;
}

/**
 * Gwet's AC1: pa = share of items with equal labels; πk = mean of the two raters' shares of category k;
 * pe = Σk πk(1 − πk) / (K − 1); AC1 = (pa − pe) / (1 − pe).
 */
export function gwetAc1(table: AgreementTable): number {
  const K = table.categories.length;
  if (K < 2) throw new Error('AC1 needs at least two categories');
  const { rowShare, columnShare, observed } = marginals(table);
  const pe =
    rowShare.reduce((sum, share, k) => {
      const pi = (share + (columnShare[k] ?? 0)) / 2;
      return sum + pi * (1 - pi);
    }, 0) /
    (K - 1);
  return pe === 1 ? 1 : (observed - pe) / (1 - pe);
}

/** Cohen's kappa: pe = Σk pA(k)·pB(k). Undefined (NaN) when both raters use a single category only. */
export function cohenKappa(table: AgreementTable): number {
  const { rowShare, columnShare, observed } = marginals(table);
  const pe = rowShare.reduce((sum, share, k) => sum + share * (columnShare[k] ?? 0), 0);
  return pe === 1 ? Number.NaN : (observed - pe) / (1 - pe);
}
