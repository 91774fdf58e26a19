/**
 * What runs a job's analysis: its data (analysis-jobs.ts, plain JSON) with the user's token, turned back into the
 * pipeline's request. The engine — this process or a worker — supplies the model folder and the pipeline's stages, so
 * a queued job names neither; with `metrics`, each stage the analysis reports is timed (job-metrics.ts).
 */
import { analyzeStudy, type AnalyzeDependencies } from '../pipeline/analyze-study';
import type { AnalysisRunner } from './analysis-jobs';
import { stageTimer, type JobMetrics } from './job-metrics';

export function analysisRunner(modelDir: string, deps: AnalyzeDependencies, metrics?: JobMetrics): AnalysisRunner {
  return async (data, accessToken, { signal, onProgress, beforeWriting }) => {
    const stages = metrics ? stageTimer(metrics, onProgress) : undefined;
    const result = await analyzeStudy(
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
        onProgress: stages?.onProgress ?? onProgress,
        beforeWriting,
      },
      deps,
    );
    stages?.completed();
    return result;
  };
}
