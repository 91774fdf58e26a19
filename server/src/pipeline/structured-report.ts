/**
 * The DICOM SR of an analysis (IHE AI Results: a Comprehensive 3D SR with a TID 1500 measurement report, built by
 * the sr stage) in the form the FHIR write-back points to. Shared by the API's analysis and the command line.
 */
import type { DicomJson } from '../dicom/dicom-json';
import { analysisKey, type StructuredReportRef } from '../fhir/builders';
import type { Findings } from '../findings/findings';
import { findingsToStructuredReport, nameBasedUid } from '../sr/build-structured-report';
import { srSourceFromDicomJson } from '../sr/sr-source';
import { StructuredReportError } from '../sr/structured-report-error';

/**
 * The DICOM SR of the analysis. Its UIDs are derived from the analysis (study, model, version), so an analysis that is
 * retried stores the same SOP Instance again instead of a second SR beside the first.
 */
export function structuredReportOf(findings: Findings, instances: DicomJson[], now: Date): StructuredReportRef {
  const key = analysisKey(findings.studyInstanceUid, findings.model);
  let next = 0;
  const sr = findingsToStructuredReport(findings, srSourceFromDicomJson(instances), {
    manufacturer: 'ldh-cds',
    now,
    uids: () => nameBasedUid(`${key}/sr/${next++}`),
  });
  return {
    sopInstanceUid: sr.sopInstanceUid,
    seriesInstanceUid: sr.seriesInstanceUid,
    trackingUids: sr.trackingUids,
    part10: sr.part10,
  };
}

/** The SR, or a warning on the findings when the images lack what an SR must copy (the FHIR results still stand). */
export function structuredReportOrWarning(
  findings: Findings,
  instances: DicomJson[],
  now: Date,
): StructuredReportRef | undefined {
  try {
    return structuredReportOf(findings, instances, now);
  } catch (error) {
    if (!(error instanceof StructuredReportError)) throw error;
    findings.warnings.push(`No DICOM SR was written (${error.message}), so the boxes are not stored with the report.`);
    return undefined;
  }
}
