/**
 * The pipeline's one error type: what went wrong, in the words a user can act on, and of which kind. The stages
 * throw their own typed errors and know no HTTP; `toPipelineError` is the one place that classifies them, and the
 * API (http/pipeline-errors.ts) the one place that turns a kind into an HTTP status and an OperationOutcome.
 */
import { DicomMetadataError } from '../dicom/dicom-json';
import { UnsupportedImageError } from '../dicom/decode-frame';
import { DecodeQueueFullError, DecodeTimeoutError } from '../dicom/decode-pool';
import { DicomFileError } from '../dicom/part10';
import { StudyLimitError } from '../dicom/study-limits';
import { BatchQueueFullError } from '../inference/batch-queue';
import { SeriesSelectionError } from '../dicom/select-series';
import { LevelAssignmentError } from '../dicom/stacks';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { FhirRequestRefusedError } from '../fhir/fhir-client';

/**
 * - `invalid-input`: the request itself is wrong (a malformed ImagingStudy reference);
 * - `not-found`: what was asked for does not exist (no stored analysis);
 * - `unprocessable`: the request is well-formed but the study cannot be analyzed (no endpoint, unsupported image,
 *   no axial T2 series, levels that cannot be assigned…);
 * - `upstream`: the FHIR or DICOMweb server failed; `upstream` keeps its status and body;
 * - `forbidden`: the session may not do this (a review without a signed-in practitioner);
 * - `conflict`: the record changed since the user read it (a review of a report someone else changed meanwhile);
 * - `too-large`: the study exceeds a configured limit (dicom/study-limits.ts): the message names the limit, the
 *   value and the configuration key;
 * - `busy`: the server is at capacity (a full decode or inference queue): nothing is wrong with the request, try
 *   again after `retryAfterSeconds`;
 * - `cancelled`: the analysis was cancelled (its job's DELETE) before it wrote anything, and wrote nothing.
 */
export type PipelineErrorKind =
  | 'invalid-input'
  | 'not-found'
  | 'unprocessable'
  | 'upstream'
  | 'forbidden'
  | 'conflict'
  | 'too-large'
  | 'busy'
  | 'cancelled';

export interface UpstreamFailure {
  /** Which server, as the user should read it: `FHIR server`, `DICOMweb server (<what failed>)`. */
  service: string;
  /** Its HTTP status; undefined when it did not answer. */
  status: number | undefined;
  body: unknown;
}

export class PipelineError extends Error {
  readonly kind: PipelineErrorKind;
  readonly upstream: UpstreamFailure | undefined;
  /** `busy`: how long to wait before trying again. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: PipelineErrorKind,
    message: string,
    options: { upstream?: UpstreamFailure; cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.kind = kind;
    this.upstream = options.upstream;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A stage's error as a PipelineError of its kind; anything else (a bug, a model that will not load) unchanged. */
export function toPipelineError(error: unknown): unknown {
  if (error instanceof PipelineError) return error;
  if (error instanceof UpstreamRequestError) {
    const service = error.service === 'FHIR' ? 'FHIR server' : `DICOMweb server (${error.message})`;
    return new PipelineError('upstream', error.message, {
      upstream: { service, status: error.status, body: error.body },
      cause: error,
    });
  }
  if (error instanceof StudyLimitError) return new PipelineError('too-large', error.message, { cause: error });
  if (error instanceof DecodeQueueFullError || error instanceof BatchQueueFullError) {
    return new PipelineError('busy', error.message, { cause: error, retryAfterSeconds: error.retryAfterSeconds });
  }
  if (
    error instanceof DicomMetadataError ||
    error instanceof DecodeTimeoutError ||
    error instanceof UnsupportedImageError ||
    error instanceof LevelAssignmentError ||
    error instanceof SeriesSelectionError ||
    error instanceof DicomFileError ||
    error instanceof FhirRequestRefusedError
  ) {
    return new PipelineError('unprocessable', error.message, { cause: error });
  }
  return error;
}
