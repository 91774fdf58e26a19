/**
 * How far an analysis has got, as the pipeline reports it while it runs (issue 23): a stage, with a count where the
 * stage has one (images retrieved and decoded, slices through the model), and the line a clinician reads for it.
 * The job engines (jobs/) publish it; a command line may print it.
 *
 * The first writing stage is the point of no return: the pipeline checks its cancel signal for the last time in the
 * same turn of the event loop as it reports `writing-sr` (the DICOM SR stored in the PACS) or `writing-fhir`, so an
 * engine that refuses to cancel from that report on can never have cancelled an analysis that then writes.
 */

/** In order: an analysis passes through these, skipping `writing-sr` when the SR is not stored in the PACS. */
export const ANALYSIS_STAGES = [
  'queued',
  'finding-series',
  'retrieving',
  'decoding',
  'inferring',
  'writing-sr',
  'writing-fhir',
] as const;

export type AnalysisStage = (typeof ANALYSIS_STAGES)[number];

export interface AnalysisProgress {
  stage: AnalysisStage;
  /** Images retrieved or decoded, slices inferred so far (of `total`). */
  done?: number;
  total?: number;
}

export type ProgressListener = (progress: AnalysisProgress) => void;

/** From these stages on the analysis writes to the PACS or the EHR, and can no longer be cancelled. */
export function isWritingStage(stage: AnalysisStage): boolean {
  return stage === 'writing-sr' || stage === 'writing-fhir';
}

const STAGE_TEXT: Record<AnalysisStage, string> = {
  queued: 'Waiting to start',
  'finding-series': 'Finding the lumbar series',
  retrieving: 'Retrieving images',
  decoding: 'Decoding images',
  inferring: 'Analyzing slices',
  'writing-sr': 'Storing the structured report in the PACS',
  'writing-fhir': 'Writing the results to the EHR',
};

/** The clinician's line for a stage: "Retrieving images 12/40", "Finding the lumbar series". */
export function progressText({ stage, done, total }: AnalysisProgress): string {
  const text = STAGE_TEXT[stage];
  return done !== undefined && total !== undefined ? `${text} ${done}/${total}` : text;
}
