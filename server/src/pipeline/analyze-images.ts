/**
 * Study images → Findings, the imaging half of an analysis, for any source that answers like DICOMweb (a
 * PACS, the mock EHR, a folder of files): QIDO series → metadata → series selection (declarative rules) →
 * stacks and disc levels → frames → decode → detector → MSU rules. Each stage's time is reported to `onStage`
 * for the benchmark; how far it has got to `onProgress` (analysis-progress.ts: images retrieved and decoded, slices
 * through the model) for the job's progress bar. An AbortSignal stops it between requests, frames and batches
 * (watched-source.ts, the detector's queue); it then rejects with the signal's reason.
 */
import {
  NATIVE_TRANSFER_SYNTAXES,
  pixelModuleFromMetadata,
  UnsupportedImageError,
  type DecodedFrame,
} from '../dicom/decode-frame';
import { acquisitionDateTimeOf } from '../dicom/acquisition-time';
import { inThreadDecoder, type FrameDecoder } from '../dicom/decode-pool';
import { getString, requireString, type DicomJson } from '../dicom/dicom-json';
import { frameGeometries, isAxial, isPatientLeftImageRight, type SliceGeometry } from '../dicom/geometry';
import {
  decideSeries,
  describeSeries,
  isCandidateSeries,
  noQualifyingSeriesMessage,
  seriesFacts,
  SeriesSelectionError,
} from '../dicom/select-series';
import { groupIntoStacks } from '../dicom/stacks';
import { DEFAULT_STUDY_LIMITS, type StudyLimits } from '../dicom/study-limits';
import { mapWithConcurrency, type DicomwebRetriever, type RetrievedFrame } from '../dicomweb/dicomweb-retriever';
import type { DetectorSession, InferenceStage } from '../inference/detector-session';
import { boxArea, type Detection } from '../inference/yolo';
import {
  detectionsToFindings,
  keySliceCandidates,
  levelScore,
  strongestDetection,
  strongestOf,
  type LevelDetections,
  type LevelSlice,
} from '../inference/detections-to-findings';
import { DISC_LEVELS, type Findings, type SliceRef } from '../findings/findings';
import { reconcileMsuClass } from '../inference/geometry-check';
import type { ProgressListener } from './analysis-progress';
import { boundedStudySource } from './bounded-source';
import { assignStudyLevels, chooseSagittalSeries } from './level-assignment';
import { watchedStudySource } from './watched-source';

/** Anything that answers the three DICOMweb questions the pipeline asks. */
export type StudySource = DicomwebRetriever;

export type PipelineStage = 'qido' | 'metadata' | 'retrieve' | 'decode' | InferenceStage;

export interface AnalyzeImagesOptions {
  onStage?: (stage: PipelineStage, ms: number) => void;
  /** Keep the decoded key slices (for PNG overlays). */
  keepKeySlices?: boolean;
  /** Frames decoded at once (bounded to keep memory flat). */
  decodeConcurrency?: number;
  /** Where frames are decoded: a worker pool, or in-thread (the default). */
  decoder?: FrameDecoder;
  /** What one study may ask of us (series, instances, frames, pixels, bytes); default DEFAULT_STUDY_LIMITS. */
  limits?: StudyLimits;
  /** Cancels the analysis: no request, frame or batch starts once it fires. */
  signal?: AbortSignal | undefined;
  /** Stages and counts as they move: finding-series, retrieving n/N, decoding n/N, inferring n/N. */
  onProgress?: ProgressListener | undefined;
}

export interface KeySliceImage {
  ref: SliceRef;
  image: DecodedFrame;
}

export interface ImageAnalysis {
  findings: Findings;
  keySlices: KeySliceImage[];
  slices: number;
  /** The analyzed series' instances (metadata): what a DICOM SR of the analysis copies and references. */
  instances: DicomJson[];
}

export interface AxialSlice {
  meta: DicomJson;
  geometry: SliceGeometry;
  sopInstanceUid: string;
  frame: number;
}

