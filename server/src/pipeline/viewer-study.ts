/**
 * The study as the viewer reads it (GET /api/stacks, GET /api/frames): the ImagingStudy read with the caller's token
 * — which is what allows the caller to see it — gives the Study Instance UID and the DICOMweb base exactly as an
 * analysis takes them (imaging-study.ts); every DICOMweb request then names that study, never one from the query, so
 * a caller cannot read another study's images through us. Series metadata and the series list are kept in the
 * viewer cache per caller.
 */
import type { ImagingStudy } from 'fhir/r4';
import { getString, type DicomJson } from '../dicom/dicom-json';
import { DEFAULT_STUDY_LIMITS } from '../dicom/study-limits';
import type { DicomwebRetriever } from '../dicomweb/dicomweb-retriever';
import type { AnalyzeDependencies } from './analyze-study';
import { boundedStudySource } from './bounded-source';
import { dicomwebBaseOf, studyInstanceUidOf } from './imaging-study';
import { assertOwnPatient, type PatientRestriction } from './patient-match';
import { PipelineError, toPipelineError } from './pipeline-error';
import type { ViewerCache } from './viewer-cache';

export interface ViewerRequest {
  fhirBaseUrl: string;
  accessToken: string;
  /** `ImagingStudy/<id>`. */
  imagingStudy: string;
  /** A patient-scoped token's patient: the study must be theirs (patient-match.ts). */
  patientRestriction?: PatientRestriction | undefined;
  /** Origins the DICOMweb endpoint may be on: the imaging origins configured for this EHR (EHRS_FILE). */
  imagingOrigins: readonly string[];
}

export type ViewerDependencies = Pick<AnalyzeDependencies, 'fhirClient' | 'dicomweb' | 'decoder' | 'limits'>;

export interface ViewerStudy {
  imagingStudy: string;
  studyInstanceUid: string;
  retriever: DicomwebRetriever;
  /** Starts every cache key of this caller and study. */
  key: string;
  /** WADO-RS metadata of one of the study's series (cached). */
  seriesMetadata(seriesInstanceUid: string): Promise<DicomJson[]>;
  /** QIDO-RS series of the study (cached). */
  seriesList(): Promise<DicomJson[]>;
  /** Refuses (not-found) a series that is neither in the ImagingStudy nor in the PACS's study. */
  requireSeries(seriesInstanceUid: string): Promise<void>;
}

export async function openViewerStudy(
  request: ViewerRequest,
  deps: ViewerDependencies,
  cache: ViewerCache,
): Promise<ViewerStudy> {
  try {
    const caller = cache.callerKey(request);
    const context = await cache.study(`${caller}\u0000${request.imagingStudy}`, async () => {
      const fhir = deps.fhirClient(request.fhirBaseUrl, request.accessToken);
      const study = await fhir.read<ImagingStudy>(request.imagingStudy);
      // Checked when the study is read for this token (callerKey): a token's patient never changes.
      assertOwnPatient(request.imagingStudy, study.subject, request);
      return {
        studyInstanceUid: studyInstanceUidOf(study),
        dicomwebBase: await dicomwebBaseOf(fhir, study, request.imagingOrigins),
        seriesInstanceUids: (study.series ?? []).map((series) => series.uid),
      };
    });
    const { studyInstanceUid } = context;
    // The study's limits hold for the viewer too: metadata and frames are checked as an analysis checks them.
    const retriever = boundedStudySource(
      deps.dicomweb(context.dicomwebBase, request.accessToken),
      deps.limits ?? DEFAULT_STUDY_LIMITS,
    );
    const key = `${caller}\u0000${studyInstanceUid}`;
    const seriesList = (): Promise<DicomJson[]> =>
      cache.dicomJson(`${key}\u0000series`, () => retriever.searchForSeries(studyInstanceUid));
    return {
      imagingStudy: request.imagingStudy,
      studyInstanceUid,
      retriever,
      key,
      seriesList,
      seriesMetadata: (seriesInstanceUid) =>
        cache.dicomJson(`${key}\u0000${seriesInstanceUid}`, () =>
          retriever.retrieveSeriesMetadata(studyInstanceUid, seriesInstanceUid),
        ),
      async requireSeries(seriesInstanceUid) {
        if (context.seriesInstanceUids.includes(seriesInstanceUid)) return;
        // The ImagingStudy may list fewer series than the PACS holds (one stored since): ask the PACS, in this study.
        const found = (await seriesList()).some(
          (series) => getString(series, 'SeriesInstanceUID') === seriesInstanceUid,
        );
        if (!found)
          throw new PipelineError('not-found', `Series ${seriesInstanceUid} is not part of ${request.imagingStudy}`);
      },
    };
  } catch (error) {
    throw toPipelineError(error);
  }
}
