/**
 * The one place that composes the stages of an analysis (MONAI-Deploy style chain):
 * ImagingStudy + Endpoint (FHIR) → series search, metadata, frames (DICOMweb) → geometry, stacks, levels,
 * decoding (DICOM) → detector + MSU rules (inference) → FHIR transaction.
 */
import { createDecodePool, inThreadDecoder, type DecodePoolOptions, type FrameDecoder } from '../dicom/decode-pool';
import type { ImagingStudy } from 'fhir/r4';
import type { AppConfig } from '../config';
import {
  createDicomwebRetriever,
  type DicomwebRetriever,
  type DicomwebRetrieverOptions,
} from '../dicomweb/dicomweb-retriever';
import { createFhirClient, type FhirClient } from '../fhir/fhir-client';
import { writeFindings } from '../fhir/write-findings';
import {
  getDetectorSession,
  type DetectorOptions,
  type DetectorSession,
  type InferenceLog,
} from '../inference/detector-session';
import type { Findings } from '../findings/findings';
import { analyzeImages } from './analyze-images';
import { dicomwebBaseOf, studyInstanceUidOf } from './imaging-study';
import { toPipelineError } from './pipeline-error';

export interface AnalyzeRequest {
  fhirBaseUrl: string;
  accessToken: string;
  imagingStudy: string;
  modelDir: string;
  /** Origins the DICOMweb endpoint may be on (the trusted FHIR servers'). */
  trustedOrigins: readonly string[];
}

export interface AnalyzeResult {
  findings: Findings;
  diagnosticReport: string;
  observations: string[];
}

/** Seams for tests; production uses the real stages. */
export interface AnalyzeDependencies {
  fhirClient: (baseUrl: string, accessToken: string) => FhirClient;
  dicomweb: (baseUrl: string, accessToken: string) => DicomwebRetriever;
  detector: (modelDir: string) => Promise<DetectorSession>;
  /** Frame decoding: a worker pool in the app (startAppServer owns and closes it), in-thread by default. */
  decoder: FrameDecoder;
  log: InferenceLog;
  now: () => Date;
}

export interface PipelineOptions {
  detector?: DetectorOptions;
  decode?: DecodePoolOptions;
  dicomweb?: Omit<DicomwebRetrieverOptions, 'accessToken' | 'basicAuth'>;
}

/** The pipeline settings of the app's config (INFERENCE_*, DICOMWEB_*). */
export function pipelineOptionsFromConfig(config: AppConfig): PipelineOptions {
  return {
    detector: { executionProvider: config.INFERENCE_EP, batchSize: config.INFERENCE_BATCH },
    dicomweb: {
      timeoutMs: config.DICOMWEB_TIMEOUT_MS,
      concurrency: config.DICOMWEB_CONCURRENCY,
      retries: config.DICOMWEB_RETRIES,
    },
    decode: { threads: config.DECODE_THREADS, frameTimeoutMs: config.DECODE_FRAME_TIMEOUT_MS },
  };
}

/** The decoder the options ask for: a worker pool (close it when done), or in-thread when threads = 0. */
export function decoderFor(options: DecodePoolOptions = {}): FrameDecoder {
  return options.threads === 0 ? inThreadDecoder : createDecodePool(options);
}

export function defaultDependencies(log: InferenceLog, options: PipelineOptions = {}): AnalyzeDependencies {
  return {
    fhirClient: (baseUrl, token) => createFhirClient(baseUrl, token),
    dicomweb: (baseUrl, token) => createDicomwebRetriever(baseUrl, { ...options.dicomweb, accessToken: token }),
    detector: (modelDir) => getDetectorSession(modelDir, log, options.detector),
    decoder: inThreadDecoder,
    log,
    now: () => new Date(),
  };
}

export async function analyzeStudy(request: AnalyzeRequest, deps: AnalyzeDependencies): Promise<AnalyzeResult> {
  try {
    const fhir = deps.fhirClient(request.fhirBaseUrl, request.accessToken);
    const study = await fhir.read<ImagingStudy>(request.imagingStudy);
    const studyUid = studyInstanceUidOf(study);
    const dicomwebBase = await dicomwebBaseOf(fhir, study, request.trustedOrigins);
    const detector = await deps.detector(request.modelDir);
    const started = deps.now();
    const { findings } = await analyzeImages(deps.dicomweb(dicomwebBase, request.accessToken), studyUid, detector, {
      decoder: deps.decoder,
    });
    deps.log('analysis finished', {
      levels: findings.levels.length,
      ms: deps.now().getTime() - started.getTime(),
      executionProvider: detector.executionProvider,
    });
    const written = await writeFindings(
      fhir,
      findings,
      { ...findings.model, name: detector.manifest.name, intendedUse: detector.manifest.intendedUse },
      {
        subject: study.subject,
        imagingStudy: { reference: request.imagingStudy },
        issued: deps.now().toISOString(),
        ...(study.procedureCode ? { procedureCode: study.procedureCode } : {}),
      },
    );
    return { findings, diagnosticReport: written.diagnosticReport, observations: written.observations };
  } catch (error) {
    throw toPipelineError(error);
  }
}