async function timed<T>(
  stage: PipelineStage,
  onStage: AnalyzeImagesOptions['onStage'],
  run: () => Promise<T> | T,
): Promise<T> {
  const start = performance.now();
  try {
    return await run();
  } finally {
    onStage?.(stage, performance.now() - start);
  }
}

async function selectAxialSeries(
  source: StudySource,
  studyUid: string,
  warnings: string[],
  onStage: AnalyzeImagesOptions['onStage'],
): Promise<{
  seriesUid: string;
  slices: AxialSlice[];
  instances: DicomJson[];
  sagittal: ReturnType<typeof chooseSagittalSeries>;
}> {
  const allSeries = await timed('qido', onStage, () => source.searchForSeries(studyUid));
  const candidates = allSeries.filter(isCandidateSeries);
  const metadata = await timed('metadata', onStage, () =>
    Promise.all(
      candidates.map((series) => source.retrieveSeriesMetadata(studyUid, requireString(series, 'SeriesInstanceUID'))),
    ),
  );
  // Every series with its instances' metadata (empty for non-candidates), paired once.
  const described = allSeries.map((series) => {
    const instances = metadata[candidates.indexOf(series)] ?? [];
    return { facts: seriesFacts(series, instances), instances };
  });
  const { chosen, refused } = decideSeries(described.map((series) => series.facts));
  const best = chosen[0];
  if (!best) throw new SeriesSelectionError(noQualifyingSeriesMessage(studyUid, refused));
  if (best.facts.weighting !== 'T2') {
    warnings.push(
      `The analyzed ${describeSeries(best.facts)} is not recognisably T2-weighted (${best.facts.weighting}: ${best.facts.weightingEvidence}); the model expects axial T2.`,
    );
  }
  const seriesUid = best.facts.seriesInstanceUid;
  const instances = described.find((series) => series.facts.seriesInstanceUid === seriesUid)?.instances ?? [];
  const sagittal = chooseSagittalSeries(
    described.filter((series) => series.facts.seriesInstanceUid !== seriesUid),
    instances.map((meta) => getString(meta, 'FrameOfReferenceUID')).find(Boolean),
  );
  const { slices, warning } = axialSlicesOf(instances);
  if (warning) warnings.push(warning);
  return { seriesUid, slices, instances, sagittal };
}

/**
 * The axial frames of a series' instances (metadata), each with its geometry: what the stacks are grouped from, by
 * the analysis and by the viewer (pipeline/study-stacks.ts) alike. Instances without usable geometry are skipped and
 * the warning says how many and why.
 */
export function axialSlicesOf(instances: DicomJson[]): { slices: AxialSlice[]; warning?: string } {
  const slices: AxialSlice[] = [];
  const problems: string[] = [];
  let skipped = 0;
  for (const meta of instances) {
    try {
      const sopInstanceUid = requireString(meta, 'SOPInstanceUID');
      frameGeometries(meta).forEach((geometry, i) => {
        if (isAxial(geometry)) slices.push({ meta, geometry, sopInstanceUid, frame: i + 1 });
      });
    } catch (error) {
      skipped++;
      if (problems.length < 3) problems.push((error as Error).message);
    }
  }
  if (skipped === 0) return { slices };
  return { slices, warning: `${skipped} instance(s) of the analyzed series were skipped: ${problems.join('; ')}` };
}

/** Decodes a frame as retrieved; a stored syntax we cannot decode (e.g. JPEG XL, HTJ2K) is asked for again uncompressed. */
export async function decodeOrTranscode(
  decoder: FrameDecoder,
  source: StudySource,
  studyUid: string,
  seriesUid: string,
  frame: RetrievedFrame,
  meta: DicomJson,
  warnings: string[],
): Promise<DecodedFrame> {
  const pixel = pixelModuleFromMetadata(meta);
  try {
    return await decoder.decode(frame.bytes, pixel, frame.transferSyntaxUid);
  } catch (error) {
    if (!(error instanceof UnsupportedImageError) || NATIVE_TRANSFER_SYNTAXES.includes(frame.transferSyntaxUid))
      throw error;
    const [again] = await source.retrieveFrames(studyUid, seriesUid, [frame], 'explicit-little-endian');
    if (!again || again.transferSyntaxUid === frame.transferSyntaxUid) throw error;
    warnings.push(`Frame ${frame.frame} of ${frame.sopInstanceUid} was re-requested uncompressed: ${error.message}`);
    return decoder.decode(again.bytes, pixel, again.transferSyntaxUid);
  }
}

