import { describe, expect, it } from 'vitest';
import { agreementTable, cohenKappa, gwetAc1, percentAgreement } from './agreement';

/** Expands a 2×2 table [[yy, yn], [ny, nn]] into two label lists. */
function fromTable(yy: number, yn: number, ny: number, nn: number): [string[], string[]] {
  const a: string[] = [];
  const b: string[] = [];
  const push = (count: number, labelA: string, labelB: string): void => {
    for (let i = 0; i < count; i++) {
      a.push(labelA);
      b.push(labelB);
    }
  };
  push(yy, 'yes', 'yes');
  push(yn, 'yes', 'no');
  push(ny, 'no', 'yes');
  push(nn, 'no', 'no');
  return [a, b];
}

describe('agreement between two raters', () => {
  it('when given the textbook kappa example (20/5/10/15 of 50), then kappa is 0.40 and AC1 0.406', () => {
    // Cohen's kappa worked example (Wikipedia "Cohen's kappa", 50 proposals): pa = 0.7, pe = 0.5 → κ = 0.4.
    // AC1 by hand: π_yes = (0.5 + 0.6) / 2 = 0.55; pe = 2 · 0.55 · 0.45 / (2 − 1) = 0.495;
    // AC1 = (0.7 − 0.495) / (1 − 0.495) = 0.40594.
    const table = agreementTable(...fromTable(20, 5, 10, 15), ['yes', 'no']);
    expect(percentAgreement(table)).toBeCloseTo(0.7, 10);
    expect(cohenKappa(table)).toBeCloseTo(0.4, 10);
    expect(gwetAc1(table)).toBeCloseTo(0.405941, 5);
  });

  it('when prevalence is extreme (the kappa paradox, 118/5/2/0), then kappa is near 0 but AC1 stays high', () => {
    // Gwet's motivating case: pa = 0.944; κ: pe = 0.984·0.96 + 0.016·0.04 = 0.94528 → κ = −0.02339;
    // AC1: π1 = (0.984 + 0.96)/2 = 0.972; pe = 2·0.972·0.028 = 0.054432 → AC1 = 0.940776.
    const table = agreementTable(...fromTable(118, 5, 2, 0), ['yes', 'no']);
    expect(cohenKappa(table)).toBeCloseTo(-0.023392, 5);
    expect(gwetAc1(table)).toBeCloseTo(0.940776, 5);
  });

  it('when there are K = 3 categories, then pe divides by K − 1', () => {
    // a: x x y z ; b: x y y z → pa = 3/4; shares a (.5,.25,.25), b (.25,.5,.25); π = (.375,.375,.25);
    // pe = (.375·.625·2 + .25·.75) / 2 = (.46875 + .1875) / 2 = .328125; AC1 = (.75 − .328125)/(.671875) = .627907.
    const table = agreementTable(['x', 'x', 'y', 'z'], ['x', 'y', 'y', 'z'], ['x', 'y', 'z']);
    expect(gwetAc1(table)).toBeCloseTo(0.627907, 5);
    // κ: pe = .5·.25 + .25·.5 + .25·.25 = .3125 → κ = (.75 − .3125)/.6875 = .636364.
    expect(cohenKappa(table)).toBeCloseTo(0.636364, 5);
  });

  it('when raters agree on everything, then AC1 and kappa are 1', () => {
    const table = agreementTable(['a', 'b', 'a'], ['a', 'b', 'a'], ['a', 'b']);
    expect(gwetAc1(table)).toBe(1);
    expect(cohenKappa(table)).toBe(1);
  });

  it('when a label is outside the category set, then it is an error naming the label', () => {
    expect(() => agreementTable(['a'], ['q'], ['a', 'b'])).toThrow(/"q" is not one of a, b/);
  });
});
