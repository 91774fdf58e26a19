/**
 * Which arriving ImagingStudies the watcher queues (docs/deploy.md §Analyze on arrival). It decides from the
 * ImagingStudy alone, before any image is fetched:
 *
 * - a lumbar MRI by the rule the CDS services use to call a study one (cds-hooks/trigger-codes.ts `isLumbarMri`:
 *   modality MR, and a lumbar MRI procedure code or a series whose body site is the lumbar spine, from
 *   CDS_CODES_FILE), so that the study the referral card speaks of is the one analyzed;
 * - whose images are there: FHIR R4 ImagingStudy.status `available` (or `unknown`); a `registered` study is taken
 *   when the EHR updates it to `available` (its `meta.lastUpdated` moves, so the watcher reads it again), a
 *   `cancelled` or `entered-in-error` one never;
 * - that the pipeline can find: a Study Instance UID and an endpoint.
 *
 * The series selection rules proper (one axial T2 series, dicom/select-series.ts) need the DICOM metadata: the analysis
 * applies them, and a study without an axial T2 series fails its job (422) without writing anything.
 */
import type { ImagingStudy } from 'fhir/r4';
import { DCM } from '../fhir/codes';
import { studyInstanceUidOf } from '../pipeline/imaging-study';

export type ArrivalSkipReason =
  'not-available' | 'withdrawn' | 'not-mr' | 'not-lumbar' | 'no-study-instance-uid' | 'no-endpoint';

export type ArrivalDecision = { queue: true } | { queue: false; reason: ArrivalSkipReason };

const isMrCoding = (coding: { system?: string; code?: string } | undefined): boolean =>
  coding?.code === 'MR' && (coding.system === undefined || coding.system === DCM);

function hasStudyInstanceUid(study: ImagingStudy): boolean {
  try {
    studyInstanceUidOf(study);
    return true;
  } catch {
    return false;
  }
}

/** Whether the watcher queues this study, or why not (a reason with no identifier in it, for the log). */
export function arrivalDecision(study: ImagingStudy, isLumbarMri: (study: ImagingStudy) => boolean): ArrivalDecision {
  if (study.status === 'registered') return { queue: false, reason: 'not-available' };
  if (study.status === 'cancelled' || study.status === 'entered-in-error') return { queue: false, reason: 'withdrawn' };
  const isMr = (study.modality ?? []).some(isMrCoding) || (study.series ?? []).some((s) => isMrCoding(s.modality));
  if (!isMr) return { queue: false, reason: 'not-mr' };
  if (!isLumbarMri(study)) return { queue: false, reason: 'not-lumbar' };
  if (!hasStudyInstanceUid(study)) return { queue: false, reason: 'no-study-instance-uid' };
  if (!study.endpoint?.[0]?.reference) return { queue: false, reason: 'no-endpoint' };
  return { queue: true };
}

/** The log line's words for a reason. */
export const SKIP_REASON_TEXT: Record<ArrivalSkipReason, string> = {
  'not-available': 'its images are not all there yet (status registered); read again when the EHR updates it',
  withdrawn: 'it was cancelled or entered in error',
  'not-mr': 'not an MR study',
  'not-lumbar': 'an MR study, but not of the lumbar spine (CDS_CODES_FILE)',
  'no-study-instance-uid': 'it has no Study Instance UID (identifier urn:dicom:uid)',
  'no-endpoint': 'it names no endpoint, so its DICOMweb server is unknown',
};