/**
 * The verification pass (manifest `verification`): every slice's strongest detection scoring at least
 * `candidateScore` is re-scored on a zoomed crop, its score becomes the weighted mean of both views, and it is the
 * slice's only detection from then on (a score the zoomed view did not see is not comparable with one it did). The
 * presence call, key slice and confidence then follow the verified scores; boxes and class scores are the
 * whole-slice pass's until refinement.
 */
async function verifyCandidates(
  levels: (LevelDetections & { images: DecodedFrame[] })[],
  detector: DetectorSession,
  onStage: AnalyzeImagesOptions['onStage'],
): Promise<void> {
  const verification = detector.manifest.verification;
  if (!detector.verify || !verification) return;
  const candidates = levels.flatMap((level) =>
    level.detections.flatMap((detections, sliceIndex) => {
      const detection = strongestOf(detections);
      const image = level.images[sliceIndex];
      return detection && image && detection.score >= verification.candidateScore
        ? [{ level, sliceIndex, detection, image }]
        : [];
    }),
  );
  for (const level of levels) level.detections = level.detections.map(() => []);
  if (candidates.length === 0) return;
  const zoomed = await detector.verify(
    candidates.map(({ image, detection }) => ({ image, box: detection.box })),
    onStage ? { onStage } : {},
  );
  candidates.forEach(({ level, sliceIndex, detection }, i) => {
    const score = (1 - verification.weight) * detection.score + verification.weight * (zoomed[i]?.score ?? 0);
    level.detections[sliceIndex] = [{ ...detection, score }];
  });
}

/**
 * The refinement pass (manifest `refinement`): the box each level will report — its strongest detection, when that
 * reaches the confidence threshold — is re-measured on a zoomed crop of its slice and replaced in place. With the
 * manifest's `keySlice` rule, the same place on the neighbouring slices is re-measured too (`keySliceCandidates`) and
 * the largest refined box is reported, in `reported` when it is not the strongest detection's. Class scores become the
 * mean of the strongest detection's whole-slice scores and, with `refinement.classes: "average"`, its refiner's and,
 * with a `classification` pass, that pass's. The scores, which chose the strongest detection and decided that the
 * level has a herniation, are left alone, so the presence call and confidence do not move.
 */
