import { describe, expect, it } from 'vitest';
import { errorBodyToMessage, isOperationOutcome } from './operation-outcome';

describe('OperationOutcome → message', () => {
  it('when issue[0] has diagnostics, then they are the message', () => {
    const body = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'not-found',
          diagnostics: 'ImagingStudy/abc not found',
          details: { text: 'Not found' },
        },
      ],
    };
    expect(errorBodyToMessage(body, 404)).toBe('ImagingStudy/abc not found');
  });

  it('when issue[0] has only details.text, then that is the message', () => {
    const body = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'forbidden', details: { text: 'Untrusted FHIR server' } }],
    };
    expect(errorBodyToMessage(body, 403)).toBe('Untrusted FHIR server');
  });

  it('when the body is not an OperationOutcome or says nothing, then the HTTP status is named', () => {
    expect(errorBodyToMessage(undefined, 502, 'Bad Gateway')).toBe(
      'The ldh-cds server answered HTTP 502 Bad Gateway without an explanation.',
    );
    expect(errorBodyToMessage({ resourceType: 'OperationOutcome', issue: [] }, 500)).toBe(
      'The ldh-cds server answered HTTP 500 without an explanation.',
    );
    expect(isOperationOutcome({ resourceType: 'Bundle' })).toBe(false);
  });
});

describe('OperationOutcome → a sentence, never JSON or a URL', () => {
  it('when issue[0] is JSON rather than words, then the HTTP status is named instead', () => {
    const body = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'transient', diagnostics: '{"resourceType":"OperationOutcome","issue":[]}' }],
    };
    expect(errorBodyToMessage(body, 502, 'Bad Gateway')).toBe(
      'The ldh-cds server answered HTTP 502 Bad Gateway without an explanation.',
    );
  });

  it('when issue[0] names a URL, then the sentence keeps only its host', () => {
    const body = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'forbidden',
          diagnostics: 'FHIR server http://ehr.example:4000/fhir/Patient/123?_token=x is not trusted',
        },
      ],
    };
    expect(errorBodyToMessage(body, 403)).toBe('FHIR server ehr.example:4000 is not trusted');
  });
});
