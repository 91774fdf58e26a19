/**
 * Per-class sensitivity and specificity, one-vs-rest, over items labelled by the truth and by the model
 * (docs/msu.md §Sensitivity and specificity). "Overall" is the macro average over the herniation classes that occur in
 * the truth; the micro average (pooled counts) is printed beside it. The "none" class (no herniation) is a category for
 * the confusion matrix and agreement statistics, but not one of the averaged classes: a model that calls every level
 * normal must not look good on average.
 */
import { wilsonInterval, type Interval } from './confidence';

export interface ClassCounts {
  truePositive: number;
  falseNegative: number;
  trueNegative: number;
  falsePositive: number;
}

export interface RateWithInterval {
  value: number;
  ci: Interval;
}

export interface ClassMetrics extends ClassCounts {
  category: string;
  sensitivity: RateWithInterval;
  specificity: RateWithInterval;
}

export interface ClassificationReport {
  categories: readonly string[];
  /** confusion[i][j] = items whose truth is categories[i] and prediction categories[j]. */
  confusion: number[][];
  perClass: ClassMetrics[];
  macro: { sensitivity: RateWithInterval; specificity: RateWithInterval };
  micro: { sensitivity: RateWithInterval; specificity: RateWithInterval };
}

const rate = (successes: number, trials: number): RateWithInterval => ({
  value: trials === 0 ? Number.NaN : successes / trials,
  ci: wilsonInterval(successes, trials),
});

function mean(values: number[]): number {
  const finite = values.filter((value) => !Number.isNaN(value));
  return finite.length === 0 ? Number.NaN : finite.reduce((sum, value) => sum + value, 0) / finite.length;
}

/**
 * @param averaged the categories that enter the macro and micro averages (e.g. grades 1–3, not "none")
 */
export function classificationReport(
  truth: readonly string[],
  predicted: readonly string[],
  categories: readonly string[],
  averaged: readonly string[],
): ClassificationReport {
  const index = new Map(categories.map((category, i) => [category, i]));
  const confusion = categories.map(() => categories.map(() => 0));
  truth.forEach((label, item) => {
    const row = confusion[index.get(label) ?? -1];
    const column = index.get(predicted[item] ?? '');
    if (!row || column === undefined)
      throw new Error(`Item ${item + 1}: unknown label ${label} / ${predicted[item] ?? ''}`);
    row[column] = (row[column] ?? 0) + 1;
  });
  const n = truth.length;
  const perClass = categories.map((category, k): ClassMetrics => {
    const truePositive = confusion[k]?.[k] ?? 0;
    const actual = confusion[k]?.reduce((sum, value) => sum + value, 0) ?? 0;
    const predictedK = confusion.reduce((sum, row) => sum + (row[k] ?? 0), 0);
    const counts = {
      truePositive,
      falseNegative: actual - truePositive,
      falsePositive: predictedK - truePositive,
      trueNegative: n - actual - predictedK + truePositive,
    };
    return {
      category,
      ...counts,
      sensitivity: rate(truePositive, actual),
      specificity: rate(counts.trueNegative, n - actual),
    };
  });
  const inAverage = perClass.filter(
    (metrics) => averaged.includes(metrics.category) && metrics.truePositive + metrics.falseNegative > 0,
  );
  const pooled = inAverage.reduce(
    (sum, m) => ({
      truePositive: sum.truePositive + m.truePositive,
      falseNegative: sum.falseNegative + m.falseNegative,
      trueNegative: sum.trueNegative + m.trueNegative,
      falsePositive: sum.falsePositive + m.falsePositive,
    }),
    { truePositive: 0, falseNegative: 0, trueNegative: 0, falsePositive: 0 },
  );
  // Macro CI: the mean of the per-class Wilson bounds — a conservative, simple interval for an average of rates.
  const macroOf = (pick: (m: ClassMetrics) => RateWithInterval): RateWithInterval => ({
    value: mean(inAverage.map((m) => pick(m).value)),
    ci: [mean(inAverage.map((m) => pick(m).ci[0])), mean(inAverage.map((m) => pick(m).ci[1]))],
  });
  return {
    categories,
    confusion,
    perClass,
    macro: { sensitivity: macroOf((m) => m.sensitivity), specificity: macroOf((m) => m.specificity) },
    micro: {
      sensitivity: rate(pooled.truePositive, pooled.truePositive + pooled.falseNegative),
      specificity: rate(pooled.trueNegative, pooled.trueNegative + pooled.falsePositive),
    },
  };
}
