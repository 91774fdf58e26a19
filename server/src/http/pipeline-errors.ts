/**
 * The API's reading of a PipelineError: its kind becomes the HTTP status and the OperationOutcome issue code.
 * An upstream failure keeps the upstream's 4xx status (401 expired token, 404 unknown study) and its
 * OperationOutcome behind a first issue a clinician can read; 5xx and no answer become 502 (`upstream` in
 * http-error.ts).
 */
import type { PipelineError } from '../pipeline/pipeline-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import {
  badRequest,
  conflict,
  forbidden,
  notFound,
  serviceBusy,
  tooCostly,
  unprocessable,
  upstream,
  type HttpError,
} from './http-error';

export function pipelineErrorToHttpError(error: PipelineError): HttpError {
  switch (error.kind) {
    case 'invalid-input':
      return badRequest(error.message);
    case 'not-found':
      return notFound(error.message);
    case 'unprocessable':
      return unprocessable(error.message);
    case 'forbidden':
      return forbidden(error.message);
    case 'conflict':
      return conflict(error.message);
    case 'cancelled':
      // A cancelled analysis conflicts with the request that waited for it (RFC 9110 §15.5.10): it was stopped.
      return conflict(error.message);
    case 'too-large':
      return tooCostly(error.message);
    case 'busy':
      return serviceBusy(error.message, error.retryAfterSeconds ?? 5);
    case 'upstream': {
      const cause = error.cause instanceof UpstreamRequestError ? error.cause : undefined;
      return upstream(error.upstream?.service ?? 'upstream server', error.upstream?.status, error.upstream?.body, {
        // The FHIR client writes its messages for the clinician (fhir/fhir-client.ts); DICOMweb's are for engineers.
        ...(cause?.service === 'FHIR' ? { summary: cause.message } : {}),
        ...(cause?.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: cause.retryAfterSeconds }),
      });
    }
  }
}
