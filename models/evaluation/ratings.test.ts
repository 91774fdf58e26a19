import { describe, expect, it } from 'vitest';
import { parseRatingsCsv, ratingsReport } from './ratings';

describe('ratings CSV', () => {
  it('when the file has a header row, then it is recognised and not counted as an item', () => {
    const parsed = parseRatingsCsv('surgeon1,surgeon2\n2-A,2-A\n1-B,2-B\n2-A,2-A\n');
    expect(parsed.header).toEqual(['surgeon1', 'surgeon2']);
    expect(parsed.raterA).toEqual(['2-A', '1-B', '2-A']);
  });

  it('when a line has three cells, then the error names the line', () => {
    expect(() => parseRatingsCsv('a,b\nx,y,z\n')).toThrow(/line 2: expected 2 columns, found 3/);
  });

  it('when computed, then AC1, kappa and agreement equal the textbook example (20/5/10/15)', () => {
    const repeat = (label: string, count: number): string[] => Array.from({ length: count }, () => label);
    const a = [...repeat('yes', 25), ...repeat('no', 25)];
    const b = [...repeat('yes', 20), ...repeat('no', 5), ...repeat('yes', 10), ...repeat('no', 15)];
    const report = ratingsReport(a, b);
    expect(report.items).toBe(50);
    expect(report.kappa.value).toBeCloseTo(0.4, 10);
    expect(report.ac1.value).toBeCloseTo(0.405941, 5);
    expect(report.percentAgreement.value).toBeCloseTo(0.7, 10);
    expect(report.ac1.ci[0]).toBeLessThan(report.ac1.value);
    expect(report.ac1.ci[1]).toBeGreaterThan(report.ac1.value);
  });
});