async function refineReportedBoxes(
  levels: (LevelDetections & { images: DecodedFrame[] })[],
  detector: DetectorSession,
  onStage: AnalyzeImagesOptions['onStage'],
): Promise<void> {
  const { manifest } = detector;
  if (!detector.refine && !detector.classify && !manifest.keySlice) return;
  const reported = levels.flatMap((level) => {
    const best = strongestDetection(level);
    const image = best && level.images[best.sliceIndex];
    if (!best || !image || levelScore(level, manifest, best) < manifest.thresholds.confidence) return [];
    const neighbours = manifest.keySlice ? keySliceCandidates(level, best, manifest.keySlice).slice(1) : [];
    const candidates = [
      { detection: best.detection, sliceIndex: best.sliceIndex, image },
      ...neighbours.flatMap(({ detection, sliceIndex }) => {
        const neighbourImage = level.images[sliceIndex];
        return neighbourImage ? [{ detection, sliceIndex, image: neighbourImage }] : [];
      }),
    ];
    return [{ level, best, image, candidates }];
  });
  if (reported.length === 0) return;
  const stageOptions = onStage ? { onStage } : {};
  const refined = detector.refine
    ? await detector.refine(
        reported.flatMap(({ candidates }) => candidates.map(({ image, detection }) => ({ image, box: detection.box }))),
        stageOptions,
      )
    : [];
  // The class is read where the herniation scored highest, whichever slice shows it largest: on the tuning sets the
  // strongest slice's class scores gave the true grade and zone more often than the largest slice's (1.8.0's card).
  const classified = detector.classify
    ? await detector.classify(
        reported.map(({ image, best }) => ({ image, box: best.detection.box })),
        stageOptions,
      )
    : [];
  let offset = 0;
  reported.forEach(({ level, best, candidates }, i) => {
    const measured = candidates.map((candidate, k) => ({ ...candidate, zoomed: refined[offset + k] }));
    const strongestZoomed = refined[offset];
    offset += candidates.length;
    // Ties keep the strongest detection (first): only a strictly larger herniation moves the key slice.
    const largest = measured.reduce((top, c) =>
      boxArea(c.zoomed?.box ?? c.detection.box) > boxArea(top.zoomed?.box ?? top.detection.box) ? c : top,
    );
    const opinions = [
      best.detection.classScores,
      ...(strongestZoomed && manifest.refinement?.classes === 'average' ? [strongestZoomed.classScores] : []),
      ...(classified[i] ? [classified[i].classScores] : []),
    ];
    const update: Partial<Detection> = largest.zoomed ? { box: largest.zoomed.box } : {};
    if (opinions.length > 1) {
      const classScores = best.detection.classScores.map(
        (_, k) => opinions.reduce((sum, scores) => sum + (scores[k] ?? 0), 0) / opinions.length,
      );
      update.classScores = classScores;
      update.classIndex = classScores.indexOf(Math.max(...classScores));
    } else {
      update.classScores = best.detection.classScores;
      update.classIndex = best.detection.classIndex;
    }
    const { sliceIndex, detection } = largest;
    if (detection === best.detection) {
      level.detections[sliceIndex] = (level.detections[sliceIndex] ?? []).map((d) =>
        d === detection ? { ...d, ...update } : d,
      );
    } else {
      // The strongest detection keeps its slice and box, which the presence score is corroborated against.
      level.reported = { sliceIndex, detection: { ...detection, ...update } };
    }
  });
}

