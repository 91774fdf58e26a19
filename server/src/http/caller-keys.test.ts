import { describe, expect, it } from 'vitest';
import { analysisUserKey, jobReaderKey } from './caller-keys';

describe('analysisUserKey', () => {
  it('when the token names its user, then sub (else fhirUser) is the key; otherwise a hash of the token, never the token', () => {
    expect(analysisUserKey({ sub: 'u1', fhirUser: 'Practitioner/1' }, 'secret')).toBe('sub:u1');
    expect(analysisUserKey({ fhirUser: 'Practitioner/1' }, 'secret')).toBe('fhirUser:Practitioner/1');
    const hashed = analysisUserKey(undefined, 'secret-token');
    expect(hashed).toMatch(/^token:[A-Za-z0-9_-]{43}$/);
    expect(hashed).not.toContain('secret');
  });
});

describe('jobReaderKey', () => {
  const base = 'https://ehr.example/fhir';
  const clinician = { sub: 'u1', fhirUser: 'Practitioner/1', patientScoped: true, patient: 'p1' };

  it('when the same user asks again in the same patient’s chart with a new token, then the key is the same', () => {
    expect(jobReaderKey(base, clinician, 'token-a')).toBe(jobReaderKey(base, clinician, 'token-b'));
  });

  it('when another patient, another EHR, another user or a token of any patient asks, then each is another reader', () => {
    const own = jobReaderKey(base, clinician, 'token-a');
    const others = [
      jobReaderKey(base, { ...clinician, patient: 'p2' }, 'token-a'),
      jobReaderKey('https://other.example/fhir', clinician, 'token-a'),
      jobReaderKey(base, { ...clinician, sub: 'u2' }, 'token-a'),
      jobReaderKey(base, { ...clinician, patientScoped: false }, 'token-a'),
    ];
    expect(new Set([own, ...others]).size).toBe(5);
  });

  it('when the token names no user, then the key holds a hash of it, never the token', () => {
    const key = jobReaderKey(
      base,
      { sub: undefined, fhirUser: undefined, patientScoped: false, patient: undefined },
      'secret-token',
    );
    expect(key).not.toContain('secret');
    expect(key).toContain('token:');
  });
});
