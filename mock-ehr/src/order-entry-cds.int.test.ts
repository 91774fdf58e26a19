/**
 * The chart's CDS Hooks client against a CDS service written in the test: it checks the EHR's ES384 JWT against
 * the published JWKS, records every call, and answers with a card that uses every feature the chart renders
 * (markdown detail, indicator, absolute and SMART links, a suggestion, override reasons).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Patient, ServiceRequest } from '@medplum/fhirtypes';
import express from 'express';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import { authorize, exchangeCode, pkcePair, postForm, startTestEhr } from './test-support';

interface Recorded {
  path: string;
  body: Record<string, unknown>;
  audience: string;
  alg: string;
}

let ehr: MockEhr;
let cleanup: () => Promise<void>;
let cds: Server;
let cdsBase: string;
const calls: Recorded[] = [];
const SUGGESTION = 'suggest-neurosurgery';
/** Set by a test: patient-view calls are held unanswered (a service that hangs), in `hanging`. */
let hangPatientView = false;
const hanging: express.Response[] = [];
/** Set by a test: the suggestion also adds this to the draft's supportingInfo. */
let supportingInfo: { reference: string; display: string } | undefined;

const card = () => ({
  uuid: randomUUID(),
  summary: 'L4-L5 MSU 2-AB left: consider neurosurgery',
  indicator: 'warning',
  detail:
    '**AI-generated, preliminary**\n\n- L4-L5: MSU 2-AB (left)\n- L5-S1: no herniation\n\n<script>alert(1)</script>',
  source: { label: 'Test CDS', url: 'https://cds.example/about' },
  links: [
    { label: 'Guideline', url: 'https://guidelines.example/ldh', type: 'absolute' },
    {
      label: 'Open ldh-cds',
      url: 'http://localhost:3999/launch.html',
      type: 'smart',
      appContext: '{"imagingStudy":"ImagingStudy/x"}',
    },
  ],
  suggestions: [
    {
      label: 'Refer to neurosurgery instead',
      uuid: SUGGESTION,
      actions: [{ type: 'update', description: 'change the referral', resource: 'DRAFT' }],
    },
  ],
  selectionBehavior: 'at-most-one',
  overrideReasons: [
    { code: 'patient-preference', system: 'https://cds.example/reasons', display: 'Patient preference' },
  ],
});

beforeAll(async () => {
  // The service starts first (the EHR needs its URL); it learns the EHR's JWKS URL once the EHR is up.
  const trusted: { keys?: JWTVerifyGetKey } = {};
  const service = express();
  service.use(express.json({ limit: '5mb' }));
  service.get('/cds-services', (_req, res) => {
    res.json({
      services: [
        {
          hook: 'order-select',
          id: 'spine-select',
          description: 'test',
          prefetch: { patient: 'Patient/{{context.patientId}}' },
        },
        { hook: 'order-sign', id: 'spine-sign', description: 'test' },
        {
          hook: 'patient-view',
          id: 'spine-view',
          description: 'test',
          prefetch: { patient: 'Patient/{{context.patientId}}' },
        },
      ],
    });
  });
  service.post(/^\/cds-services\/.*/, async (req, res) => {
    const jwt = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1] ?? '';
    const audience = `${cdsBase}${req.path}`;
    try {
      if (!trusted.keys) throw new Error('EHR not started');
      await jwtVerify(jwt, trusted.keys, {
        issuer: ehr.url,
        audience,
        algorithms: ['ES384'],
        requiredClaims: ['jti', 'exp', 'iat'],
      });
    } catch {
      res.status(401).json({});
      return;
    }
    calls.push({
      path: req.path,
      body: req.body as Record<string, unknown>,
      audience,
      alg: decodeProtectedHeader(jwt).alg ?? '',
    });
    if (req.path.endsWith('/feedback')) {
      res.json({});
      return;
    }
    const body = req.body as { hook: string; context: { draftOrders?: Bundle<ServiceRequest> } };
    if (body.hook === 'patient-view' && hangPatientView) {
      hanging.push(res);
      return;
    }
    if (body.hook === 'patient-view') {
      // A compact card: no suggestion (there is no order to change), a SMART link and override reasons.
      const compact: Partial<ReturnType<typeof card>> = card();
      delete compact.suggestions;
      delete compact.selectionBehavior;
      res.json({ cards: [{ ...compact, summary: 'AI (preliminary): L4-L5 MSU 2-AB left' }] });
      return;
    }
    const draft = body.context.draftOrders?.entry?.[0]?.resource;
    const answer = card();
    const action = answer.suggestions[0]?.actions[0];
    if (action && draft) {
      Object.assign(action, {
        resource: {
          ...draft,
          code: { coding: [{ system: 'http://snomed.info/sct', code: '308482002' }], text: 'Referral to neurosurgeon' },
          ...(supportingInfo ? { supportingInfo: [supportingInfo] } : {}),
        },
      });
    }
    res.json({ cards: [answer] });
  });
  cds = await new Promise<Server>((resolve) => {
    const server = service.listen(0, '127.0.0.1', () => {
      resolve(server);
    });
  });
  cdsBase = `http://127.0.0.1:${(cds.address() as AddressInfo).port}`;
  ({ ehr, cleanup } = await startTestEhr(2, { cdsServicesBaseUrl: cdsBase }));
  trusted.keys = createRemoteJWKSet(new URL(ehr.cdsJwksUrl));
});
afterAll(async () => {
  await cleanup();
  await new Promise((resolve) => cds.close(resolve));
});
beforeEach(() => {
  calls.length = 0;
});

