/** Reads the stored analysis of an ImagingStudy (GET /api/analyses): no DICOM, no model. */
import type { ImagingStudy } from 'fhir/r4';
import { readStoredFindings, type StoredAnalysis } from '../fhir/read-findings';
import { notFound } from '../http/http-error';
import type { AnalyzeDependencies } from './analyze-study';
import { studyInstanceUidOf } from './imaging-study';
import { stageErrorToHttpError } from './stage-errors';

export async function readAnalysis(
  request: { fhirBaseUrl: string; accessToken: string; imagingStudy: string },
  deps: Pick<AnalyzeDependencies, 'fhirClient'>,
): Promise<StoredAnalysis> {
  try {
    const fhir = deps.fhirClient(request.fhirBaseUrl, request.accessToken);
    const study = await fhir.read<ImagingStudy>(request.imagingStudy);
    const stored = await readStoredFindings(fhir, {
      reference: request.imagingStudy,
      subject: study.subject,
      studyInstanceUid: studyInstanceUidOf(study),
    });
    if (!stored) throw notFound(`No ldh-cds analysis is stored for ${request.imagingStudy}`);
    return stored;
  } catch (error) {
    throw stageErrorToHttpError(error);
  }
}
