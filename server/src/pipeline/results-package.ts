/**
 * The results of an analysis as files, for integration engineers (`npm run analyze -- --fhir-bundle FILE --sr FILE`):
 * the FHIR transaction ldh-cds would send and the DICOM SR it would store, built from DICOM alone. Without an EHR
 * context the patient and the study are conditional references (R4 http.html#trules, "Conditional References"): the
 * receiving server resolves `Patient?identifier=…` and `ImagingStudy?identifier=…` when it processes the transaction.
 */
import type { Bundle, Reference } from 'fhir/r4';
import { getString, type DicomJson } from '../dicom/dicom-json';
import type { ModelDescription, StructuredReportRef } from '../fhir/builders';
import { findingsToTransaction } from '../fhir/write-findings';
import type { Findings } from '../findings/findings';
import { structuredReportOrWarning } from './structured-report';

export interface ResultsPackage {
  bundle: Bundle;
  structuredReport?: StructuredReportRef;
}

const URI_OR_OID = /^(?:[a-z][a-z0-9+.-]*:|\d+(?:\.\d+)+$)/i;

/**
 * `Patient?identifier=<system>|<Patient ID>`: the Issuer of Patient ID is the identifier system when it is a URI or an
 * OID (PS3.3 C.7.1.1); any other issuer is a local name with no FHIR system, so the search names the value alone.
 */
export function patientConditionalReference(instances: readonly DicomJson[]): Reference {
  const first = instances[0] ?? {};
  const patientId = getString(first, 'PatientID');
  if (!patientId) throw new Error('the images have no Patient ID (0010,0020): the FHIR subject cannot be named');
  const issuer = getString(first, 'IssuerOfPatientID');
  const system = issuer && URI_OR_OID.test(issuer) ? (/^\d/.test(issuer) ? `urn:oid:${issuer}` : issuer) : undefined;
  const token = system ? `${system}|${patientId}` : patientId;
  return { reference: `Patient?identifier=${encodeURIComponent(token)}` };
}

export function resultsPackage(
  findings: Findings,
  instances: DicomJson[],
  model: ModelDescription,
  issued: Date,
): ResultsPackage {
  const structuredReport = structuredReportOrWarning(findings, instances, issued);
  const bundle = findingsToTransaction(findings, model, {
    subject: patientConditionalReference(instances),
    imagingStudy: {
      reference: `ImagingStudy?identifier=${encodeURIComponent(`urn:dicom:uid|urn:oid:${findings.studyInstanceUid}`)}`,
    },
    issued: issued.toISOString(),
    ...(structuredReport ? { structuredReport } : {}),
  });
  return { bundle, ...(structuredReport ? { structuredReport } : {}) };
}
