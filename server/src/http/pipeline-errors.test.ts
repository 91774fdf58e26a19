/**
 * What the API answers when a study is too large or the server is at capacity: 422 naming the limit and its key;
 * 503 with Retry-After for a full decode or inference queue; a frame that decodes too long is the study's fault (422),
 * not the server's (500).
 */
import { describe, expect, it } from 'vitest';
import { DecodeQueueFullError, DecodeTimeoutError } from '../dicom/decode-pool';
import { StudyLimitError } from '../dicom/study-limits';
import { BatchQueueFullError } from '../inference/batch-queue';
import { PipelineError, toPipelineError } from '../pipeline/pipeline-error';
import { pipelineErrorToHttpError } from './pipeline-errors';

const asHttp = (error: Error) => pipelineErrorToHttpError(toPipelineError(error) as PipelineError);

describe('pipelineErrorToHttpError', () => {
  it('when the study exceeds a limit, then 422 too-costly with the limit, the value and the config key', () => {
    const http = asHttp(new StudyLimitError('instancesPerSeries', 2345, 2000));
    expect(http.status).toBe(422);
    expect(http.outcome.issue[0]).toEqual({
      severity: 'error',
      code: 'too-costly',
      diagnostics:
        'The study is larger than ldh-cds accepts: 2,345 instances in one series, more than the limit of 2,000 (MAX_INSTANCES_PER_SERIES).',
    });
  });

  it('when the decode queue or the inference queue is full, then 503 transient with Retry-After', () => {
    const decode = asHttp(new DecodeQueueFullError('The image decoder is busy', 5));
    expect(decode.status).toBe(503);
    expect(decode.headers).toEqual({ 'Retry-After': '5' });
    expect(decode.outcome.issue[0]).toMatchObject({ code: 'transient', diagnostics: 'The image decoder is busy' });
    const inference = asHttp(new BatchQueueFullError('The model is busy', 10));
    expect(inference.status).toBe(503);
    expect(inference.headers).toEqual({ 'Retry-After': '10' });
  });

  it('when a frame took longer than the decode time limit, then 422 naming it (before: 500 Internal server error)', () => {
    const http = asHttp(new DecodeTimeoutError('decoding a 256×256 frame took longer than 20 s and was stopped'));
    expect(http.status).toBe(422);
    expect(http.outcome.issue[0]?.diagnostics).toMatch(/took longer than 20 s/);
  });
});
