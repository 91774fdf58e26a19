import { describe, expect, it } from 'vitest';
import { tokenResponseToLaunchContext } from './ehr';
import { tokenResponseToLaunchStudy } from './launch-study';

describe('the study the EHR launches the app at', () => {
  it('when a findings card’s link launched the app, then its appContext names the study (CDS Hooks Link.appContext)', () => {
    expect(
      tokenResponseToLaunchStudy({
        access_token: 'x',
        appContext: '{"imagingStudy":"ImagingStudy/st-2","diagnosticReport":"DiagnosticReport/r1"}',
      }),
    ).toEqual({ studyId: 'st-2', analyze: false });
  });

  it('when the not-analyzed card’s link launched the app, then the study is to be analyzed on opening', () => {
    expect(tokenResponseToLaunchStudy({ appContext: '{"imagingStudy":"ImagingStudy/st.3","analyze":true}' })).toEqual({
      studyId: 'st.3',
      analyze: true,
    });
    // Only a JSON true asks for it.
    expect(tokenResponseToLaunchStudy({ appContext: '{"imagingStudy":"ImagingStudy/st3","analyze":"yes"}' })).toEqual({
      studyId: 'st3',
      analyze: false,
    });
  });

  it('when the EHR parsed the appContext into an object on the way, then it is read the same', () => {
    expect(tokenResponseToLaunchStudy({ appContext: { imagingStudy: 'ImagingStudy/st1' } })).toEqual({
      studyId: 'st1',
      analyze: false,
    });
  });

  it('when SMART fhirContext names one ImagingStudy (2.1 objects or 2.0 strings), then that study', () => {
    expect(
      tokenResponseToLaunchStudy({
        fhirContext: [{ reference: 'ServiceRequest/o1' }, { reference: 'ImagingStudy/st4', role: 'launch' }],
      }),
    ).toEqual({ studyId: 'st4', analyze: false });
    expect(tokenResponseToLaunchStudy({ fhirContext: ['ImagingStudy/st5'] })).toEqual({
      studyId: 'st5',
      analyze: false,
    });
    // The same study twice is still one.
    expect(
      tokenResponseToLaunchStudy({ fhirContext: [{ reference: 'ImagingStudy/st5' }, 'ImagingStudy/st5'] }),
    ).toEqual({ studyId: 'st5', analyze: false });
  });

  it('when both say a study, then the card’s appContext wins', () => {
    expect(
      tokenResponseToLaunchStudy({
        appContext: '{"imagingStudy":"ImagingStudy/from-card"}',
        fhirContext: [{ reference: 'ImagingStudy/from-ehr' }],
      }),
    ).toEqual({ studyId: 'from-card', analyze: false });
  });

  it.each([
    ['no context at all', {}],
    ['an appContext that is not JSON (another service’s)', { appContext: 'patient=123&mode=summary' }],
    ['an appContext without imagingStudy', { appContext: '{"diagnosticReport":"DiagnosticReport/r1"}' }],
    ['another resource type', { appContext: '{"imagingStudy":"Patient/p1"}' }],
    ['an absolute reference', { appContext: '{"imagingStudy":"https://ehr.example/fhir/ImagingStudy/st1"}' }],
    ['an id FHIR does not allow', { appContext: '{"imagingStudy":"ImagingStudy/../../Patient/p1"}' }],
    [
      'an id longer than 64 characters',
      { appContext: JSON.stringify({ imagingStudy: `ImagingStudy/${'a'.repeat(65)}` }) },
    ],
    ['a JSON array', { appContext: '["ImagingStudy/st1"]' }],
    ['two studies in fhirContext', { fhirContext: [{ reference: 'ImagingStudy/a' }, { reference: 'ImagingStudy/b' }] }],
    [
      'a study in fhirContext with another role',
      { fhirContext: [{ reference: 'ImagingStudy/a', role: 'http://x/prior' }] },
    ],
    ['fhirContext that is not an array', { fhirContext: { reference: 'ImagingStudy/a' } }],
  ])('when the token response has %s, then there is no study to open', (_name, tokenResponse) => {
    expect(tokenResponseToLaunchStudy(tokenResponse)).toBeUndefined();
  });

  it('when the token response names a study, then the launch context carries it beside the rest', () => {
    expect(
      tokenResponseToLaunchContext({
        access_token: 'x',
        need_patient_banner: true,
        appContext: '{"imagingStudy":"ImagingStudy/st1","diagnosticReport":"DiagnosticReport/r1"}',
      }),
    ).toEqual({ needPatientBanner: true, study: { studyId: 'st1', analyze: false } });
  });
});
