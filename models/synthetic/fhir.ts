/**
 * FHIR R4 resources for a generated study (docs/fhir-mapping.md §What we read from the ImagingStudy): Patient, the
 * DICOMweb Endpoint and an ImagingStudy listing every series and instance, so a FHIR server can be seeded straight from
 * the generator.
 */
import type { Endpoint, ImagingStudy, Patient } from 'fhir/r4';

export interface StudyResourceFacts {
  patient: { id: string; name: string; birthDate: string; sex: 'M' | 'F' };
  studyInstanceUid: string;
  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  description: string;
  series: {
    uid: string;
    number: number;
    description: string;
    instances: { sopInstanceUid: string; sopClassUid: string; instanceNumber: number }[];
  }[];
  dicomWebBaseUrl: string;
}

export interface StudyResources {
  patient: Patient;
  endpoint: Endpoint;
  imagingStudy: ImagingStudy;
}

const SYNTHETIC_TAG = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  code: 'HTEST',
  display: 'test health data',
};

/** FHIR id: [A-Za-z0-9\-.]{1,64}. */
const fhirId = (value: string): string => value.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64);

export function buildStudyResources(facts: StudyResourceFacts): StudyResources {
  const patientId = fhirId(facts.patient.id.toLowerCase());
  const [family = 'Synthetic', given = ''] = facts.patient.name.split('^');
  const d = facts.patient.birthDate;
  const patient: Patient = {
    resourceType: 'Patient',
    id: patientId,
    meta: { tag: [SYNTHETIC_TAG] },
    identifier: [{ system: 'urn:ldh-cds:synthetic-mrn', value: facts.patient.id }],
    name: [{ family, given: given ? [given] : [] }],
    gender: facts.patient.sex === 'F' ? 'female' : 'male',
    birthDate: `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`,
  };
  const endpoint: Endpoint = {
    resourceType: 'Endpoint',
    id: 'dicomweb',
    status: 'active',
    connectionType: { system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type', code: 'dicom-wado-rs' },
    name: 'Synthetic studies (DICOMweb)',
    payloadType: [{ text: 'DICOM' }],
    payloadMimeType: ['application/dicom'],
    address: facts.dicomWebBaseUrl,
  };
  const sd = facts.studyDate;
  const st = facts.studyTime;
  const imagingStudy: ImagingStudy = {
    resourceType: 'ImagingStudy',
    id: fhirId(`${patientId}-mr-lspine`),
    meta: { tag: [SYNTHETIC_TAG] },
    identifier: [
      { system: 'urn:dicom:uid', value: `urn:oid:${facts.studyInstanceUid}` },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
        value: facts.accessionNumber,
      },
    ],
    status: 'available',
    modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' }],
    subject: { reference: `Patient/${patientId}` },
    started: `${sd.slice(0, 4)}-${sd.slice(4, 6)}-${sd.slice(6, 8)}T${st.slice(0, 2)}:${st.slice(2, 4)}:${st.slice(4, 6)}Z`,
    endpoint: [{ reference: 'Endpoint/dicomweb' }],
    numberOfSeries: facts.series.length,
    numberOfInstances: facts.series.reduce((sum, series) => sum + series.instances.length, 0),
    procedureCode: [
      {
        coding: [
          { system: 'http://www.ama-assn.org/go/cpt', code: '72148', display: 'MRI lumbar spine without contrast' },
        ],
        text: 'MRI lumbar spine without contrast',
      },
    ],
    description: facts.description,
    series: facts.series.map((series) => ({
      uid: series.uid,
      number: series.number,
      modality: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' },
      description: series.description,
      numberOfInstances: series.instances.length,
      endpoint: [{ reference: 'Endpoint/dicomweb' }],
      bodySite: { system: 'http://snomed.info/sct', code: '122496007', display: 'Lumbar spine structure' },
      instance: series.instances.map((instance) => ({
        uid: instance.sopInstanceUid,
        sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${instance.sopClassUid}` },
        number: instance.instanceNumber,
      })),
    })),
  };
  return { patient, endpoint, imagingStudy };
}
