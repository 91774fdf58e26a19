/**
 * The one place that composes the stages of an analysis (MONAI-Deploy style chain):
 * ImagingStudy + Endpoint (FHIR) → series search, metadata, frames (DICOMweb) → geometry, stacks, levels,
 * decoding (DICOM) → detector + MSU rules (inference) → FHIR transaction.
 */
import type { ImagingStudy } from 'fhir/r4';
import { decodeFrame, pixelModuleFromMetadata } from '../dicom/decode-frame';
import { DicomMetadataError, getNumber, requireString, type DicomJson } from '../dicom/dicom-json';
import { isAxial, isPatientLeftImageRight, sliceGeometry, type SliceGeometry } from '../dicom/geometry';
import { rankMrSeries } from '../dicom/select-series';
import { assignLevels, groupIntoStacks } from '../dicom/stacks';
import { createDicomwebRetriever, type DicomwebRetriever } from '../dicomweb/dicomweb-retriever';
import { createFhirClient, type FhirClient } from '../fhir/fhir-client';
import { writeFindings } from '../fhir/write-findings';
import { unprocessable } from '../http/http-error';
import { getDetectorSession, type DetectorSession, type InferenceLog } from '../inference/detector-session';
import { detectionsToFindings, type LevelDetections, type LevelSlice } from '../inference/detections-to-findings';
import type { Findings } from '../inference/findings';
import { dicomwebBaseOf, studyInstanceUidOf } from './imaging-study';
import { stageErrorToHttpError } from './stage-errors';

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
  log: InferenceLog;
  now: () => Date;
}

export function defaultDependencies(log: InferenceLog): AnalyzeDependencies {
  return {
    fhirClient: (baseUrl, token) => createFhirClient(baseUrl, token),
    dicomweb: (baseUrl, token) => createDicomwebRetriever(baseUrl, token),
    detector: (modelDir) => getDetectorSession(modelDir, log),
    log,
    now: () => new Date(),
  };
}

interface AxialSlice {
  meta: DicomJson;
  geometry: SliceGeometry;
  sopInstanceUid: string;
}

async function pickAxialSeries(
  retriever: DicomwebRetriever,
  studyUid: string,
  warnings: string[],
): Promise<{ seriesUid: string; slices: AxialSlice[] }> {
  const candidates = rankMrSeries(await retriever.searchForSeries(studyUid));
  if (candidates.length === 0) throw unprocessable(`Study ${studyUid} has no MR series`);
  const problems: string[] = [];
  for (const series of candidates) {
    const seriesUid = requireString(series, 'SeriesInstanceUID');
    const metadata = await retriever.retrieveSeriesMetadata(studyUid, seriesUid);
    const slices: AxialSlice[] = [];
    let skipped = 0;
    for (const meta of metadata) {
      try {
        if ((getNumber(meta, 'NumberOfFrames') ?? 1) > 1)
          throw new DicomMetadataError('multi-frame (enhanced) MR is not supported yet');
        const geometry = sliceGeometry(meta);
        if (isAxial(geometry)) slices.push({ meta, geometry, sopInstanceUid: requireString(meta, 'SOPInstanceUID') });
      } catch (error) {
        skipped++;
        if (problems.length < 3) problems.push((error as Error).message);
      }
    }
    if (slices.length > 0) {
      if (skipped > 0) warnings.push(`${skipped} instance(s) of series ${seriesUid} skipped: ${problems.join('; ')}`);
      return { seriesUid, slices };
    }
  }
  throw unprocessable(
    `No axial MR series found in study ${studyUid}${problems.length > 0 ? `: ${problems.join('; ')}` : ''}`,
  );
}

/** Findings only (no write-back): the pipeline up to inference. */
export async function analyzeFindings(
  retriever: DicomwebRetriever,
  studyUid: string,
  detector: DetectorSession,
): Promise<Findings> {
  const warnings: string[] = [];
  const { seriesUid, slices } = await pickAxialSeries(retriever, studyUid, warnings);
  const assigned = assignLevels(groupIntoStacks(slices));
  warnings.push(...assigned.warnings);
  const ordered = assigned.stacks.flatMap((stack) => stack.slices);
  const frames = await retriever.retrieveFrames(
    studyUid,
    seriesUid,
    ordered.map((slice) => ({ sopInstanceUid: slice.sopInstanceUid, frame: 1 })),
  );
  const images = frames.map((frame, i) =>
    decodeFrame(frame.bytes, pixelModuleFromMetadata(ordered[i]?.meta ?? {}), frame.transferSyntaxUid),
  );
  const detections = await detector.detect(images);
  let cursor = 0;
  const levels: LevelDetections[] = assigned.stacks.map((stack) => {
    const levelSlices: LevelSlice[] = stack.slices.map((slice, i) => ({
      ref: { sopInstanceUid: slice.sopInstanceUid, frame: 1 },
      width: images[cursor + i]?.width ?? 0,
      height: images[cursor + i]?.height ?? 0,
      patientLeftIsImageRight: isPatientLeftImageRight(slice.geometry),
    }));
    const levelDetections = detections.slice(cursor, cursor + stack.slices.length);
    cursor += stack.slices.length;
    return { level: stack.level, slices: levelSlices, detections: levelDetections };
  });
  const levelFindings = detectionsToFindings(levels, detector.manifest);
  return {
    studyInstanceUid: studyUid,
    seriesInstanceUid: seriesUid,
    model: { id: detector.manifest.id, version: detector.manifest.version },
    levels: levelFindings.sort((a, b) => a.level.localeCompare(b.level)),
    warnings,
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
    const findings = await analyzeFindings(deps.dicomweb(dicomwebBase, request.accessToken), studyUid, detector);
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
    throw stageErrorToHttpError(error);
  }
}
