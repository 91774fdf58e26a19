import type { Identifier, Patient } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import type { DicomJson } from '../dicom/dicom-json';
import { identifierMatches, imagesMismatch, patientIdOfSubject, subjectRefusal } from './patient-match';

const FHIR = 'http://ehr.example/fhir';
const MRN_SYSTEM = 'https://hospital.example/fhir/sid/mrn';
const STUDY = '1.2.826.0.1.1';

function instance(fields: { study?: string; patientId?: string; issuer?: string; universal?: string }): DicomJson {
  return {
    '00080018': { vr: 'UI', Value: ['1.2.3.4'] },
    ...(fields.study === undefined ? {} : { '0020000D': { vr: 'UI', Value: [fields.study] } }),
    ...(fields.patientId === undefined ? {} : { '00100020': { vr: 'LO', Value: [fields.patientId] } }),
    ...(fields.issuer === undefined ? {} : { '00100021': { vr: 'LO', Value: [fields.issuer] } }),
    ...(fields.universal === undefined
      ? {}
      : {
          '00100024': {
            vr: 'SQ',
            Value: [{ '00400032': { vr: 'UT', Value: [fields.universal] }, '00400033': { vr: 'CS', Value: ['ISO'] } }],
          },
        }),
  };
}

const mrn = (value: string, more: Partial<Identifier> = {}): Identifier => ({
  type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
  system: MRN_SYSTEM,
  value,
  ...more,
});

const patient = (...identifier: Identifier[]): Patient => ({ resourceType: 'Patient', id: 'p1', identifier });
const expected = (p: Patient) => ({ imagingStudy: 'ImagingStudy/s1', studyInstanceUid: STUDY, patient: p });

describe('imagesMismatch (the wrong-patient guard)', () => {
  it("when every instance is of the study and carries the Patient's MRN, then the images are accepted", () => {
    const images = [
      instance({ study: STUDY, patientId: 'SYN-1000' }),
      instance({ study: STUDY, patientId: 'SYN-1000' }),
    ];
    expect(imagesMismatch(images, expected(patient(mrn('SYN-1000'))))).toBeUndefined();
  });

  it("when the images carry another patient's ID, then the sentence names both and says nothing was written", () => {
    expect(
      imagesMismatch([instance({ study: STUDY, patientId: 'SYN-1001' })], expected(patient(mrn('SYN-1000')))),
    ).toBe(
      'The images of ImagingStudy/s1 belong to patient ID SYN-1001, not to this patient (MRN SYN-1000); nothing was ' +
        'written. Check the study in the PACS.',
    );
  });

  it('when one instance of many belongs to another patient, then the study is refused', () => {
    const images = [instance({ study: STUDY, patientId: 'SYN-1000' }), instance({ study: STUDY, patientId: 'X-9' })];
    expect(imagesMismatch(images, expected(patient(mrn('SYN-1000'))))).toMatch(/patient ID X-9/);
  });

  it("when an instance is of another study than the ImagingStudy's, then it is refused whatever its patient", () => {
    expect(
      imagesMismatch([instance({ study: '1.2.3.999', patientId: 'SYN-1000' })], expected(patient(mrn('SYN-1000')))),
    ).toMatch(
      /images of study 1\.2\.3\.999 for ImagingStudy\/s1, whose study is 1\.2\.826\.0\.1\.1; nothing was written/,
    );
    expect(imagesMismatch([instance({ patientId: 'SYN-1000' })], expected(patient(mrn('SYN-1000'))))).toMatch(
      /without a Study Instance UID/,
    );
  });

  it('when the images carry no Patient ID, or the Patient has no identifier, then nothing can be checked: refused', () => {
    expect(imagesMismatch([instance({ study: STUDY })], expected(patient(mrn('SYN-1000'))))).toMatch(
      /carry no Patient ID \(0010,0020\)/,
    );
    expect(imagesMismatch([instance({ study: STUDY, patientId: 'SYN-1000' })], expected(patient()))).toMatch(
      /Patient\/p1 has no identifier/,
    );
  });

  it('when the value matches a second identifier of the Patient (not the MRN), then the images are accepted', () => {
    const p = patient(mrn('SYN-1000'), { system: 'urn:oid:2.16.840.1.113883.4.1', value: '999-12-3456' });
    expect(imagesMismatch([instance({ study: STUDY, patientId: '999-12-3456' })], expected(p))).toBeUndefined();
  });

  it('when values differ only by padding, then they match; by case, they do not', () => {
    expect(
      imagesMismatch([instance({ study: STUDY, patientId: 'SYN-1000 ' })], expected(patient(mrn('SYN-1000')))),
    ).toBe(undefined);
    expect(
      imagesMismatch([instance({ study: STUDY, patientId: 'syn-1000' })], expected(patient(mrn('SYN-1000')))),
    ).toMatch(/belong to patient ID syn-1000/);
  });
});

