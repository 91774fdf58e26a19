/**
 * The one place that composes the stages of an analysis (MONAI-Deploy style chain):
 * ImagingStudy + Endpoint (FHIR) → series search, metadata, frames (DICOMweb) → geometry, stacks, levels,
 * decoding (DICOM) → detector + MSU rules (inference) → DICOM SR (sr; STOW-RS to the PACS when enabled) → FHIR
 * transaction → the stored result read back.
 *
 * Re-analysis never contradicts the record (docs/fhir-mapping.md §Re-analysis): when the EHR already holds this model
 * version's report on the study, that report is the answer and nothing is computed or written; a new model version
 * supersedes an earlier AI report still awaiting review, never a signed one.
 *
 * An analysis reports its progress (analysis-progress.ts) and can be cancelled by its AbortSignal until it starts to
 * write: the signal is checked for the last time in the turn that reports the first writing stage, so a cancelled
 * analysis writes nothing — no SR in the PACS, no FHIR resource — and ends with a PipelineError of kind `cancelled`.
 */
import { createDecodePool, inThreadDecoder, type DecodePoolOptions, type FrameDecoder } from '../dicom/decode-pool';
import type { ImagingStudy, Patient } from 'fhir/r4';
import type { AppConfig } from '../config';
import {
  createDicomwebRetriever,
  type DicomwebRetriever,
  type DicomwebRetrieverOptions,
} from '../dicomweb/dicomweb-retriever';
import { createFhirClient, referenceToRelative, type FhirClient } from '../fhir/fhir-client';
import {
  currentReport,
  findStoredReports,
  isSignedReport,
  isWithdrawnReport,
  readAnalysisResources,
  readStoredAnalysis,
  type StoredAnalysis,
  type StoredReport,
  type StudyOfReports,
} from '../fhir/read-findings';
import { writeFindings, type SupersededAnalysis } from '../fhir/write-findings';
import type { StudyLimits } from '../dicom/study-limits';
import { structuredReportToFindings } from '../sr/read-structured-report';
import { structuredReportOrWarning } from './structured-report';
import {
  getDetectorSession,
  type DetectorOptions,
  type DetectorSession,
  type InferenceLog,
} from '../inference/detector-session';
import type { ModelRef } from '../findings/findings';
import type { AnalysisStage, ProgressListener } from './analysis-progress';
import { analyzeImages, type PipelineStage } from './analyze-images';
import { dicomwebBaseOf, studyInstanceUidOf } from './imaging-study';
import { assertOwnPatient, patientIdOfSubject, withImagesOfPatient, type PatientRestriction } from './patient-match';
import { PipelineError, toPipelineError } from './pipeline-error';

export interface AnalyzeRequest {
  fhirBaseUrl: string;
  accessToken: string;
  imagingStudy: string;
  modelDir: string;
  /** Origins the DICOMweb endpoint may be on: the imaging origins configured for this EHR (EHRS_FILE). */
  imagingOrigins: readonly string[];
  /** Also store the DICOM SR in the study's PACS by STOW-RS (config SR_STOW). */
  storeStructuredReport?: boolean;
  /** A patient-scoped token's patient: the study must be theirs (patient-match.ts). */
  patientRestriction?: PatientRestriction | undefined;
  /** Cancels the analysis until it starts writing (then it is ignored: a write is never left half done). */
  signal?: AbortSignal | undefined;
  /** The stages and counts as they move (analysis-progress.ts). */
  onProgress?: ProgressListener | undefined;
  /**
   * Awaited once, just before the first write (the SR's STOW-RS or the FHIR transaction): a job engine whose cancel
   * comes from another process settles there whether the analysis may write, and aborts `signal` if it may not
   * (jobs/bullmq-worker.ts). The signal is then looked at in the same turn as the first writing stage is reported.
   */
  beforeWriting?: (() => Promise<void>) | undefined;
  /** Who asked for the analysis: the verified user's `fhirUser`, recorded in the AI Provenance as its enterer. */
  requestedBy?: string | undefined;
}

/** What opening a study needs: who asks, on which EHR, with which model. */
export type StudyRequest = Pick<
  AnalyzeRequest,
  'fhirBaseUrl' | 'accessToken' | 'imagingStudy' | 'modelDir' | 'patientRestriction'
>;

export interface AnalyzeResult extends StoredAnalysis {
  /** False when the EHR already held this model version's analysis and it was returned as stored. */
  created: boolean;
  /** The earlier AI report this analysis superseded (`DiagnosticReport/<id>`). */
  superseded?: string;
  /** The SR's SOP Instance UID and whether the PACS accepted it (STOW-RS), when an SR was written. */
  structuredReportUid?: string;
  structuredReportInPacs?: boolean;
}

