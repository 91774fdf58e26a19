/**
 * The mock EHR's development tools (`/faults`, the demo sign-in of the standalone launch) are refused with a
 * sentence unless the EHR runs with MOCK_EHR_DEV_TOOLS=true, and announced by a banner on the chart when it does;
 * order entry sessions are forgotten after an hour without a visit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import { DEMO_USER } from './auth/standalone-pages';
import { loadConfig } from './config';
import { ORDER_SESSION_IDLE_MS } from './chart/orders-router';
import { NO_FAULTS } from './http/faults';
import { pkcePair, REDIRECT_URI, startTestEhr } from './test-support';

let clock = 1_800_000_000_000;
let on: { ehr: MockEhr; cleanup: () => Promise<void> };
let off: { ehr: MockEhr; cleanup: () => Promise<void> };

beforeAll(async () => {
  on = await startTestEhr(1, { now: () => clock });
  off = await startTestEhr(1, { devTools: false });
});

afterAll(async () => {
  await on.cleanup();
  await off.cleanup();
});

const patientOf = (ehr: MockEhr): string => ehr.seed.patients[0]?.patientId ?? '';

/** A standalone authorize request: answers 303 to the login page; resolves to that page's URL. */
async function standaloneLoginUrl(ehr: MockEhr): Promise<URL> {
  const url = new URL(`${ehr.url}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: 'ldh-cds',
    redirect_uri: REDIRECT_URI,
    scope: 'launch/patient openid fhirUser patient/Patient.rs',
    state: 'st',
    aud: ehr.fhirBaseUrl,
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
  }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status).toBe(303);
  return new URL(response.headers.get('location') ?? '', `${ehr.url}/oauth/`);
}

async function capabilitiesOf(ehr: MockEhr): Promise<string[]> {
  const response = await fetch(`${ehr.fhirBaseUrl}/.well-known/smart-configuration`);
  return ((await response.json()) as { capabilities: string[] }).capabilities;
}

describe('development tools off (the default)', () => {
  it('when /faults is opened or posted, then 403 with a sentence naming MOCK_EHR_DEV_TOOLS, and nothing changes', async () => {
    const page = await fetch(`${off.ehr.url}/faults`);
    expect(page.status).toBe(403);
    expect(await page.text()).toMatch(/Fault injection is a development tool.*MOCK_EHR_DEV_TOOLS=true/s);
    const posted = await fetch(`${off.ehr.url}/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ expiredToken: true }),
    });
    expect(posted.status).toBe(403);
    const outcome = (await posted.json()) as { issue: { code: string; details?: { text?: string } }[] };
    expect(outcome.issue[0]?.code).toBe('forbidden');
    expect(outcome.issue[0]?.details?.text).toMatch(/MOCK_EHR_DEV_TOOLS=true/);
    expect(off.ehr.faults).toEqual(NO_FAULTS);
  });

  it('when the demo sign-in is asked for, then its page and the sign-in itself are 403', async () => {
    const loginUrl = await standaloneLoginUrl(off.ehr);
    const page = await fetch(loginUrl);
    expect(page.status).toBe(403);
    expect(await page.text()).toMatch(/The demo sign-in \(standalone launch\) is a development tool/);
    const signIn = await fetch(`${off.ehr.url}/oauth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ request: loginUrl.searchParams.get('request') ?? '', ...DEMO_USER }),
      redirect: 'manual',
    });
    expect(signIn.status).toBe(403);
  });

  it('when an app reads the SMART configuration, then no standalone launch is offered; the chart has no banner', async () => {
    expect(await capabilitiesOf(off.ehr)).not.toContain('launch-standalone');
    expect(await capabilitiesOf(off.ehr)).toContain('launch-ehr');
    const chart = await (await fetch(`${off.ehr.url}/chart/${patientOf(off.ehr)}`)).text();
    expect(chart).not.toContain('dev-tools-banner');
  });

  it('when the environment sets MOCK_EHR_DEV_TOOLS, then the configuration turns them on; unset, off', () => {
    expect(loadConfig({}).devTools).toBe(false);
    expect(loadConfig({ MOCK_EHR_DEV_TOOLS: 'true' }).devTools).toBe(true);
  });
});

describe('development tools on', () => {
  it('when the chart or the patient list is opened, then a banner says the development tools are enabled', async () => {
    for (const path of ['/', `/chart/${patientOf(on.ehr)}`]) {
      const page = await (await fetch(`${on.ehr.url}${path}`)).text();
      expect(page).toMatch(/id="dev-tools-banner"[^>]*>\s*Development tools enabled/);
    }
  });

  it('when /faults and the demo sign-in are used, then they work', async () => {
    expect((await fetch(`${on.ehr.url}/faults`)).status).toBe(200);
    const page = await fetch(await standaloneLoginUrl(on.ehr));
    expect(page.status).toBe(200);
    expect(await capabilitiesOf(on.ehr)).toContain('launch-standalone');
  });
});

describe('order entry sessions', () => {
  it('when an order entry session is left for more than an hour, then it is forgotten (404)', async () => {
    const created = await fetch(`${on.ehr.url}/chart/${patientOf(on.ehr)}/orders`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code: '308481009', reason: 'Low back pain' }),
      redirect: 'manual',
    });
    expect(created.status).toBe(303);
    const orderUrl = `${on.ehr.url}${created.headers.get('location') ?? ''}`;
    expect((await fetch(orderUrl)).status).toBe(200);
    clock += ORDER_SESSION_IDLE_MS - 1000;
    expect((await fetch(orderUrl)).status).toBe(200); // a visit keeps it
    clock += ORDER_SESSION_IDLE_MS + 1;
    expect((await fetch(orderUrl)).status).toBe(404);
  });
});
