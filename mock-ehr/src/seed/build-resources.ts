/**
 * FHIR R4 resources for the seeded synthetic chart: the signed-in Practitioner, one DICOMweb Endpoint, and per
 * patient a Patient and an ImagingStudy (docs/fhir-mapping.md §What we read from the ImagingStudy:
 * ImagingStudy.endpoint → Endpoint with connectionType dicom-wado-rs and address = DICOMweb base).
 */
import type { DiagnosticReport, Endpoint, ImagingStudy, Patient, Practitioner } from '@medplum/fhirtypes';

export const MRN_SYSTEM = 'https://mock-ehr.ldh-cds.example/fhir/sid/mrn';
export const SYNTHETIC_TAG = {
  system: 'https://mock-ehr.ldh-cds.example/fhir/CodeSystem/data-origin',
  code: 'synthetic',
  display: 'Synthetic test data',
};
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const CPT = 'http://www.ama-assn.org/go/cpt';
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';

export interface SyntheticPerson {
  id: string;
  mrn: string;
  family: string;
  given: string;
  birthDate: string; // YYYY-MM-DD
  sex: 'M' | 'F';
}

export function buildPractitioner(id: string): Practitioner {
  return {
    resourceType: 'Practitioner',
    id,
    meta: { tag: [SYNTHETIC_TAG] },
    active: true,
    identifier: [{ system: 'https://mock-ehr.ldh-cds.example/fhir/sid/staff', value: 'SYN-CLIN-1' }],
    name: [
      { use: 'official', family: 'Clinician', given: ['Synthetic'], prefix: ['Dr.'], text: 'Dr. Synthetic Clinician' },
    ],
  };
}

export function buildPatient(person: SyntheticPerson): Patient {
  return {
    resourceType: 'Patient',
    id: person.id,
    meta: { tag: [SYNTHETIC_TAG] },
    active: true,
    identifier: [
      {
        use: 'usual',
        type: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' },
          ],
        },
        system: MRN_SYSTEM,
        value: person.mrn,
      },
    ],
    name: [{ use: 'official', family: person.family, given: [person.given], text: `${person.given} ${person.family}` }],
    gender: person.sex === 'F' ? 'female' : 'male',
    birthDate: person.birthDate,
  };
}

/** FHIR R4 Endpoint: connectionType dicom-wado-rs (terminology.hl7.org endpoint-connection-type). */
export function buildDicomWebEndpoint(id: string, address: string): Endpoint {
  return {
    resourceType: 'Endpoint',
    id,
    meta: { tag: [SYNTHETIC_TAG] },
    status: 'active',
    name: 'Mock EHR DICOMweb (synthetic studies)',
    connectionType: {
      system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
      code: 'dicom-wado-rs',
      display: 'DICOM WADO-RS',
    },
    payloadType: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/endpoint-payload-type', code: 'any', display: 'Any' },
        ],
        text: 'DICOM',
      },
    ],
    payloadMimeType: ['application/dicom'],
    address,
  };
}

export interface StudyFacts {
  id: string;
  patientId: string;
  endpointId: string;
  studyInstanceUid: string;
  /** ISO 8601 dateTime with offset. */
  started: string;
  description: string;
  accessionNumber: string | undefined;
  series: {
    uid: string;
    number: number | undefined;
    modality: string;
    description: string;
    instances: { uid: string; sopClassUid: string; number: number | undefined }[];
  }[];
}

export function buildImagingStudy(facts: StudyFacts): ImagingStudy {
  const instanceCount = facts.series.reduce((sum, series) => sum + series.instances.length, 0);
  const modalities = [...new Set(facts.series.map((series) => series.modality))];
  return {
    resourceType: 'ImagingStudy',
    id: facts.id,
    meta: { tag: [SYNTHETIC_TAG] },
    identifier: [
      // FHIR R4 ImagingStudy: the Study Instance UID as urn:oid in an identifier with system urn:dicom:uid.
      { system: 'urn:dicom:uid', value: `urn:oid:${facts.studyInstanceUid}` },
      ...(facts.accessionNumber
        ? [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
              value: facts.accessionNumber,
            },
          ]
        : []),
    ],
    status: 'available',
    modality: modalities.map((code) => ({ system: DCM, code })),
    subject: { reference: `Patient/${facts.patientId}` },
    started: facts.started,
    endpoint: [{ reference: `Endpoint/${facts.endpointId}` }],
    numberOfSeries: facts.series.length,
    numberOfInstances: instanceCount,
    procedureCode: [
      {
        coding: [{ system: CPT, code: '72148', display: 'MRI lumbar spine without contrast' }],
        text: 'MRI lumbar spine without contrast',
      },
    ],
    description: facts.description,
    series: facts.series.map((series) => ({
      uid: series.uid,
      ...(series.number !== undefined ? { number: series.number } : {}),
      modality: { system: DCM, code: series.modality },
      description: series.description,
      numberOfInstances: series.instances.length,
      endpoint: [{ reference: `Endpoint/${facts.endpointId}` }],
      bodySite: { system: SNOMED, code: '122496007', display: 'Lumbar spine structure' },
      instance: series.instances.map((instance) => ({
        uid: instance.uid,
        sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${instance.sopClassUid}` },
        ...(instance.number !== undefined ? { number: instance.number } : {}),
      })),
    })),
  };
}

/**
 * A prior radiology report, as a chart has before anyone runs ldh-cds: final, signed by the practitioner, dated
 * before the MRI and linked to no ImagingStudy here (the prior images are not in this PACS). Its free-text conclusion
 * holds no MSU lines, so the app's CDS card does not mistake it for an ldh-cds analysis.
 */
export function buildPriorReport(
  patientId: string,
  practitionerId: string,
  issued: string,
  conclusion: string,
): DiagnosticReport {
  return {
    resourceType: 'DiagnosticReport',
    id: `${patientId}-prior-xr`,
    meta: { tag: [SYNTHETIC_TAG] },
    status: 'final',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD', display: 'Radiology' }],
      },
    ],
    code: {
      coding: [{ system: LOINC, code: '18748-4', display: 'Diagnostic imaging study' }],
      text: 'XR lumbar spine, 2 views (prior)',
    },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: issued,
    issued,
    performer: [{ reference: `Practitioner/${practitionerId}` }],
    conclusion,
  };
}
