/**
 * The API's reading of a PipelineError: its kind becomes the HTTP status and the OperationOutcome issue code.
 * An upstream failure keeps the upstream's 4xx status (401 expired token, 404 unknown study) and its
 * OperationOutcome; 5xx and no answer become 502 (`upstream` in http-error.ts).
 */
import type { PipelineError } from '../pipeline/pipeline-error';
import { badRequest, notFound, unprocessable, upstream, type HttpError } from './http-error';

export function pipelineErrorToHttpError(error: PipelineError): HttpError {
  switch (error.kind) {
    case 'invalid-input':
      return badRequest(error.message);
    case 'not-found':
      return notFound(error.message);
    case 'unprocessable':
      return unprocessable(error.message);
    case 'upstream':
      return upstream(error.upstream?.service ?? 'upstream server', error.upstream?.status, error.upstream?.body);
  }
}
