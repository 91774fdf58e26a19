/**
 * Progress and cancel of the imaging half (issue 23), on the phantom study with the tiny model, for real: the stages
 * come in order with counts that only move forward and end at the total; a cancel during retrieval sends no further
 * request and never reaches the model; a cancel while slices wait for the model stops it after the run in progress.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { TINY_MODEL_DIR } from '../../../models/tiny/tiny-model';
import { readPart10 } from '../dicom/part10';
import { createDetectorSession, type DetectorSession } from '../inference/detector-session';
import { ANALYSIS_STAGES, progressText, type AnalysisProgress } from './analysis-progress';
import { analyzeImages, type StudySource } from './analyze-images';
import { part10StudySource } from './folder-source';

const study = generatePhantomStudy({ seed: 7, patientId: 'PROGRESS' });
const source = (): StudySource => part10StudySource(study.instances.map((instance) => readPart10(instance.part10)));

let detector: DetectorSession;
/** One slice per run: a cancel has many runs to cut short. */
let slowDetector: DetectorSession;
beforeAll(async () => {
  detector = await createDetectorSession(TINY_MODEL_DIR, undefined, { executionProvider: 'cpu', batchSize: 4 });
  slowDetector = await createDetectorSession(TINY_MODEL_DIR, undefined, { executionProvider: 'cpu', batchSize: 1 });
}, 60_000);

describe('progressText', () => {
  it('when a stage has a count, then the line carries it; otherwise the stage alone', () => {
    expect(progressText({ stage: 'retrieving', done: 12, total: 40 })).toBe('Retrieving images 12/40');
    expect(progressText({ stage: 'finding-series' })).toBe('Finding the lumbar series');
    expect(progressText({ stage: 'writing-fhir' })).toBe('Writing the results to the EHR');
  });
});

describe('analyzeImages with onProgress', () => {
  it('when a study is analyzed, then the stages come in order and each count moves forward to its total', async () => {
    const seen: AnalysisProgress[] = [];
    const { slices } = await analyzeImages(source(), study.studyInstanceUid, detector, {
      onProgress: (progress) => seen.push(progress),
    });
    const stages = seen.map((progress) => progress.stage).filter((stage, i, all) => stage !== all[i - 1]);
    expect(stages).toEqual(['finding-series', 'retrieving', 'decoding', 'inferring']);
    expect(stages.map((stage) => ANALYSIS_STAGES.indexOf(stage))).toEqual(
      [...stages.map((stage) => ANALYSIS_STAGES.indexOf(stage))].sort((a, b) => a - b),
    );
    for (const stage of ['retrieving', 'decoding', 'inferring'] as const) {
      const counts = seen.filter((progress) => progress.stage === stage);
      expect(
        counts.every((progress) => progress.total === slices),
        stage,
      ).toBe(true);
      const done = counts.map((progress) => progress.done ?? -1);
      expect(done, stage).toEqual([...done].sort((a, b) => a - b));
      expect(done[0], stage).toBe(0);
      expect(done.at(-1), stage).toBe(slices);
      // The count moves in between, not only at the start and the end.
      expect(new Set(done).size, stage).toBeGreaterThan(2);
    }
  });
});

describe('analyzeImages with a signal', () => {
  it('when it is cancelled during retrieval, then no further frame request is made, the model is never run, and it rejects with the reason', async () => {
    const inner = source();
    const cancel = new AbortController();
    let frameRequests = 0;
    let requestsAfterCancel = 0;
    const held: StudySource = {
      ...inner,
      retrieveFrames: async (...args) => {
        if (cancel.signal.aborted) requestsAfterCancel++;
        frameRequests++;
        // The third axial instance's request: cancel while it is in flight.
        if (frameRequests === 3) cancel.abort(new Error('cancelled by the user'));
        await new Promise((resolve) => setTimeout(resolve, 5));
        return inner.retrieveFrames(...args);
      },
    };
    let detections = 0;
    const counting: DetectorSession = {
      ...detector,
      detect: (...args) => {
        detections++;
        return detector.detect(...args);
      },
    };
    await expect(
      analyzeImages(held, study.studyInstanceUid, counting, { signal: cancel.signal, onProgress: () => undefined }),
    ).rejects.toThrow('cancelled by the user');
    expect(requestsAfterCancel).toBe(0);
    expect(detections).toBe(0);
  });

  it('when it is cancelled while slices wait for the model, then the model stops after the run in progress', async () => {
    const cancel = new AbortController();
    let total = 0;
    const runsBefore = slowDetector.stats?.().runs ?? 0;
    await expect(
      analyzeImages(source(), study.studyInstanceUid, slowDetector, {
        signal: cancel.signal,
        onProgress: (progress) => {
          total = progress.total ?? total;
          if (progress.stage === 'inferring' && progress.done === 1) cancel.abort(new Error('cancelled by the user'));
        },
      }),
    ).rejects.toThrow('cancelled by the user');
    // Let a run that was under way finish; none may start after it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const runs = (slowDetector.stats?.().runs ?? 0) - runsBefore;
    expect(total).toBeGreaterThan(4);
    expect(runs).toBeLessThanOrEqual(2);
  });
});
