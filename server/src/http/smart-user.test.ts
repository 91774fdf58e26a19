import { describe, expect, it } from 'vitest';
import { patientRestrictionOf, smartUserOfClaims } from './smart-user';

const EXP = 2_000_000_000;

describe('smartUserOfClaims (the verified token read into the session)', () => {
  it('when the claims name the user and the launch patient, then both are known', () => {
    const user = smartUserOfClaims(
      {
        sub: 'synthetic-clinician',
        fhirUser: 'http://ehr.example/fhir/Practitioner/p1',
        client_id: 'ldh-cds',
        scope: 'launch openid fhirUser patient/ImagingStudy.rs user/Practitioner.r',
        patient: 'synthetic-01',
      },
      EXP,
    );
    expect(user).toEqual({
      sub: 'synthetic-clinician',
      fhirUser: 'http://ehr.example/fhir/Practitioner/p1',
      clientId: 'ldh-cds',
      scopes: ['launch', 'openid', 'fhirUser', 'patient/ImagingStudy.rs', 'user/Practitioner.r'],
      patient: 'synthetic-01',
      patientScoped: true,
      exp: EXP,
    });
  });

  it('when fhirUser or patient is missing, empty or not a string, then there is none', () => {
    const user = smartUserOfClaims({ sub: 'x', fhirUser: '', patient: 42, scope: 'user/*.rs' }, EXP);
    expect(user.fhirUser).toBeUndefined();
    expect(user.patient).toBeUndefined();
    expect(user.patientScoped).toBe(false);
  });
});

describe('patientRestrictionOf (a patient-scoped token acts on its patient only)', () => {
  it('when the token has patient/ scopes, then it is held to its patient, even beside user/ scopes', () => {
    const user = smartUserOfClaims({ scope: 'patient/ImagingStudy.read user/ImagingStudy.rs', patient: 'p1' }, EXP);
    expect(patientRestrictionOf(user)).toEqual({ patientId: 'p1' });
  });

  it('when a patient-scoped token names no patient, then it is held to none (nothing is allowed)', () => {
    expect(patientRestrictionOf(smartUserOfClaims({ scope: 'patient/*.rs' }, EXP))).toEqual({ patientId: undefined });
  });

  it('when the token has only user/ or system/ scopes, then it is not held to a patient, launch patient or not', () => {
    expect(patientRestrictionOf(smartUserOfClaims({ scope: 'user/ImagingStudy.rs', patient: 'p1' }, EXP))).toBe(
      undefined,
    );
    expect(patientRestrictionOf(smartUserOfClaims({ scope: 'system/DiagnosticReport.rs' }, EXP))).toBeUndefined();
  });
});
