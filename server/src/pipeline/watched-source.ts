/**
 * A StudySource an analysis can stop and watch (issue 23): nothing is asked of the source once the analysis's signal
 * has fired, and an answer that arrives after it is not used; the frames of one retrieval are asked for one instance
 * at a time — as the DICOMweb retriever sends them anyway, one WADO-RS request per instance, with its own bounded
 * concurrency — so that the count of frames received moves as they arrive instead of jumping from none to all.
 *
 * The signal should reach the source itself too (the DICOMweb retriever takes it: dicomweb-retriever.ts), which
 * aborts the requests already in flight; this wrapper holds any source, a folder or a test's, to it.
 */
import type { DicomwebRetriever as StudySource, RetrievedFrame } from '../dicomweb/dicomweb-retriever';
import { UpstreamRequestError } from '../upstream/upstream-request-error';

export interface SourceWatch {
  signal?: AbortSignal | undefined;
  /** Frames received so far by `retrieveFrames` calls, reported as each instance's arrive. */
  onFramesRetrieved?: (count: number) => void;
}

const frameKey = (sopInstanceUid: string, frame: number): string => `${sopInstanceUid}\u0000${frame}`;

export function watchedStudySource(source: StudySource, { signal, onFramesRetrieved }: SourceWatch): StudySource {
  async function ask<T>(request: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const answer = await request();
    signal?.throwIfAborted();
    return answer;
  }

  return {
    searchForSeries: (studyInstanceUid) => ask(() => source.searchForSeries(studyInstanceUid)),
    retrieveSeriesMetadata: (studyInstanceUid, seriesInstanceUid) =>
      ask(() => source.retrieveSeriesMetadata(studyInstanceUid, seriesInstanceUid)),
    async retrieveFrames(studyInstanceUid, seriesInstanceUid, frames, transferSyntax) {
      const byInstance = new Map<string, { sopInstanceUid: string; frame: number }[]>();
      for (const wanted of frames) {
        byInstance.set(wanted.sopInstanceUid, [...(byInstance.get(wanted.sopInstanceUid) ?? []), wanted]);
      }
      const received = await Promise.all(
        [...byInstance.values()].map(async (ofInstance) => {
          const answer = await ask(() =>
            source.retrieveFrames(studyInstanceUid, seriesInstanceUid, ofInstance, transferSyntax),
          );
          onFramesRetrieved?.(answer.length);
          return answer;
        }),
      );
      const lookup = new Map<string, RetrievedFrame>(
        received.flat().map((frame) => [frameKey(frame.sopInstanceUid, frame.frame), frame]),
      );
      // In the order asked, as every StudySource answers.
      return frames.map(({ sopInstanceUid, frame }) => {
        const found = lookup.get(frameKey(sopInstanceUid, frame));
        if (!found) {
          throw new UpstreamRequestError(
            'DICOMweb',
            `DICOMweb returned no data for frame ${frame} of ${sopInstanceUid}`,
            undefined,
            undefined,
          );
        }
        return found;
      });
    },
    // A write is never stopped half-way by this wrapper: the pipeline decides before it starts writing.
    ...(source.storeInstances ? { storeInstances: source.storeInstances.bind(source) } : {}),
  };
}