const patientId = (): string => ehr.seed.patients[0]?.patientId ?? '';

async function selectOrder(): Promise<{ orderUrl: string; page: string }> {
  const created = await postForm(`${ehr.url}/chart/${patientId()}/orders`, { code: '308481009', reason: 'sciatica' });
  expect(created.status).toBe(303);
  const orderUrl = new URL(created.headers.get('location') ?? '', ehr.url).toString();
  return { orderUrl, page: await (await fetch(orderUrl)).text() };
}

/** The href of the first card's SMART link on a page. */
const smartLinkOf = (page: string): string =>
  /class="button cds-link cds-link-smart" href="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&') ?? '';

/** A card's SMART link followed as the browser and the app would: the EHR's redirect, then the launch's token. */
async function followSmartLink(
  href: string,
): Promise<{ launchUrl: URL; token: { patient: string; appContext: string } }> {
  const redirect = await fetch(new URL(href, ehr.url), { redirect: 'manual' });
  expect(redirect.status).toBe(302);
  const launchUrl = new URL(redirect.headers.get('location') ?? '');
  const { verifier, challenge } = pkcePair();
  const { location } = await authorize(ehr, { launch: launchUrl.searchParams.get('launch') ?? '', challenge });
  const token = (await (await exchangeCode(ehr, location?.searchParams.get('code') ?? '', verifier)).json()) as {
    patient: string;
    appContext: string;
  };
  return { launchUrl, token };
}