/** Seams for tests; production uses the real stages. */
export interface AnalyzeDependencies {
  fhirClient: (baseUrl: string, accessToken: string) => FhirClient;
  /** The signal, where given, aborts the retriever's requests (a cancelled analysis). */
  dicomweb: (baseUrl: string, accessToken: string, signal?: AbortSignal) => DicomwebRetriever;
  detector: (modelDir: string) => Promise<DetectorSession>;
  /** Frame decoding: a worker pool in the app (startAppServer owns and closes it), in-thread by default. */
  decoder: FrameDecoder;
  /** What one study may ask of us (config MAX_*); default dicom/study-limits.ts DEFAULT_STUDY_LIMITS. */
  limits?: StudyLimits;
  log: InferenceLog;
  now: () => Date;
}

export interface PipelineOptions {
  detector?: DetectorOptions;
  decode?: DecodePoolOptions;
  dicomweb?: Omit<DicomwebRetrieverOptions, 'accessToken' | 'basicAuth'>;
  limits?: StudyLimits;
}

/** The pipeline settings of the app's config (INFERENCE_*, DICOMWEB_*). */
export function pipelineOptionsFromConfig(config: AppConfig): PipelineOptions {
  return {
    detector: {
      executionProvider: config.INFERENCE_EP,
      batchSize: config.INFERENCE_BATCH,
      queueDepth: config.INFERENCE_QUEUE_DEPTH,
    },
    dicomweb: {
      timeoutMs: config.DICOMWEB_TIMEOUT_MS,
      concurrency: config.DICOMWEB_CONCURRENCY,
      retries: config.DICOMWEB_RETRIES,
    },
    decode: {
      threads: config.DECODE_THREADS,
      frameTimeoutMs: config.DECODE_FRAME_TIMEOUT_MS,
      maxQueue: config.DECODE_QUEUE_DEPTH,
    },
    limits: {
      seriesPerStudy: config.MAX_SERIES_PER_STUDY,
      instancesPerSeries: config.MAX_INSTANCES_PER_SERIES,
      framesPerInstance: config.MAX_FRAMES_PER_INSTANCE,
      framesPerStudy: config.MAX_FRAMES_PER_STUDY,
      pixelsPerFrame: config.MAX_PIXELS_PER_FRAME,
      bytesPerFrame: config.MAX_BYTES_PER_FRAME,
      bytesPerInstance: config.MAX_BYTES_PER_INSTANCE,
      bytesPerStudy: config.MAX_BYTES_PER_STUDY,
    },
  };
}

/** The decoder the options ask for: a worker pool (close it when done), or in-thread when threads = 0. */
export function decoderFor(options: DecodePoolOptions = {}): FrameDecoder {
  return options.threads === 0 ? inThreadDecoder : createDecodePool(options);
}

export function defaultDependencies(log: InferenceLog, options: PipelineOptions = {}): AnalyzeDependencies {
  return {
    fhirClient: (baseUrl, token) => createFhirClient(baseUrl, token),
    dicomweb: (baseUrl, token, signal) =>
      createDicomwebRetriever(baseUrl, { ...options.dicomweb, accessToken: token, ...(signal ? { signal } : {}) }),
    detector: (modelDir) => getDetectorSession(modelDir, log, options.detector),
    decoder: inThreadDecoder,
    ...(options.limits ? { limits: options.limits } : {}),
    log,
    now: () => new Date(),
  };
}

const sameModel = (a: ModelRef, b: ModelRef): boolean => a.id === b.id && a.version === b.version;

/** The sr stage's reader, as the fhir stage's read-back takes it. */
export const readStructuredReportLevels = (part10: Uint8Array) => structuredReportToFindings(part10).levels;

/** This model version's standing report on the study, if the EHR holds one. */
function ownReport(reports: readonly StoredReport[], model: ModelRef): StoredReport | undefined {
  return reports.find((stored) => sameModel(stored.model, model) && !isWithdrawnReport(stored.report));
}

/** The earlier AI report a new model version supersedes: the newest of ours still awaiting review (never a signed one). */
async function supersedable(
  fhir: FhirClient,
  reports: readonly StoredReport[],
  model: ModelRef,
): Promise<SupersededAnalysis | undefined> {
  const current = currentReport(reports);
  if (!current || sameModel(current.model, model) || isSignedReport(current.report)) return undefined;
  if (current.report.status !== 'preliminary') return undefined;
  const { observations, document } = await readAnalysisResources(fhir, current.report);
  return { report: current.report, observations, ...(document ? { document } : {}) };
}

