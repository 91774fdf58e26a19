/**
 * What runs a job's analysis: its data (analysis-jobs.ts, plain JSON) with the user's token, turned back into the
 * pipeline's request. The engine — this process or a worker — supplies the model folder and the pipeline's stages, so
 * a queued job names neither.
 */
import { analyzeStudy, type AnalyzeDependencies } from '../pipeline/analyze-study';
import type { AnalysisRunner } from './analysis-jobs';

export function analysisRunner(modelDir: string, deps: AnalyzeDependencies): AnalysisRunner {
  return (data, accessToken, { signal, onProgress, beforeWriting }) =>
    analyzeStudy(
      {
        fhirBaseUrl: data.fhirBaseUrl,
        accessToken,
        imagingStudy: data.imagingStudy,
        modelDir,
        imagingOrigins: data.imagingOrigins,
        storeStructuredReport: data.storeStructuredReport,
        patientRestriction: data.patientRestriction,
        requestedBy: data.requestedBy,
        signal,
        onProgress,
        beforeWriting,
      },
      deps,
    );
}
