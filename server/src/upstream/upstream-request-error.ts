/**
 * A request to an upstream server that failed: the EHR's FHIR server or a PACS's DICOMweb service. Like
 * fhirclient's HttpError it keeps the upstream status (undefined when there was no answer: network error,
 * timeout, a malformed answer) and the parsed body, so the caller can pass the real cause on.
 *
 * The one error type of both retrieval stages (`fhir/`, `dicomweb/`); it knows no HTTP API of ours — the
 * pipeline classifies it (pipeline/pipeline-error.ts) and the API turns that into a status (http/).
 */
export type UpstreamService = 'FHIR' | 'DICOMweb';

export interface UpstreamRequestDetails {
  /** How many times the request was sent (1 when it was not repeated). */
  attempts?: number;
  /** How long the upstream asked us to wait (its Retry-After), when it said so. */
  retryAfterSeconds?: number;
}

export class UpstreamRequestError extends Error {
  readonly service: UpstreamService;
  readonly status: number | undefined;
  readonly body: unknown;
  readonly attempts: number;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    service: UpstreamService,
    message: string,
    status: number | undefined,
    body: unknown,
    details: UpstreamRequestDetails = {},
  ) {
    super(message);
    this.name = 'UpstreamRequestError';
    this.service = service;
    this.status = status;
    this.body = body;
    this.attempts = details.attempts ?? 1;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}
