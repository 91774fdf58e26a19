/**
 * The seeded subset of the DICOM fuzzer that CI runs (`npm run fuzz` runs 5,000 and more): 500 mutated files through
 * the decoder and the pipeline, no crash, no hang, no unclassified error, no non-finite output, every file with a
 * reason — within a time budget that keeps `npm test` under 20 minutes on two cores.
 */
import { describe, expect, it } from 'vitest';
import { formatReport, runFuzz } from './run-fuzz';

const FILES = 500;
/** Measured on the 2-core CI machine beside the other test files: see the README's `npm run fuzz`. */
const BUDGET_MS = 8 * 60_000;

describe('DICOM fuzzing, a seeded subset', () => {
  it(
    `when ${FILES} mutated files go through the decoder and the pipeline, then none crashes, hangs or fails unclassified, and each has a reason`,
    async () => {
      const report = await runFuzz({ files: FILES, seed: 1, workers: 2, timeLimitMs: BUDGET_MS });
      console.log(formatReport(report));
      expect(report.failures, formatReport(report)).toEqual([]);
      expect(report.files).toBe(FILES);
      expect(report.stoppedByTimeLimit).toBe(false);
      expect(report.totals.accepted + report.totals.refused).toBe(FILES);
      const reasons = report.reasons.filter((group) => group.stage === 'pipeline');
      expect(reasons.reduce((sum, group) => sum + group.count, 0)).toBe(FILES);
      // Some files get through whole: the mutations do not only break the files at the first byte.
      expect(report.totals.accepted).toBeGreaterThan(FILES / 10);
    },
    BUDGET_MS + 2 * 60_000,
  );
});
