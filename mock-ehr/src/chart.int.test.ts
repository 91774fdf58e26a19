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

  it('when a chart id is unknown, then the page is a 404', async () => {
    expect((await fetch(`${ehr.url}/chart/nobody`)).status).toBe(404);
  });
});