export async function analyzeImages(
  studySource: StudySource,
  studyUid: string,
  detector: DetectorSession,
  options: AnalyzeImagesOptions = {},
): Promise<ImageAnalysis> {
  const { onStage, signal, onProgress } = options;
  onProgress?.({ stage: 'finding-series' });
  // Frames received are counted only while the axial series is retrieved (not the sagittal, not a re-request).
  let countRetrieved: ((count: number) => void) | undefined;
  const watched =
    signal || onProgress
      ? watchedStudySource(studySource, { signal, onFramesRetrieved: (count) => countRetrieved?.(count) })
      : studySource;
  // Every answer and frame of this study is held to the limits, re-requested frames included.
  const source = boundedStudySource(watched, options.limits ?? DEFAULT_STUDY_LIMITS);
  const decoder = options.decoder ?? inThreadDecoder;
  const warnings: string[] = [];
  const { seriesUid, slices, instances, sagittal } = await selectAxialSeries(source, studyUid, warnings, onStage);
  const assigned = await assignStudyLevels(groupIntoStacks(slices), sagittal, async (sagittalUid, sagittalFrames) => {
    const retrieved = await timed('retrieve', onStage, () =>
      source.retrieveFrames(
        studyUid,
        sagittalUid,
        sagittalFrames.map(({ sopInstanceUid, frame }) => ({ sopInstanceUid, frame })),
      ),
    );
    return timed('decode', onStage, () =>
      Promise.all(
        retrieved.map((frame, i) =>
          decodeOrTranscode(decoder, source, studyUid, sagittalUid, frame, sagittalFrames[i]?.meta ?? {}, warnings),
        ),
      ),
    );
  });
  // A sagittal image that could not be read falls back to counting: a cancel there must still stop the analysis.
  signal?.throwIfAborted();
  warnings.push(...assigned.warnings);
  const ordered = assigned.stacks.flatMap((stack) => stack.slices);
  const total = ordered.length;
  let retrieved = 0;
  onProgress?.({ stage: 'retrieving', done: 0, total });
  countRetrieved = (count) => {
    retrieved += count;
    onProgress?.({ stage: 'retrieving', done: Math.min(retrieved, total), total });
  };
  const frames = await timed('retrieve', onStage, () =>
    source.retrieveFrames(
      studyUid,
      seriesUid,
      ordered.map((slice) => ({ sopInstanceUid: slice.sopInstanceUid, frame: slice.frame })),
    ),
  );
  countRetrieved = undefined;
  let decoded = 0;
  onProgress?.({ stage: 'decoding', done: 0, total });
  const images = await timed('decode', onStage, () =>
    mapWithConcurrency(frames, options.decodeConcurrency ?? 4, async (frame, i) => {
      signal?.throwIfAborted();
      const image = await decodeOrTranscode(
        decoder,
        source,
        studyUid,
        seriesUid,
        frame,
        ordered[i]?.meta ?? {},
        warnings,
      );
      frames[i] = { ...frame, bytes: new Uint8Array(0) };
      decoded++;
      onProgress?.({ stage: 'decoding', done: decoded, total });
      return image;
    }),
  );
  signal?.throwIfAborted();
  let inferred = 0;
  onProgress?.({ stage: 'inferring', done: 0, total: images.length });
  const detections = await detector.detect(images, {
    ...(onStage ? { onStage } : {}),
    ...(signal ? { signal } : {}),
    ...(onProgress
      ? {
          onSliceDetected: () => {
            inferred++;
            onProgress({ stage: 'inferring', done: Math.min(inferred, images.length), total: images.length });
          },
        }
      : {}),
  });
  signal?.throwIfAborted();
  // A detector that does not count its slices (a test's) is done with all of them now.
  if (inferred < images.length) onProgress?.({ stage: 'inferring', done: images.length, total: images.length });
  const postStart = performance.now();
  let cursor = 0;
  const levels: (LevelDetections & { images: DecodedFrame[] })[] = assigned.stacks.map((stack) => {
    const levelSlices: LevelSlice[] = stack.slices.map((slice, i) => ({
      ref: { sopInstanceUid: slice.sopInstanceUid, frame: slice.frame },
      width: images[cursor + i]?.width ?? 0,
      height: images[cursor + i]?.height ?? 0,
      patientLeftIsImageRight: isPatientLeftImageRight(slice.geometry),
    }));
    const levelDetections = detections.slice(cursor, cursor + stack.slices.length);
    const levelImages = images.slice(cursor, cursor + stack.slices.length);
    cursor += stack.slices.length;
    return { level: stack.level, slices: levelSlices, detections: levelDetections, images: levelImages };
  });
  // The zoomed passes time their own preprocess, inference and postprocess (zoomed-pass.ts): this stage's time is the
  // work around them, not counted twice.
  const beforePassesMs = performance.now() - postStart;
  await verifyCandidates(levels, detector, onStage);
  signal?.throwIfAborted();
  await refineReportedBoxes(levels, detector, onStage);
  signal?.throwIfAborted();
  const afterPasses = performance.now();
  const reconciled = reconcileMsuClass(
    detectionsToFindings(levels, detector.manifest).sort(
      (a, b) => DISC_LEVELS.indexOf(a.level) - DISC_LEVELS.indexOf(b.level),
    ),
    detector.manifest.classFrom,
  );
  const levelFindings = reconciled.levels;
  warnings.push(...reconciled.warnings);
  const keySlices: KeySliceImage[] = [];
  if (options.keepKeySlices) {
    for (const finding of levelFindings) {
      const ref = finding.keySlice;
      const index = ordered.findIndex((s) => s.sopInstanceUid === ref?.sopInstanceUid && s.frame === ref.frame);
      const image = images[index];
      if (ref && image) keySlices.push({ ref, image });
    }
  }
  onStage?.('postprocess', beforePassesMs + performance.now() - afterPasses);
  const acquisitionDateTime = acquisitionDateTimeOf(instances);
  return {
    findings: {
      studyInstanceUid: studyUid,
      seriesInstanceUid: seriesUid,
      model: { id: detector.manifest.id, version: detector.manifest.version },
      levels: levelFindings,
      levelAssignment: assigned.assignment,
      ...(acquisitionDateTime ? { acquisitionDateTime } : {}),
      warnings,
    },
    keySlices,
    slices: ordered.length,
    instances,
  };
}