/** The ImagingStudy, held to the token's patient (403), and what finds its reports. */
async function readCheckedStudy(
  fhir: ReturnType<AnalyzeDependencies['fhirClient']>,
  request: { fhirBaseUrl: string; imagingStudy: string; patientRestriction?: PatientRestriction | undefined },
): Promise<{ study: ImagingStudy; ofStudy: StudyOfReports }> {
  const study = await fhir.read<ImagingStudy>(request.imagingStudy);
  assertOwnPatient(request.imagingStudy, study.subject, request);
  return {
    study,
    ofStudy: { reference: request.imagingStudy, subject: study.subject, studyInstanceUid: studyInstanceUidOf(study) },
  };
}

/** The study, read and checked, with this model's standing report on it if the EHR holds one. */
async function openStudy(request: StudyRequest, deps: AnalyzeDependencies) {
  const fhir = deps.fhirClient(request.fhirBaseUrl, request.accessToken);
  const { study, ofStudy } = await readCheckedStudy(fhir, request);
  const detector = await deps.detector(request.modelDir);
  const model: ModelRef = { id: detector.manifest.id, version: detector.manifest.version };
  const reports = await findStoredReports(fhir, ofStudy);
  return { fhir, study, ofStudy, detector, model, reports, existing: ownReport(reports, model) };
}

/**
 * What a request to analyze answers before any work (POST /api/analyses): the model that would analyze the study and,
 * when the EHR already holds that model version's analysis of it, that analysis as stored. The same checks as an
 * analysis: the token's patient (403), the study's existence (404), the EHR's answer (502).
 */
export async function findOwnAnalysis(
  request: StudyRequest,
  deps: AnalyzeDependencies,
): Promise<{ model: ModelRef; stored?: AnalyzeResult }> {
  try {
    const { fhir, ofStudy, model, existing } = await openStudy(request, deps);
    if (!existing) return { model };
    return {
      model,
      stored: { ...(await readStoredAnalysis(fhir, existing, ofStudy, readStructuredReportLevels)), created: false },
    };
  } catch (error) {
    throw toPipelineError(error);
  }
}

export async function analyzeStudy(request: AnalyzeRequest, deps: AnalyzeDependencies): Promise<AnalyzeResult> {
  const { signal, onProgress } = request;
  const state = { writing: false, confirmed: false };
  /** Asks the engine, once, whether the analysis may write (a cancel from another process is settled there). */
  const confirmWriting = async (): Promise<void> => {
    if (state.confirmed) return;
    state.confirmed = true;
    signal?.throwIfAborted();
    await request.beforeWriting?.();
  };
  /** The point of no return: the last look at the signal and the first writing stage, in one turn. */
  const beginWriting = (stage: AnalysisStage): void => {
    if (!state.writing) signal?.throwIfAborted();
    state.writing = true;
    onProgress?.({ stage });
  };
  try {
    onProgress?.({ stage: 'finding-series' });
    const { fhir, study, ofStudy, detector, model, reports, existing } = await openStudy(request, deps);
    const studyUid = ofStudy.studyInstanceUid;
    if (existing) {
      // What the EHR holds is the answer: a recomputation could differ from the record in rounding or a warning.
      const stored = await readStoredAnalysis(fhir, existing, ofStudy, readStructuredReportLevels);
      signal?.throwIfAborted();
      return { ...stored, created: false };
    }

    const dicomwebBase = await dicomwebBaseOf(fhir, study, request.imagingOrigins);
    // The wrong-patient guard: the images must be this study's and its Patient's before anything is written.
    const patient = await subjectPatientOf(fhir, study, request);
    signal?.throwIfAborted();
    const retriever = withImagesOfPatient(deps.dicomweb(dicomwebBase, request.accessToken, signal), {
      imagingStudy: request.imagingStudy,
      studyInstanceUid: studyUid,
      patient,
    });
    const started = deps.now();
    // Each stage's milliseconds, summed over its runs (the sagittal series too), for the log line: a worker's own
    // timing, which `npm run bench -- --workers N` reads (its job events reach Redis late when its thread is busy).
    const stageMs: Partial<Record<PipelineStage, number>> = {};
    const { findings, instances } = await analyzeImages(retriever, studyUid, detector, {
      decoder: deps.decoder,
      ...(deps.limits ? { limits: deps.limits } : {}),
      signal,
      onProgress,
      onStage: (stage, ms) => {
        stageMs[stage] = (stageMs[stage] ?? 0) + ms;
      },
    });
    deps.log('analysis finished', {
      levels: findings.levels.length,
      ms: deps.now().getTime() - started.getTime(),
      executionProvider: detector.executionProvider,
      stages: Object.fromEntries(Object.entries(stageMs).map(([stage, ms]) => [stage, Math.round(ms * 10) / 10])),
    });
    const issued = deps.now();
    const structuredReport = structuredReportOrWarning(findings, instances, issued);
    let structuredReportInPacs = false;
    if (structuredReport && request.storeStructuredReport && retriever.storeInstances) {
      await confirmWriting();
      beginWriting('writing-sr');
      try {
        await retriever.storeInstances(studyUid, [structuredReport.part10]);
        structuredReportInPacs = true;
      } catch (error) {
        findings.warnings.push(
          `The DICOM SR could not be stored in the PACS (${(error as Error).message}); it is attached to the report in the EHR.`,
        );
      }
    }
    const superseded = await supersedable(fhir, reports, model);
    await confirmWriting();
    beginWriting('writing-fhir');
    try {
      await writeFindings(
        fhir,
        findings,
        { ...model, name: detector.manifest.name, intendedUse: detector.manifest.intendedUse, digest: detector.digest },
        {
          subject: study.subject,
          imagingStudy: { reference: request.imagingStudy },
          issued: issued.toISOString(),
          ...(structuredReport ? { structuredReport } : {}),
          ...(study.procedureCode ? { procedureCode: study.procedureCode } : {}),
          ...(request.requestedBy ? { requestedBy: { reference: request.requestedBy } } : {}),
        },
        superseded,
      );
    } catch (error) {
      // A transaction that was applied but whose answer was lost, or one a concurrent request won: what the EHR
      // holds now is the result. Anything else failed for real, and nothing was written (a transaction is atomic).
      const stored = ownReport(await findStoredReports(fhir, ofStudy).catch(() => []), model);
      if (!stored) throw error;
    }
    const written = ownReport(await findStoredReports(fhir, ofStudy), model);
    if (!written) throw new Error('The FHIR server accepted the analysis but does not return it on search');
    return {
      ...(await readStoredAnalysis(fhir, written, ofStudy, readStructuredReportLevels)),
      created: true,
      ...(superseded ? { superseded: `DiagnosticReport/${superseded.report.id}` } : {}),
      ...(structuredReport ? { structuredReportUid: structuredReport.sopInstanceUid, structuredReportInPacs } : {}),
    };
  } catch (error) {
    // Whatever stopped it once the signal fired (the abort itself, or a request it cut short), nothing was written.
    if (!state.writing && signal?.aborted) {
      throw new PipelineError(
        'cancelled',
        `The analysis of ${request.imagingStudy} was cancelled; nothing was written to the EHR or the PACS.`,
        { cause: error },
      );
    }
    throw toPipelineError(error);
  }
}

