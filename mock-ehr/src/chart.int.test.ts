import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import { APP_BASE_URL, authorize, pkcePair, startTestEhr } from './test-support';

let ehr: MockEhr;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ ehr, cleanup } = await startTestEhr(2));
});
afterAll(async () => {
  await cleanup();
});

describe('chart UI', () => {
  it('when the patient list opens, then it shows every synthetic patient and says the data is synthetic', async () => {
    const page = await (await fetch(`${ehr.url}/`)).text();
    expect(page).toContain('synthetic');
    for (const patient of ehr.seed.patients) {
      expect(page).toContain(patient.mrn);
      expect(page).toContain(`/chart/${patient.patientId}`);
    }
  });

  it('when a chart opens, then its launch link carries iss and a launch id that authorize accepts', async () => {
    const patient = ehr.seed.patients[0];
    const page = await (await fetch(`${ehr.url}/chart/${patient?.patientId ?? ''}`)).text();
    expect(page).toContain('MRI lumbar spine without contrast');
    const href = /id="launch-ldh-cds"[^>]*href="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&') ?? '';
    const launchUrl = new URL(href);
    expect(`${launchUrl.origin}${launchUrl.pathname}`).toBe(`${APP_BASE_URL}/launch.html`);
    expect(launchUrl.searchParams.get('iss')).toBe(ehr.fhirBaseUrl);
    const { location } = await authorize(ehr, {
      launch: launchUrl.searchParams.get('launch') ?? '',
      challenge: pkcePair().challenge,
    });
    expect(location?.searchParams.get('code')).toBeTruthy();
  });

  it('when the app is opened inside the chart, then the iframe carries a launch and the CSP allows the app', async () => {
    const patient = ehr.seed.patients[0];
    const response = await fetch(`${ehr.url}/chart/${patient?.patientId ?? ''}/embedded`);
    expect(response.headers.get('content-security-policy')).toContain(`frame-src 'self' ${APP_BASE_URL}`);
    const page = await response.text();
    const src = /id="ldh-cds-frame"[^>]*src="([^"]+)"/s.exec(page)?.[1]?.replaceAll('&amp;', '&') ?? '';
    const launchUrl = new URL(src);
    expect(launchUrl.searchParams.get('iss')).toBe(ehr.fhirBaseUrl);
    const { location } = await authorize(ehr, {
      launch: launchUrl.searchParams.get('launch') ?? '',
      challenge: pkcePair().challenge,
    });
    expect(location?.searchParams.get('code')).toBeTruthy();
  });

  it('when a chart opens, then it shows the prior report as final and offers a spine referral', async () => {
    const page = await (await fetch(`${ehr.url}/chart/${ehr.seed.patients[0]?.patientId ?? ''}`)).text();
    expect(page).toContain('XR lumbar spine, 2 views (prior)');
    expect(page).toContain('status-final');
    expect(page).toContain('id="new-referral"');
  });

  it('when a chart id is unknown, then the page is a 404', async () => {
    expect((await fetch(`${ehr.url}/chart/nobody`)).status).toBe(404);
  });
});
