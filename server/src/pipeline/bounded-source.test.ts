/**
 * The study limits, held by the source an analysis reads through: each limit refuses with a StudyLimitError naming
 * the limit, the value and the config key, on the metadata before anything is retrieved and again on the bytes; the
 * API answers it 422 (too-costly).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../../models/synthetic';
import { TAGS, type DicomJson } from '../dicom/dicom-json';
import { readPart10 } from '../dicom/part10';
import { DEFAULT_STUDY_LIMITS, StudyLimitError, type StudyLimits } from '../dicom/study-limits';
import { pipelineErrorToHttpError } from '../http/pipeline-errors';
import { createDetectorSession, type DetectorSession } from '../inference/detector-session';
import { analyzeImages, type StudySource } from './analyze-images';
import { boundedStudySource } from './bounded-source';
import { part10StudySource } from './folder-source';
import { PipelineError, toPipelineError } from './pipeline-error';

const study = generatePhantomStudy({ seed: 22, patientId: 'LIMITS' });
const objects = study.instances.map((instance) => readPart10(instance.part10));
const studyUid = study.studyInstanceUid;
const seriesUid = study.seriesInstanceUid;

/** The phantom study, with `edit` applied to every instance's metadata and `requests` counting frame requests. */
function phantomSource(edit: (meta: DicomJson) => DicomJson = (meta) => meta): StudySource & { requests: number } {
  const inner = part10StudySource(objects);
  const source = {
    requests: 0,
    searchForSeries: (study: string) => inner.searchForSeries(study),
    retrieveSeriesMetadata: async (study: string, series: string) =>
      (await inner.retrieveSeriesMetadata(study, series)).map(edit),
    retrieveFrames: (...args: Parameters<StudySource['retrieveFrames']>) => {
      source.requests++;
      return inner.retrieveFrames(...args);
    },
  };
  return source;
}

const limits = (overrides: Partial<StudyLimits>): StudyLimits => ({ ...DEFAULT_STUDY_LIMITS, ...overrides });
const sop = (i: number): string => objects[i]?.dataset[TAGS.SOPInstanceUID]?.Value?.[0] as string;

async function refusal(promise: Promise<unknown>): Promise<StudyLimitError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StudyLimitError);
  return error as StudyLimitError;
}