describe('order entry with CDS Hooks', () => {
  it('when a spine referral is selected, then order-select gets a signed call with context and prefetch, and the card renders', async () => {
    const { page } = await selectOrder();
    const [call] = calls;
    expect(calls).toHaveLength(1);
    expect(call?.path).toBe('/cds-services/spine-select');
    expect(call?.alg).toBe('ES384');
    const body = call?.body as {
      hook: string;
      context: { patientId: string; userId: string; selections: string[]; draftOrders: Bundle<ServiceRequest> };
      prefetch: { patient: Patient };
      fhirServer: string;
      fhirAuthorization: { access_token: string; patient: string };
    };
    expect(body.hook).toBe('order-select');
    expect(body.context.patientId).toBe(patientId());
    expect(body.context.userId).toBe(`Practitioner/${ehr.seed.practitionerId}`);
    const draft = body.context.draftOrders.entry?.[0]?.resource;
    expect(draft).toMatchObject({ status: 'draft', code: { coding: [{ code: '308481009' }] } });
    expect(body.context.selections).toEqual([`ServiceRequest/${draft?.id ?? ''}`]);
    expect(body.prefetch.patient.id).toBe(patientId());
    expect(body.fhirServer).toBe(ehr.fhirBaseUrl);
    // The fhirAuthorization token really reads this patient's chart.
    const read = await fetch(`${ehr.fhirBaseUrl}/Patient/${patientId()}`, {
      headers: { Authorization: `Bearer ${body.fhirAuthorization.access_token}` },
    });
    expect(read.status).toBe(200);

    expect(page).toContain('L4-L5 MSU 2-AB left: consider neurosurgery');
    expect(page).toContain('data-indicator="warning"');
    expect(page).toContain('<strong>AI-generated, preliminary</strong>');
    expect(page).toContain('<li>L4-L5: MSU 2-AB (left)</li>');
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('href="https://guidelines.example/ldh"');
    expect(page).toContain('Refer to neurosurgery instead');
    expect(page).toContain('Patient preference');
  });

  it('when the card’s SMART link is followed, then the app is launched for the patient with the card’s appContext', async () => {
    const { page } = await selectOrder();
    const { launchUrl, token } = await followSmartLink(smartLinkOf(page));
    expect(`${launchUrl.origin}${launchUrl.pathname}`).toBe('http://localhost:3999/launch.html');
    expect(launchUrl.searchParams.get('iss')).toBe(ehr.fhirBaseUrl);
    expect(token.patient).toBe(patientId());
    expect(token.appContext).toBe('{"imagingStudy":"ImagingStudy/x"}');
  });

  it('when the suggestion is accepted, then the draft changes and accepted feedback is posted', async () => {
    const { orderUrl, page } = await selectOrder();
    const cardUuid = /data-card-uuid="([^"]+)"/.exec(page)?.[1] ?? '';
    const accepted = await postForm(`${orderUrl}/cards/${cardUuid}/accept`, { suggestion: SUGGESTION });
    expect(accepted.status).toBe(303);
    const orderId = orderUrl.split('/orders/')[1] ?? '';
    const order = await ehr.repo.readResource<ServiceRequest>('ServiceRequest', orderId);
    expect(order.code?.coding?.[0]?.code).toBe('308482002');
    const feedback = calls.find((call) => call.path.endsWith('/feedback'));
    expect(feedback?.path).toBe('/cds-services/spine-select/feedback');
    expect(feedback?.body).toMatchObject({
      feedback: [{ card: cardUuid, outcome: 'accepted', acceptedSuggestions: [{ id: SUGGESTION }] }],
    });
    const after = await (await fetch(orderUrl)).text();
    expect(after).toContain('data-outcome="accepted"');
    expect(after).toContain('Accepted: Refer to neurosurgery instead');
  });

  it('when a suggestion adds supporting information to the draft, then the order shows it', async () => {
    supportingInfo = { reference: 'DiagnosticReport/r1', display: 'AI analysis of the lumbar MRI' };
    const { orderUrl, page } = await selectOrder().finally(() => {
      supportingInfo = undefined;
    });
    const cardUuid = /data-card-uuid="([^"]+)"/.exec(page)?.[1] ?? '';
    await postForm(`${orderUrl}/cards/${cardUuid}/accept`, { suggestion: SUGGESTION });
    const orderId = orderUrl.split('/orders/')[1] ?? '';
    const order = await ehr.repo.readResource<ServiceRequest>('ServiceRequest', orderId);
    expect(order.supportingInfo).toEqual([
      { reference: 'DiagnosticReport/r1', display: 'AI analysis of the lumbar MRI' },
    ]);
    const shown = await (await fetch(orderUrl)).text();
    expect(shown).toContain('id="order-supporting-info"');
    expect(shown).toContain('AI analysis of the lumbar MRI');
  });

  it('when the card is dismissed with a reason and a comment, then overridden feedback carries both', async () => {
    const { orderUrl, page } = await selectOrder();
    const cardUuid = /data-card-uuid="([^"]+)"/.exec(page)?.[1] ?? '';
    // The dismiss form asks for one of the card's reasons.
    expect(page).toContain('<legend>Why do you dismiss this card?</legend>');
    expect(page).toMatch(/<input type="radio" name="reason" value="patient-preference" required \/>/);
    await postForm(`${orderUrl}/cards/${cardUuid}/override`, {
      reason: 'patient-preference',
      comment: ' Seen last week. ',
    });
    expect(calls.at(-1)?.body).toMatchObject({
      feedback: [
        {
          card: cardUuid,
          outcome: 'overridden',
          overrideReason: { reason: { code: 'patient-preference' }, userComment: 'Seen last week.' },
        },
      ],
    });
    expect(await (await fetch(orderUrl)).text()).toContain('Dismissed: Patient preference — Seen last week.');
  });

  it('when the card offers reasons and none is chosen, then the dismissal is refused and no feedback is sent', async () => {
    const { orderUrl, page } = await selectOrder();
    const cardUuid = /data-card-uuid="([^"]+)"/.exec(page)?.[1] ?? '';
    const before = calls.length;
    expect((await postForm(`${orderUrl}/cards/${cardUuid}/override`, { comment: 'no' })).status).toBe(400);
    expect(calls.length).toBe(before);
  });

  it('when a lumbar MRI is ordered, then the draft is an imaging ServiceRequest coded CPT 72148', async () => {
    const created = await postForm(`${ehr.url}/chart/${patientId()}/orders`, { code: '72148' });
    const orderId = new URL(created.headers.get('location') ?? '', ehr.url).pathname.split('/orders/')[1] ?? '';
    const order = await ehr.repo.readResource<ServiceRequest>('ServiceRequest', orderId);
    expect(order.code?.coding?.[0]).toMatchObject({ system: 'http://www.ama-assn.org/go/cpt', code: '72148' });
    expect(order.category?.[0]?.coding?.[0]?.code).toBe('363679005');
  });

  it('when the order is signed, then order-sign is called, its cards shown, and confirming activates the order', async () => {
    const { orderUrl } = await selectOrder();
    const signed = await postForm(`${orderUrl}/sign`, {});
    expect(signed.status).toBe(303);
    expect(calls.at(-1)?.path).toBe('/cds-services/spine-sign');
    const page = await (await fetch(orderUrl)).text();
    expect(page).toContain('Confirm and sign');
    const confirmed = await postForm(`${orderUrl}/sign`, { confirm: '1' });
    expect(confirmed.headers.get('location')).toBe(`/chart/${patientId()}`);
    const orderId = orderUrl.split('/orders/')[1] ?? '';
    expect((await ehr.repo.readResource<ServiceRequest>('ServiceRequest', orderId)).status).toBe('active');
    expect(await (await fetch(`${ehr.url}/chart/${patientId()}`)).text()).toContain('status-active');
  });
});

