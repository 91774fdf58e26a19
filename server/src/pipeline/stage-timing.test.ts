/**
 * The stage times an analysis reports (the bench's per-stage medians, the metrics' stage durations): the zoomed passes
 * (candidate verification, box refinement) report their own preprocess, inference and postprocess, and the pipeline's
 * postprocess around them must not count them again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSyntheticStudy } from '../../../models/synthetic';
import { openModelSessions, type ModelSessions } from '../../../test/support/model-sessions';
import { generatedStudySource } from '../../../test/support/study-source';
import type { DetectorSession, RefineRequest } from '../inference/detector-session';
import { analyzeImages } from './analyze-images';

let models: ModelSessions<'default'>;

beforeAll(async () => {
  models = await openModelSessions('stage-timing', { default: { model: 'models/msu-ldh/1.8.0' } });
}, 60_000);

afterAll(() => models.release());

describe('stage times', () => {
  it('when the zoomed passes run, then the pipeline’s postprocess excludes their time', async () => {
    const session = models.sessions.default;
    expect(typeof session.verify).toBe('function');
    expect(typeof session.refine).toBe('function');
    /** Wall time of the zoomed passes; their own stage reports go to `inner`, not to the pipeline's timer. */
    let passesMs = 0;
    const inner: Record<string, number> = {};
    type Pass = NonNullable<DetectorSession['verify']>;
    const timedPass =
      (pass: Pass) =>
      async (requests: RefineRequest[]): Promise<Awaited<ReturnType<Pass>>> => {
        const start = performance.now();
        try {
          return await pass(requests, {
            onStage: (stage, ms) => {
              inner[stage] = (inner[stage] ?? 0) + ms;
            },
          });
        } finally {
          passesMs += performance.now() - start;
        }
      };
    const timed: DetectorSession = {
      ...session,
      verify: timedPass((requests, options) => session.verify?.(requests, options) ?? Promise.resolve([])),
      refine: timedPass((requests, options) => session.refine?.(requests, options) ?? Promise.resolve([])),
    };
    const study = generateSyntheticStudy({ seed: 1002, patientId: 'stage-timing' });
    const outer: Record<string, number> = {};
    await analyzeImages(generatedStudySource(study), study.studyInstanceUid, timed, {
      onStage: (stage, ms) => {
        outer[stage] = (outer[stage] ?? 0) + ms;
      },
    });
    expect(inner.inference ?? 0).toBeGreaterThan(0);
    // Before: the pipeline's postprocess was timed across the passes, so it was at least their whole wall time.
    expect(outer.postprocess ?? 0).toBeLessThan(passesMs);
  });
});
