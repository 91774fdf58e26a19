/**
 * Which patient, checked twice (docs/security.md §Knowing the caller and the patient):
 *
 * 1. A patient-scoped SMART token acts on its own patient only: the ImagingStudy (or report) it names must have the
 *    token's `patient` as its subject — checked right after the FHIR read, before any DICOM is fetched
 *    (`subjectRefusal`).
 * 2. The images must be the ImagingStudy's, and its patient's: before anything is written, every instance the PACS
 *    returned must carry the ImagingStudy's Study Instance UID, and a Patient ID (0010,0020) — with its issuer where
 *    the instance names one — that is one of the identifiers of the ImagingStudy's Patient (`imagesMismatch`).
 *    Many PACS cannot enforce patient-level SMART scopes, and a study filed under the wrong order or merged into the
 *    wrong patient is a known PACS failure; this check is ours.
 *
 * The identifier rule (`identifierMatches`): the values are equal (surrounding spaces ignored, case kept: MRNs are
 * case-sensitive at some sites). When the instance names an issuer — Issuer of Patient ID (0010,0021), or the
 * Universal Entity ID (0040,0032) of the Issuer of Patient ID Qualifiers Sequence (0010,0024) — and the FHIR
 * identifier names its namespace (`system`, or an `assigner`), the two must name the same namespace: the issuer is the
 * system itself (a URI), or an OID whose `urn:oid:` form is the system, or a local name equal to the system's last
 * segment or to the assigner's display or identifier (case-insensitive). When either side names no namespace, equal
 * values suffice. An instance without a Patient ID, or a Patient without identifiers, cannot be checked: refused.
 *
 * The rules are pure (no I/O); `assertOwnPatient` and `withImagesOfPatient` are how the pipeline applies them.
 */
import type { Identifier, Patient, Reference } from 'fhir/r4';
import { getString, type DicomJson } from '../dicom/dicom-json';
import type { DicomwebRetriever } from '../dicomweb/dicomweb-retriever';
import { PipelineError } from './pipeline-error';

/** A patient-scoped token's restriction: the patient in its context (undefined when the token names none). */
export interface PatientRestriction {
  patientId: string | undefined;
}

/** `Patient/<id>` of a subject reference, relative or absolute on this FHIR base; undefined for anything else. */
export function patientIdOfSubject(subject: Reference | undefined, fhirBaseUrl: string): string | undefined {
  let reference = subject?.reference?.replace(/\/_history\/[^/]*$/, '');
  if (reference === undefined) return undefined;
  const base = `${fhirBaseUrl.replace(/\/+$/, '')}/`;
  if (reference.startsWith(base)) reference = reference.slice(base.length);
  return /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference)?.[1];
}

/**
 * Why a patient-scoped token may not act on this resource (its subject is not the token's patient), or undefined
 * when it may. `what` names the resource for the sentence (`ImagingStudy/s1`).
 */
export function subjectRefusal(
  what: string,
  subject: Reference | undefined,
  restriction: PatientRestriction | undefined,
  fhirBaseUrl: string,
): string | undefined {
  if (!restriction) return undefined;
  if (restriction.patientId === undefined) {
    return `This EHR session is limited to one patient but names none, so it may not open ${what}. Re-launch ldh-cds from the patient's chart.`;
  }
  if (patientIdOfSubject(subject, fhirBaseUrl) === restriction.patientId) return undefined;
  return `${what} is not a study of the patient this EHR session was opened for; ldh-cds opens only that patient's studies. Re-launch ldh-cds from the other patient's chart.`;
}

/** What the PACS says about one instance's patient and study. */
export interface DicomPatientFacts {
  studyInstanceUid: string | undefined;
  patientId: string | undefined;
  /** Issuer of Patient ID (0010,0021) and the qualifiers' Universal Entity ID (0040,0032), where present. */
  issuers: string[];
}

const ISSUER_QUALIFIERS_SEQUENCE = '00100024';
const UNIVERSAL_ENTITY_ID = '00400032';

function trimmed(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text === undefined || text === '' ? undefined : text;
}

export function dicomPatientOf(instance: DicomJson): DicomPatientFacts {
  const qualifiers = (instance[ISSUER_QUALIFIERS_SEQUENCE]?.Value ?? []) as DicomJson[];
  const universal = qualifiers
    .map((item) => trimmed(typeof item === 'object' ? getFirstString(item, UNIVERSAL_ENTITY_ID) : undefined))
    .filter((value): value is string => value !== undefined);
  const issuer = trimmed(getString(instance, 'IssuerOfPatientID'));
  return {
    studyInstanceUid: trimmed(getString(instance, 'StudyInstanceUID')),
    patientId: trimmed(getString(instance, 'PatientID')),
    issuers: [...(issuer === undefined ? [] : [issuer]), ...universal],
  };
}

function getFirstString(item: DicomJson, tag: string): string | undefined {
  const value = item[tag]?.Value?.[0];
  return typeof value === 'string' ? value : undefined;
}

