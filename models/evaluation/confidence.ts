/**
 * Confidence intervals: Wilson score intervals for proportions (sensitivity, specificity, recall, agreement),
 * percentile bootstrap for statistics without a closed form (AC1, kappa, mean IoU). The bootstrap is seeded so a
 * report is reproducible.
 */

/** z for a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

export type Interval = [number, number];

export function wilsonInterval(successes: number, trials: number, z = Z95): Interval {
  if (trials === 0) return [Number.NaN, Number.NaN];
  const p = successes / trials;
  const denominator = 1 + (z * z) / trials;
  const centre = (p + (z * z) / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** mulberry32: small, fast, seedable; enough for resampling indices. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Percentile bootstrap over items: resamples item indices with replacement `iterations` times, evaluates
 * `statistic` on each resample and returns the 2.5th and 97.5th percentiles (NaN resamples are dropped).
 */
export function bootstrapInterval(
  itemCount: number,
  statistic: (indices: number[]) => number,
  options: { iterations?: number; seed?: number } = {},
): Interval {
  if (itemCount === 0) return [Number.NaN, Number.NaN];
  const random = seededRandom(options.seed ?? 20240403);
  const values: number[] = [];
  for (let iteration = 0; iteration < (options.iterations ?? 1000); iteration++) {
    const indices = Array.from({ length: itemCount }, () => Math.floor(random() * itemCount));
    const value = statistic(indices);
    if (!Number.isNaN(value)) values.push(value);
  }
  if (values.length === 0) return [Number.NaN, Number.NaN];
  values.sort((a, b) => a - b);
  const at = (q: number): number =>
    values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))] ?? Number.NaN;
  return [at(0.025), at(0.975)];
}