/**
 * The verified user's `fhirUser` as a reference on this FHIR base (`Practitioner/pr1`), for the AI Provenance's
 * enterer; undefined when the EHR names no user, or one on another server or of a type a Provenance agent cannot be.
 */
export function requesterReference(fhirUser: string | undefined, fhirBaseUrl: string): string | undefined {
  if (!fhirUser) return undefined;
  let reference: string;
  try {
    reference = referenceToRelative(fhirBaseUrl, fhirUser).replace(/\/_history\/.*$/, '');
  } catch {
    return undefined;
  }
  return /^(Practitioner|PractitionerRole|Patient|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/.test(reference)
    ? reference
    : undefined;
}

/** The Patient the ImagingStudy is of, whose identifiers its images must carry; a subject that is no Patient: 422. */
async function subjectPatientOf(fhir: FhirClient, study: ImagingStudy, request: AnalyzeRequest): Promise<Patient> {
  const patientId = patientIdOfSubject(study.subject, request.fhirBaseUrl);
  if (patientId === undefined) {
    throw new PipelineError(
      'unprocessable',
      `${request.imagingStudy} names no Patient of this EHR as its subject, so ldh-cds cannot check that its images belong to the right patient; nothing was written.`,
    );
  }
  return fhir.read<Patient>(`Patient/${patientId}`);
}

/** The stored analysis that stands for the study (GET /api/analyses): a signed report before a preliminary one. */
export async function readAnalysis(
  request: {
    fhirBaseUrl: string;
    accessToken: string;
    imagingStudy: string;
    patientRestriction?: PatientRestriction | undefined;
  },
  deps: Pick<AnalyzeDependencies, 'fhirClient'>,
): Promise<StoredAnalysis> {
  try {
    const fhir = deps.fhirClient(request.fhirBaseUrl, request.accessToken);
    const { ofStudy } = await readCheckedStudy(fhir, request);
    const current = currentReport(await findStoredReports(fhir, ofStudy));
    if (!current) throw new PipelineError('not-found', `No ldh-cds analysis is stored for ${request.imagingStudy}`);
    return await readStoredAnalysis(fhir, current, ofStudy, readStructuredReportLevels);
  } catch (error) {
    throw toPipelineError(error);
  }
}