/** The last segment of a system URI (`…/sid/mrn` → `mrn`, `urn:oid:1.2.3` → `1.2.3`). */
function systemTail(system: string): string {
  return (
    system
      .replace(/[/#:]+$/, '')
      .split(/[/#:]/)
      .pop() ?? system
  );
}

/** Whether an issuer named by the instance and an identifier's namespace (system, assigner) are the same one. */
function sameNamespace(issuer: string, identifier: Identifier): boolean {
  const lower = issuer.toLowerCase();
  const { system, assigner } = identifier;
  if (system !== undefined) {
    if (issuer === system || `urn:oid:${issuer}` === system || issuer === `urn:oid:${system}`) return true;
    if (lower === systemTail(system).toLowerCase()) return true;
  }
  const names = [assigner?.display, assigner?.identifier?.value].filter((name): name is string => !!name);
  return names.some((name) => name.trim().toLowerCase() === lower);
}

/** The identifier rule (module comment): equal values, and the same namespace where both sides name one. */
export function identifierMatches(
  facts: Pick<DicomPatientFacts, 'patientId' | 'issuers'>,
  identifier: Identifier,
): boolean {
  if (facts.patientId === undefined || trimmed(identifier.value) !== facts.patientId) return false;
  const namesNamespace = identifier.system !== undefined || identifier.assigner !== undefined;
  if (facts.issuers.length === 0 || !namesNamespace) return true;
  return facts.issuers.some((issuer) => sameNamespace(issuer, identifier));
}

export interface ExpectedImages {
  /** `ImagingStudy/<id>`, for the sentence. */
  imagingStudy: string;
  studyInstanceUid: string;
  patient: Patient;
}

/** The Patient's MRN (identifier typed MR) or else its first identifier, as the sentence names it. */
function describePatient(patient: Patient): string {
  const identifiers = patient.identifier ?? [];
  const mrn = identifiers.find((id) => id.type?.coding?.some((coding) => coding.code === 'MR')) ?? identifiers[0];
  const label = mrn?.type?.coding?.some((coding) => coding.code === 'MR') ? 'MRN' : 'patient ID';
  return mrn?.value ? `${label} ${mrn.value}` : `Patient/${patient.id ?? '?'}`;
}

/**
 * Why these instances may not be taken as the ImagingStudy's images (a sentence the user can act on), or undefined
 * when every instance is of the study and of its patient.
 */
export function imagesMismatch(instances: readonly DicomJson[], expected: ExpectedImages): string | undefined {
  const { imagingStudy, studyInstanceUid, patient } = expected;
  const tail = 'nothing was written. Check the study in the PACS.';
  const identifiers = (patient.identifier ?? []).filter((identifier) => trimmed(identifier.value) !== undefined);
  const checked = new Set<string>();
  for (const instance of instances) {
    const facts = dicomPatientOf(instance);
    if (facts.studyInstanceUid !== studyInstanceUid) {
      return facts.studyInstanceUid === undefined
        ? `The PACS returned images for ${imagingStudy} without a Study Instance UID, so ldh-cds cannot tell which study they are; ${tail}`
        : `The PACS returned images of study ${facts.studyInstanceUid} for ${imagingStudy}, whose study is ${studyInstanceUid}; ${tail}`;
    }
    const key = `${facts.patientId ?? ''}\u0000${facts.issuers.join('\u0000')}`;
    if (checked.has(key)) continue;
    checked.add(key);
    if (facts.patientId === undefined) {
      return `The images of ${imagingStudy} carry no Patient ID (0010,0020), so ldh-cds cannot check that they belong to this patient; ${tail}`;
    }
    if (identifiers.length === 0) {
      return `Patient/${patient.id ?? '?'} has no identifier to compare with the images' Patient ID, so ldh-cds cannot check that the images of ${imagingStudy} belong to this patient; nothing was written.`;
    }
    if (!identifiers.some((identifier) => identifierMatches(facts, identifier))) {
      const issuer = facts.issuers[0] === undefined ? '' : ` (issuer ${facts.issuers[0]})`;
      return `The images of ${imagingStudy} belong to patient ID ${facts.patientId}${issuer}, not to this patient (${describePatient(patient)}); ${tail}`;
    }
  }
  return undefined;
}

/** A patient-scoped token acts on its own patient's resources only: 403 with the sentence, before anything else. */
export function assertOwnPatient(
  what: string,
  subject: Reference | undefined,
  request: { fhirBaseUrl: string; patientRestriction?: PatientRestriction | undefined },
): void {
  const refusal = subjectRefusal(what, subject, request.patientRestriction, request.fhirBaseUrl);
  if (refusal) throw new PipelineError('forbidden', refusal);
}

/**
 * The source, with every series' metadata checked against the ImagingStudy and its Patient as it arrives
 * (`imagesMismatch`): a mismatch stops the analysis (422) before any frame is decoded and before anything is
 * written. Frames are asked for by the UIDs of metadata that passed.
 */
export function withImagesOfPatient(source: DicomwebRetriever, expected: ExpectedImages): DicomwebRetriever {
  return {
    ...source,
    async retrieveSeriesMetadata(studyInstanceUid, seriesInstanceUid) {
      const instances = await source.retrieveSeriesMetadata(studyInstanceUid, seriesInstanceUid);
      const mismatch = imagesMismatch(instances, expected);
      if (mismatch) throw new PipelineError('unprocessable', mismatch);
      return instances;
    },
  };
}
