import { describe, expect, it } from 'vitest';
import { tokenResponseToLaunchContext } from './ehr';

describe('launch context from the token response', () => {
  it('when the EHR sends a style and asks for no patient banner, then the panel gets both', () => {
    expect(
      tokenResponseToLaunchContext(
        {
          access_token: 'x',
          smart_style_url: 'http://ehr.example/smart-style.json',
          need_patient_banner: false,
        },
        'Practitioner/p1',
      ),
    ).toEqual({
      smartStyleUrl: 'http://ehr.example/smart-style.json',
      needPatientBanner: false,
      fhirUser: 'Practitioner/p1',
    });
  });

  it('when the EHR says nothing (or something odd), then the panel shows its own patient banner and no style', () => {
    expect(tokenResponseToLaunchContext({ access_token: 'x' })).toEqual({ needPatientBanner: true });
    expect(tokenResponseToLaunchContext({ need_patient_banner: 'false', smart_style_url: 42 })).toEqual({
      needPatientBanner: true,
    });
    expect(tokenResponseToLaunchContext(undefined)).toEqual({ needPatientBanner: true });
  });
});
