/** Reads the stored analysis of an ImagingStudy (GET /api/analyses): no DICOM, no model. */
import type { ImagingStudy } from 'fhir/r4';
import { readStoredFindings, type StoredAnalysis } from '../fhir/read-findings';
import type { AnalyzeDependencies } from './analyze-study';
import { studyInstanceUidOf } from './imaging-study';
import { PipelineError, toPipelineError } from './pipeline-error';

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
    if (!stored) throw new PipelineError('not-found', `No ldh-cds analysis is stored for ${request.imagingStudy}`);
    return stored;
  } catch (error) {
    throw toPipelineError(error);
  }
}
