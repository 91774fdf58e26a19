/**
 * A StudySource that holds one study to the limits of dicom/study-limits.ts: every answer is checked before the
 * pipeline allocates anything by it, and every frame request is checked on the metadata before it is sent (pixels
 * per frame, and the bytes it will hold uncompressed — what decoding will need in memory, whatever the transfer
 * syntax) and again on the bytes received. One wrapper is one study's budget: an analysis wraps its source once, so
 * re-requested frames count too. A refusal is a StudyLimitError naming the limit, the value and the config key.
 */
import { DicomMetadataError, getNumber, getString, type DicomJson } from '../dicom/dicom-json';
import {
  checkFrameMetadata,
  checkLimit,
  nativeFrameBytesOf,
  numberOfFrames,
  type StudyLimits,
} from '../dicom/study-limits';
import type { DicomwebRetriever as StudySource } from '../dicomweb/dicomweb-retriever';

export function boundedStudySource(source: StudySource, limits: StudyLimits): StudySource {
  const metadataBySop = new Map<string, DicomJson>();
  const framesBySeries = new Map<string, number>();
  const bytesBySop = new Map<string, number>();
  let bytesInStudy = 0;

  function countFrames(seriesInstanceUid: string, instances: DicomJson[]): void {
    checkLimit(limits, 'instancesPerSeries', instances.length);
    let frames = 0;
    for (const meta of instances) {
      try {
        frames += numberOfFrames(meta, limits.framesPerInstance);
      } catch (error) {
        // A malformed NumberOfFrames makes that one instance unusable (the pipeline skips it and says why); a count
        // beyond the limit refuses the study.
        if (!(error instanceof DicomMetadataError)) throw error;
        frames += 1;
      }
      const sop = getString(meta, 'SOPInstanceUID');
      if (sop) metadataBySop.set(sop, meta);
    }
    framesBySeries.set(seriesInstanceUid, frames);
    checkLimit(
      limits,
      'framesPerStudy',
      [...framesBySeries.values()].reduce((sum, n) => sum + n, 0),
    );
  }

  /** Before a request: the frames' pixels and uncompressed size, per instance and for the study with what came so far. */
  function checkPlan(frames: readonly { sopInstanceUid: string; frame: number }[]): void {
    const plannedBySop = new Map<string, number>();
    let planned = 0;
    for (const { sopInstanceUid } of frames) {
      const meta = metadataBySop.get(sopInstanceUid);
      if (!meta) continue;
      checkFrameMetadata(meta, limits);
      const bytes = nativeFrameBytesOf(meta) ?? 0;
      plannedBySop.set(sopInstanceUid, (plannedBySop.get(sopInstanceUid) ?? 0) + bytes);
      planned += bytes;
    }
    for (const [sop, bytes] of plannedBySop)
      checkLimit(limits, 'bytesPerInstance', (bytesBySop.get(sop) ?? 0) + bytes, 'uncompressed, from the metadata');
    checkLimit(limits, 'bytesPerStudy', bytesInStudy + planned, 'uncompressed, from the metadata');
  }

  return {
    async searchForSeries(studyInstanceUid) {
      const series = await source.searchForSeries(studyInstanceUid);
      checkLimit(limits, 'seriesPerStudy', series.length);
      for (const one of series) {
        const instances = getNumber(one, 'NumberOfSeriesRelatedInstances');
        if (instances !== undefined) checkLimit(limits, 'instancesPerSeries', instances);
      }
      return series;
    },
    async retrieveSeriesMetadata(studyInstanceUid, seriesInstanceUid) {
      const instances = await source.retrieveSeriesMetadata(studyInstanceUid, seriesInstanceUid);
      countFrames(seriesInstanceUid, instances);
      return instances;
    },
    async retrieveFrames(studyInstanceUid, seriesInstanceUid, frames, transferSyntax) {
      checkPlan(frames);
      const retrieved = await source.retrieveFrames(studyInstanceUid, seriesInstanceUid, frames, transferSyntax);
      for (const frame of retrieved) {
        const bytes = frame.bytes.byteLength;
        checkLimit(limits, 'bytesPerFrame', bytes);
        const ofInstance = (bytesBySop.get(frame.sopInstanceUid) ?? 0) + bytes;
        checkLimit(limits, 'bytesPerInstance', ofInstance);
        bytesBySop.set(frame.sopInstanceUid, ofInstance);
        bytesInStudy += bytes;
        checkLimit(limits, 'bytesPerStudy', bytesInStudy);
      }
      return retrieved;
    },
    ...(source.storeInstances ? { storeInstances: source.storeInstances.bind(source) } : {}),
  };
}
