import { describe, expect, it } from 'vitest';
import { classificationReport } from './classification';
import { bootstrapInterval, wilsonInterval } from './confidence';

describe('classificationReport', () => {
  // truth:     none none 1 1 2 2 2 3
  // predicted: none 1    1 1 2 3 2 3
  const truth = ['none', 'none', '1', '1', '2', '2', '2', '3'];
  const predicted = ['none', '1', '1', '1', '2', '3', '2', '3'];
  const report = classificationReport(truth, predicted, ['none', '1', '2', '3'], ['1', '2', '3']);

  it('when computed by hand one-vs-rest, then per-class sensitivity and specificity match', () => {
    const byClass = Object.fromEntries(report.perClass.map((m) => [m.category, m]));
    // Grade 1: TP 2, FN 0, FP 1, TN 5 → sens 1, spec 5/6.
    expect(byClass['1']?.sensitivity.value).toBe(1);
    expect(byClass['1']?.specificity.value).toBeCloseTo(5 / 6, 10);
    // Grade 2: TP 2, FN 1, FP 0, TN 5 → sens 2/3, spec 1.
    expect(byClass['2']?.sensitivity.value).toBeCloseTo(2 / 3, 10);
    expect(byClass['2']?.specificity.value).toBe(1);
    // Grade 3: TP 1, FN 0, FP 1, TN 6 → sens 1, spec 6/7.
    expect(byClass['3']?.specificity.value).toBeCloseTo(6 / 7, 10);
  });

  it('when averaged, then macro is the mean over grades 1–3 and micro pools their counts', () => {
    expect(report.macro.sensitivity.value).toBeCloseTo((1 + 2 / 3 + 1) / 3, 10);
    expect(report.macro.specificity.value).toBeCloseTo((5 / 6 + 1 + 6 / 7) / 3, 10);
    // Pooled: TP 5, FN 1 → 5/6; TN 16, FP 2 → 16/18.
    expect(report.micro.sensitivity.value).toBeCloseTo(5 / 6, 10);
    expect(report.micro.specificity.value).toBeCloseTo(16 / 18, 10);
  });

  it('when built, then the confusion matrix counts truth rows against predicted columns', () => {
    expect(report.confusion).toEqual([
      [1, 1, 0, 0],
      [0, 2, 0, 0],
      [0, 0, 2, 1],
      [0, 0, 0, 1],
    ]);
  });
});

describe('confidence intervals', () => {
  it('when 8 of 10, then the Wilson 95 % interval is [0.4902, 0.9433]', () => {
    const [low, high] = wilsonInterval(8, 10);
    expect(low).toBeCloseTo(0.4902, 4);
    expect(high).toBeCloseTo(0.9433, 4);
  });

  it('when bootstrapping a constant statistic, then the interval collapses to it; seeds make it reproducible', () => {
    expect(bootstrapInterval(20, () => 0.7)).toEqual([0.7, 0.7]);
    const mean = (indices: number[]): number => indices.reduce((s, i) => s + (i % 2), 0) / indices.length;
    expect(bootstrapInterval(50, mean, { seed: 1 })).toEqual(bootstrapInterval(50, mean, { seed: 1 }));
    const [low, high] = bootstrapInterval(50, mean, { seed: 1 });
    expect(low).toBeLessThan(0.5);
    expect(high).toBeGreaterThan(0.5);
  });
});