describe('boundedStudySource', () => {
  it('when the study has more series than allowed, then the series search is refused naming MAX_SERIES_PER_STUDY', async () => {
    const error = await refusal(
      boundedStudySource(phantomSource(), limits({ seriesPerStudy: 0 })).searchForSeries(studyUid),
    );
    expect(error.message).toBe(
      'The study is larger than ldh-cds accepts: 1 series in the study, more than the limit of 0 (MAX_SERIES_PER_STUDY).',
    );
  });

  it('when a series has more instances than allowed, then its metadata is refused naming MAX_INSTANCES_PER_SERIES', async () => {
    const source = boundedStudySource(phantomSource(), limits({ instancesPerSeries: 10 }));
    const error = await refusal(source.retrieveSeriesMetadata(studyUid, seriesUid));
    expect(error).toMatchObject({
      limit: 'instancesPerSeries',
      value: 15,
      max: 10,
      configKey: 'MAX_INSTANCES_PER_SERIES',
    });
  });

  it('when an instance claims NumberOfFrames = 3e8, then the metadata is refused before anything is allocated per frame', async () => {
    const absurd = phantomSource((meta) => ({ ...meta, [TAGS.NumberOfFrames]: { vr: 'IS', Value: [300_000_000] } }));
    const error = await refusal(
      boundedStudySource(absurd, DEFAULT_STUDY_LIMITS).retrieveSeriesMetadata(studyUid, seriesUid),
    );
    expect(error.message).toMatch(
      /300,000,000 frames in one instance, more than the limit of 2,000 \(MAX_FRAMES_PER_INSTANCE\)/,
    );
  });

  it('when the series together hold more frames than allowed, then it is refused naming MAX_FRAMES_PER_STUDY', async () => {
    const source = boundedStudySource(phantomSource(), limits({ framesPerStudy: 14 }));
    const error = await refusal(source.retrieveSeriesMetadata(studyUid, seriesUid));
    expect(error).toMatchObject({ value: 15, configKey: 'MAX_FRAMES_PER_STUDY' });
  });

  it('when a frame has more pixels than allowed, then it is refused before it is requested', async () => {
    const inner = phantomSource();
    const source = boundedStudySource(inner, limits({ pixelsPerFrame: 256 * 255 }));
    await source.retrieveSeriesMetadata(studyUid, seriesUid);
    const error = await refusal(source.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(0), frame: 1 }]));
    expect(error.message).toMatch(
      /65,536 pixels \(Rows × Columns\) in one frame, more than the limit of 65,280 \(MAX_PIXELS_PER_FRAME\)/,
    );
    expect(inner.requests).toBe(0);
  });

  it('when the frames asked for would exceed the study bytes uncompressed, then nothing is requested', async () => {
    const inner = phantomSource();
    const source = boundedStudySource(inner, limits({ bytesPerStudy: 3 * 256 * 256 * 2 - 1 }));
    await source.retrieveSeriesMetadata(studyUid, seriesUid);
    const three = [0, 1, 2].map((i) => ({ sopInstanceUid: sop(i), frame: 1 }));
    const error = await refusal(source.retrieveFrames(studyUid, seriesUid, three));
    expect(error).toMatchObject({ configKey: 'MAX_BYTES_PER_STUDY', value: 3 * 256 * 256 * 2 });
    expect(inner.requests).toBe(0);
  });

  it('when the bytes received exceed a limit without metadata to foresee it, then they are refused on arrival', async () => {
    // No metadata read first: only the bytes received can be checked.
    const perFrame = boundedStudySource(phantomSource(), limits({ bytesPerFrame: 1000 }));
    const frameError = await refusal(
      perFrame.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(0), frame: 1 }]),
    );
    expect(frameError).toMatchObject({ value: 256 * 256 * 2, configKey: 'MAX_BYTES_PER_FRAME' });
    const perStudy = boundedStudySource(phantomSource(), limits({ bytesPerStudy: 256 * 256 * 2 * 2 }));
    await perStudy.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(0), frame: 1 }]);
    // A re-request of the same frame counts too: the budget is the study's, not the request's.
    await perStudy.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(0), frame: 1 }]);
    const studyError = await refusal(
      perStudy.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(1), frame: 1 }]),
    );
    expect(studyError).toMatchObject({ configKey: 'MAX_BYTES_PER_STUDY' });
    const perInstance = boundedStudySource(phantomSource(), limits({ bytesPerInstance: 256 * 256 * 2 * 2 - 1 }));
    await perInstance.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(0), frame: 1 }]);
    const instanceError = await refusal(
      perInstance.retrieveFrames(studyUid, seriesUid, [{ sopInstanceUid: sop(0), frame: 1 }]),
    );
    expect(instanceError).toMatchObject({ configKey: 'MAX_BYTES_PER_INSTANCE' });
  });
});

describe('an analysis of a study beyond a limit', () => {
  let detector: DetectorSession;
  beforeAll(async () => {
    detector = await createDetectorSession('models/msu-ldh-phantom/0.1.0', undefined, { executionProvider: 'cpu' });
  });

  it('when an instance claims 3e8 frames, then the analysis stops with a 422 naming the limit, the value and the key', async () => {
    const absurd = phantomSource((meta) =>
      meta[TAGS.SOPInstanceUID]?.Value?.[0] === sop(3)
        ? { ...meta, [TAGS.NumberOfFrames]: { vr: 'IS', Value: ['300000000'] } }
        : meta,
    );
    const error = toPipelineError(await analyzeImages(absurd, studyUid, detector).catch((e: unknown) => e));
    expect(error).toBeInstanceOf(PipelineError);
    const http = pipelineErrorToHttpError(error as PipelineError);
    expect(http.status).toBe(422);
    expect(http.outcome.issue[0]).toMatchObject({
      code: 'too-costly',
      diagnostics:
        'The study is larger than ldh-cds accepts: 300,000,000 frames in one instance, more than the limit of 2,000 (MAX_FRAMES_PER_INSTANCE).',
    });
    expect(absurd.requests).toBe(0);
  });

  it('when the study is within the limits, then it is analyzed as before', async () => {
    const analysis = await analyzeImages(phantomSource(), studyUid, detector);
    expect(analysis.slices).toBe(15);
  });
});
