import { UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { fhirUserOfToken } from './smart-user';

describe('fhirUserOfToken', () => {
  it('when the access token is a JWT with fhirUser, then that is the user', () => {
    const token = new UnsecuredJWT({ fhirUser: 'http://ehr.example/fhir/Practitioner/p1' }).encode();
    expect(fhirUserOfToken(token)).toBe('http://ehr.example/fhir/Practitioner/p1');
  });

  it('when the token is opaque or names no fhirUser, then there is no user', () => {
    expect(fhirUserOfToken('opaque-token-value')).toBeUndefined();
    expect(fhirUserOfToken(new UnsecuredJWT({ sub: 'p1' }).encode())).toBeUndefined();
  });
});