describe('identifierMatches (Patient ID with its issuer)', () => {
  const facts = (patientId: string, ...issuers: string[]) => ({ patientId, issuers });

  it('when the instance names no issuer, then the value decides', () => {
    expect(identifierMatches(facts('A1'), mrn('A1'))).toBe(true);
    expect(identifierMatches(facts('A1'), mrn('A2'))).toBe(false);
  });

  it('when the issuer is the identifier system, its OID or its last segment, then it matches', () => {
    expect(identifierMatches(facts('A1', MRN_SYSTEM), mrn('A1'))).toBe(true);
    expect(identifierMatches(facts('A1', '1.2.840.114350'), mrn('A1', { system: 'urn:oid:1.2.840.114350' }))).toBe(
      true,
    );
    expect(identifierMatches(facts('A1', 'MRN'), mrn('A1'))).toBe(true);
  });

  it("when the issuer is a local name equal to the identifier's assigner, then it matches", () => {
    const withAssigner = mrn('A1', { system: undefined, assigner: { display: 'St. Elsewhere Hospital' } });
    expect(identifierMatches(facts('A1', 'st. elsewhere hospital'), withAssigner)).toBe(true);
    const withAssignerId = mrn('A1', { assigner: { identifier: { value: 'HOSP-A' } } });
    expect(identifierMatches(facts('A1', 'HOSP-A'), withAssignerId)).toBe(true);
  });

  it('when the same value is issued by another namespace, then it does not match (another hospital, same number)', () => {
    expect(identifierMatches(facts('A1', 'OTHER-HOSPITAL'), mrn('A1'))).toBe(false);
    expect(identifierMatches(facts('A1', '1.2.3.4'), mrn('A1', { system: 'urn:oid:1.2.3.5' }))).toBe(false);
  });

  it('when the FHIR identifier names no namespace, then an issuer on the instance does not refuse it', () => {
    expect(identifierMatches(facts('A1', 'ANY'), { value: 'A1' })).toBe(true);
  });

  it('when the issuer comes from the qualifiers sequence (Universal Entity ID), then it is compared too', () => {
    const images = [instance({ study: STUDY, patientId: 'A1', universal: '1.2.840.114350' })];
    const p = patient(mrn('A1', { system: 'urn:oid:1.2.840.114350' }));
    expect(imagesMismatch(images, expected(p))).toBeUndefined();
    expect(imagesMismatch(images, expected(patient(mrn('A1', { system: 'urn:oid:9.9' }))))).toMatch(
      /belong to patient ID A1 \(issuer 1\.2\.840\.114350\)/,
    );
  });
});

describe('subjectRefusal (a patient-scoped token acts on its own patient only)', () => {
  it('when the token is not held to a patient, then any subject is allowed', () => {
    expect(subjectRefusal('ImagingStudy/s1', { reference: 'Patient/p2' }, undefined, FHIR)).toBeUndefined();
  });

  it("when the subject is the token's patient, relative or absolute on this FHIR base, then it is allowed", () => {
    expect(subjectRefusal('ImagingStudy/s1', { reference: 'Patient/p1' }, { patientId: 'p1' }, FHIR)).toBeUndefined();
    expect(
      subjectRefusal('ImagingStudy/s1', { reference: `${FHIR}/Patient/p1` }, { patientId: 'p1' }, FHIR),
    ).toBeUndefined();
  });

  it('when the subject is another patient, on another server or missing, then a sentence refuses it', () => {
    const refusal = subjectRefusal('ImagingStudy/s1', { reference: 'Patient/p2' }, { patientId: 'p1' }, FHIR);
    expect(refusal).toMatch(/^ImagingStudy\/s1 is not a study of the patient this EHR session was opened for/);
    expect(
      subjectRefusal(
        'ImagingStudy/s1',
        { reference: 'http://other.example/fhir/Patient/p1' },
        { patientId: 'p1' },
        FHIR,
      ),
    ).toBeDefined();
    expect(subjectRefusal('ImagingStudy/s1', undefined, { patientId: 'p1' }, FHIR)).toBeDefined();
    expect(subjectRefusal('ImagingStudy/s1', { reference: 'Group/g1' }, { patientId: 'p1' }, FHIR)).toBeDefined();
  });

  it('when a patient-scoped token names no patient, then nothing is allowed', () => {
    expect(subjectRefusal('ImagingStudy/s1', { reference: 'Patient/p1' }, { patientId: undefined }, FHIR)).toMatch(
      /names none/,
    );
  });

  it('patientIdOfSubject drops a version and refuses other types', () => {
    expect(patientIdOfSubject({ reference: 'Patient/p1/_history/3' }, FHIR)).toBe('p1');
    expect(patientIdOfSubject({ reference: 'Practitioner/p1' }, FHIR)).toBeUndefined();
  });
});
