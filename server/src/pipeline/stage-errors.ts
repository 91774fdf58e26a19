/**
 * The one place where stage errors become HTTP errors: stages throw their own typed errors (they know no
 * HTTP); the API renders an OperationOutcome with the status that tells the user what to fix.
 */
import { DicomMetadataError } from '../dicom/dicom-json';
import { UnsupportedImageError } from '../dicom/decode-frame';
import { DicomFileError } from '../dicom/part10';
import { SeriesSelectionError } from '../dicom/select-series';
import { LevelAssignmentError } from '../dicom/stacks';
import { DicomwebRequestError } from '../dicomweb/dicomweb-retriever';
import { FhirRequestError } from '../fhir/fhir-client';
import { HttpError, unprocessable, upstream } from '../http/http-error';

export function stageErrorToHttpError(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (error instanceof FhirRequestError) return upstream('FHIR server', error.status, error.body);
  if (error instanceof DicomwebRequestError)
    return upstream(`DICOMweb server (${error.message})`, error.status, error.body);
  if (
    error instanceof DicomMetadataError ||
    error instanceof UnsupportedImageError ||
    error instanceof LevelAssignmentError ||
    error instanceof SeriesSelectionError ||
    error instanceof DicomFileError
  ) {
    return unprocessable(error.message);
  }
  return error;
}
