import { describe, expect, it } from 'vitest';
import { imagingStudySearchUrl, isTokenExpired } from './ehr';
import { errorToMessage } from './error-message';
import { ApiError } from './api';
import { searchToLaunchParams } from './launch-params';
import { SESSION_LOST_MESSAGE, SMART_SCOPE } from './smart-scope';

describe('SMART launch', () => {
  it('when iss and launch are present, then the launch proceeds', () => {
    expect(searchToLaunchParams('?iss=http%3A%2F%2Flocalhost%3A4000%2Ffhir&launch=abc')).toEqual({
      ok: true,
      iss: 'http://localhost:4000/fhir',
      launch: 'abc',
    });
  });

  it('when opened without iss or launch, then the message names what is missing', () => {
    const result = searchToLaunchParams('');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain('no iss or launch parameter');
    const noLaunch = searchToLaunchParams('?iss=http://x/fhir');
    expect(!noLaunch.ok && noLaunch.message).toContain('no launch parameter');
    const badIss = searchToLaunchParams('?iss=not-a-url&launch=1');
    expect(!badIss.ok && badIss.message).toContain('not a FHIR server URL');
  });

  it('asks for the EHR-launch scopes and never a bare wildcard', () => {
    const scopes = SMART_SCOPE.split(' ');
    expect(scopes).toContain('launch');
    expect(scopes).toContain('patient/ImagingStudy.rs');
    expect(scopes).toContain('patient/DiagnosticReport.crus');
    expect(scopes).toContain('patient/Provenance.crs');
    expect(scopes.some((scope) => scope.includes('*'))).toBe(false);
  });

  it('searches studies by the Patient/<id> reference', () => {
    expect(imagingStudySearchUrl('p1')).toBe('ImagingStudy?patient=Patient/p1&_count=100');
  });
});

describe('session', () => {
  it('when the token expires within the skew, then it counts as expired', () => {
    expect(isTokenExpired(undefined, 0)).toBe(false);
    expect(isTokenExpired(1000, 980_000)).toBe(false);
    expect(isTokenExpired(1000, 995_000)).toBe(true);
  });

  it('when the server rejects the token, then the clinician is told to relaunch', () => {
    expect(errorToMessage(new ApiError(401, 'expired'), 'analyze the study')).toBe(SESSION_LOST_MESSAGE);
    expect(errorToMessage(Object.assign(new Error('401 Unauthorized'), { status: 401 }), 'load')).toBe(
      SESSION_LOST_MESSAGE,
    );
    expect(errorToMessage(new ApiError(500, 'Model failed to load'), 'analyze the study')).toBe('Model failed to load');
    expect(errorToMessage(new TypeError('Failed to fetch'), 'analyze the study')).toBe(
      'Could not analyze the study: the server could not be reached (Failed to fetch).',
    );
  });
});