describe('opening a chart (patient-view)', () => {
  it('when a chart opens, then patient-view gets a signed call with the patient and its prefetch, no draft orders, and its card shows in the chart', async () => {
    const page = await (await fetch(`${ehr.url}/chart/${patientId()}`)).text();
    expect(calls.map((call) => call.path)).toEqual(['/cds-services/spine-view']);
    const body = calls[0]?.body as {
      hook: string;
      context: Record<string, unknown>;
      prefetch: { patient: Patient };
    };
    expect(body.hook).toBe('patient-view');
    expect(body.context).toEqual({ userId: `Practitioner/${ehr.seed.practitionerId}`, patientId: patientId() });
    expect(body.prefetch.patient.id).toBe(patientId());
    expect(page).toContain('AI (preliminary): L4-L5 MSU 2-AB left');
    expect(page).toMatch(/<section aria-label="Decision support" class="cards">/);
    expect(page).not.toContain('cds-suggestion');
  });

  it('when the chart card’s SMART link is followed, then the app is launched for the patient with the card’s appContext', async () => {
    const page = await (await fetch(`${ehr.url}/chart/${patientId()}`)).text();
    const href = smartLinkOf(page);
    expect(href).toMatch(/^\/visits\/[^/]+\/cards\/[^/]+\/links\/1$/);
    const { token } = await followSmartLink(href);
    expect(token.patient).toBe(patientId());
    expect(token.appContext).toBe('{"imagingStudy":"ImagingStudy/x"}');
  });

  it('when the chart card is dismissed with a reason, then overridden feedback is sent and the chart shows that visit’s card dismissed, without calling again', async () => {
    const page = await (await fetch(`${ehr.url}/chart/${patientId()}`)).text();
    const action = /action="(\/visits\/[^"]+\/override)"/.exec(page)?.[1] ?? '';
    const cardUuid = /data-card-uuid="([^"]+)"/.exec(page)?.[1] ?? '';
    const dismissed = await postForm(`${ehr.url}${action}`, { reason: 'patient-preference' });
    expect(dismissed.status).toBe(303);
    const back = dismissed.headers.get('location') ?? '';
    expect(back).toMatch(new RegExp(`^/chart/${patientId()}\\?visit=`));
    expect(calls.at(-1)?.path).toBe('/cds-services/spine-view/feedback');
    expect(calls.at(-1)?.body).toMatchObject({
      feedback: [{ card: cardUuid, outcome: 'overridden', overrideReason: { reason: { code: 'patient-preference' } } }],
    });
    const callsBefore = calls.length;
    const again = await (await fetch(new URL(back, ehr.url))).text();
    expect(calls).toHaveLength(callsBefore);
    expect(again).toContain('Dismissed: Patient preference');
    // Another patient's chart with this visit id gets its own call, not this patient's cards.
    const other = ehr.seed.patients[1]?.patientId ?? '';
    const otherPage = await (
      await fetch(`${ehr.url}/chart/${other}?${new URL(back, ehr.url).searchParams.toString()}`)
    ).text();
    expect(calls).toHaveLength(callsBefore + 1);
    expect(otherPage).not.toContain('Dismissed');
    expect(otherPage).not.toContain(cardUuid);
  });

  it('when a patient-view service hangs, then the chart is shown after the patient-view wait, saying the service did not answer', async () => {
    hangPatientView = true;
    try {
      const page = await (await fetch(`${ehr.url}/chart/${patientId()}`)).text();
      expect(page).toContain('id="launch-ldh-cds"');
      expect(page).toMatch(/class="card-error" role="alert">[^<]*spine-view[^<]*unreachable/);
    } finally {
      hangPatientView = false;
      for (const res of hanging.splice(0)) res.json({ cards: [] });
    }
    // Order entry allows a service 10 s: a chart held that long fails this test's own time limit.
  }, 8_000);

  it('when a visit is unknown (forgotten, or never was), then its card routes answer 404', async () => {
    const response = await postForm(`${ehr.url}/visits/no-such-visit/cards/x/override`, {
      reason: 'patient-preference',
    });
    expect(response.status).toBe(404);
  });
});
