/**
 * CDS Hooks through the real app server (port chosen free beforehand: the JWT `aud` must equal the exact service URL,
 * so the app must know its own URL before it starts): each hook, each kind of order, signed vs preliminary vs
 * superseded reports, no study, a study not analyzed, the fhirAuthorization path and 412, feedback stored and counted,
 * each JWT refusal; discovery and every card checked against the specification's required fields
 * (test/support/cds-conformance.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, FhirResource, OperationOutcome, ServiceRequest } from 'fhir/r4';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardProblems, discoveryProblems, responseProblems } from '../../../test/support/cds-conformance';
import {
  analysis,
  CPT,
  draftOrder,
  lumbarMriStudy,
  prefetchOf,
  signed,
  SNOMED,
  superseded,
  type StoredAnalysis,
} from '../../../test/support/cds-fixtures';
import { startAppServer, type RunningServer } from '../app';
import { findFreePort } from '../cli/free-port';
import { loadConfig } from '../config';
import type { FhirClient } from '../fhir/fhir-client';
import { noteFhirWrite } from '../fhir/write-generation';
import type { CdsCard } from './cards';

const ISS = 'https://ehr.test';
const FHIR = 'https://ehr.test/fhir';
const DAY = 24 * 60 * 60 * 1000;
const daysAgo = (days: number): string => new Date(Date.now() - days * DAY).toISOString();

// The port first (top-level await): the URLs the tests sign for are known when the tests are collected.
const port = await findFreePort();
const base = `http://127.0.0.1:${port}`;
let app: RunningServer;
let privateKey: CryptoKey;
let feedbackFile: string;
/** The trusted CDS clients (this test's EHR key) and the folder the app's files are in. */
let clientsFile: string;
let setupDir: string;
/** What the stub FHIR server (fhirAuthorization path) holds, and the tokens it was called with. */
const fhirResources: FhirResource[] = [];
const fhirTokens: string[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('ES384');
  privateKey = pair.privateKey;
  const dir = await mkdtemp(path.join(tmpdir(), 'ldh-cds-'));
  setupDir = dir;
  clientsFile = path.join(dir, 'cds-clients.json');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'ES384' };
  await writeFile(clientsFile, JSON.stringify({ clients: [{ iss: ISS, jwks: { keys: [jwk] } }] }));
  feedbackFile = path.join(dir, 'feedback.jsonl');
  const config = loadConfig({
    APP_PORT: String(port),
    APP_BASE_URL: base,
    CDS_CLIENTS_FILE: clientsFile,
    CDS_FEEDBACK_FILE: feedbackFile,
    FHIR_BASE_URLS: FHIR,
    CLIENT_DIST_DIR: dir,
    LOG_LEVEL: 'silent',
    // The service's metrics, scraped as Prometheus would (hook-metrics.ts).
    METRICS_PORT: '0',
  });
  const stub = (_baseUrl: string, token: string): FhirClient =>
    ({
      baseUrl: FHIR,
      searchAll: (type: string, params: Record<string, string>) => {
        fhirTokens.push(token);
        const subject = params.subject;
        const ids = params._id?.split(',');
        return Promise.resolve(
          fhirResources.filter(
            (r) =>
              r.resourceType === type &&
              (ids ? ids.includes(r.id ?? '') : JSON.stringify(r).includes(`"reference":"${subject ?? ''}"`)),
          ),
        );
      },
      read: (reference: string) =>
        Promise.resolve(fhirResources.find((r) => `${r.resourceType}/${r.id ?? ''}` === reference)),
    }) as unknown as FhirClient;
  // A server that ignores _include (the reports' Observations are then read by id): searchAllIncluding is searchAll.
  const withoutIncludes = (client: FhirClient): FhirClient =>
    ({
      ...client,
      searchAllIncluding: async (type: string, params: Record<string, string>) => ({
        matches: await client.searchAll(type as 'DiagnosticReport', params),
        included: [],
      }),
    }) as FhirClient;
  app = await startAppServer(config, {
    deps: { fhirClient: (baseUrl, token) => withoutIncludes(stub(baseUrl, token)) },
  });
});

afterAll(async () => {
  await app.close();
});

interface Claims {
  aud?: string;
  iss?: string;
  alg?: string;
  kid?: string | null;
  typ?: string;
  iat?: number;
  exp?: number | string;
  jti?: string;
  key?: CryptoKey | Uint8Array;
}

const sign = (aud: string, claims: Claims = {}): Promise<string> =>
  new SignJWT({})
    .setProtectedHeader({
      alg: claims.alg ?? 'ES384',
      ...(claims.kid === null ? {} : { kid: claims.kid ?? 'test-key' }),
      typ: claims.typ ?? 'JWT',
    })
    .setIssuer(claims.iss ?? ISS)
    .setAudience(claims.aud ?? aud)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp ?? '5m')
    .setJti(claims.jti ?? randomUUID())
    .sign(claims.key ?? privateKey);

const serviceUrl = (id: string): string => `${base}/cds-services/${id}`;

async function post(url: string, body: unknown, token?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

const bundle = (...orders: ServiceRequest[]): Bundle => ({
  resourceType: 'Bundle',
  type: 'collection',
  entry: orders.map((resource) => ({ resource })),
});

type Hook = 'order-select' | 'order-sign' | 'patient-view';
const SERVICE_OF: Record<Hook, string> = {
  'order-select': 'ldh-cds-order-select',
  'order-sign': 'ldh-cds-order-sign',
  'patient-view': 'ldh-cds-patient-view',
};

function hookBody(hook: Hook, patientId: string, orders: ServiceRequest[], prefetch?: Record<string, unknown>) {
  const context: Record<string, unknown> = { userId: 'Practitioner/1', patientId };
  if (hook !== 'patient-view') context.draftOrders = bundle(...orders);
  if (hook === 'order-select') context.selections = orders.map((order) => `ServiceRequest/${order.id ?? ''}`);
  return { hook, hookInstance: randomUUID(), context, ...(prefetch ? { prefetch } : {}) };
}

/** Calls the hook's service and checks the answer against the spec; the cards. */
async function callHook(
  hook: Hook,
  patientId: string,
  orders: ServiceRequest[],
  prefetch: Record<string, unknown>,
): Promise<CdsCard[]> {
  const url = serviceUrl(SERVICE_OF[hook]);
  const response = await post(url, hookBody(hook, patientId, orders, prefetch), await sign(url));
  const body = (await response.json()) as { cards: CdsCard[] };
  expect(response.status, JSON.stringify(body)).toBe(200);
  expect(responseProblems(body)).toEqual([]);
  return body.cards;
}

/** A patient with a lumbar MRI a month ago and a preliminary analysis of it. */
function patientWithAnalysis(patientId: string, started = daysAgo(30)) {
  const study = lumbarMriStudy(`${patientId}-st`, patientId, started);
  const stored = analysis({ study, reportId: `${patientId}-r`, issued: daysAgo(29) });
  return { study, stored, prefetch: prefetchOf(patientId, [study], [stored]) };
}

const neurosurgery = (patientId: string): ServiceRequest =>
  draftOrder(`${patientId}-ref`, patientId, SNOMED, '308482002', 'Referral to neurosurgeon');

describe('discovery', () => {
  it('when discovery is requested, then it lists the three services with their prefetch templates, conformant, with CORS', async () => {
    const response = await fetch(`${base}/cds-services`);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const body = (await response.json()) as {
      services: { id: string; hook: string; prefetch: Record<string, string> }[];
    };
    expect(discoveryProblems(body)).toEqual([]);
    expect(body.services.map((s) => [s.id, s.hook])).toEqual([
      ['ldh-cds-order-select', 'order-select'],
      ['ldh-cds-order-sign', 'order-sign'],
      ['ldh-cds-patient-view', 'patient-view'],
    ]);
    for (const service of body.services)
      expect(service.prefetch).toEqual({
        patient: 'Patient/{{context.patientId}}',
        studies: 'ImagingStudy?subject=Patient/{{context.patientId}}&_count=100',
        reports:
          'DiagnosticReport?subject=Patient/{{context.patientId}}&identifier=https://ldh-cds.org/fhir/identifier/analysis-report|&_sort=-issued&_count=100',
        observations:
          'Observation?subject=Patient/{{context.patientId}}&identifier=https://ldh-cds.org/fhir/identifier/level-finding|&_count=100',
      });
  });

  it('when a browser-based EHR preflights a call, then CORS allows it', async () => {
    const response = await fetch(serviceUrl('ldh-cds-order-select'), { method: 'OPTIONS' });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
  });
});

describe('each hook', () => {
  const { prefetch } = patientWithAnalysis('h1');

  it('when order-select has a spine referral selected, then one findings card with the suggestion', async () => {
    const [card, ...rest] = await callHook('order-select', 'h1', [neurosurgery('h1')], prefetch);
    expect(rest).toEqual([]);
    expect(card?.summary).toBe('AI (preliminary): L4-L5 MSU 2-AB left; L5-S1 1-A');
    expect(card?.indicator).toBe('warning');
    expect(card?.source.topic.code).toBe('cds-findings');
    expect(card?.source.url).toBe(`${base}/api/model/card`);
    expect(card?.suggestions?.[0]?.actions[0]?.resource?.supportingInfo).toEqual([
      { reference: 'DiagnosticReport/h1-r', display: expect.stringContaining('Preliminary AI analysis') as unknown },
    ]);
  });

  it('when a hook is answered, then no cache may keep it, and nothing is hashed into an ETag or names the framework', async () => {
    const url = serviceUrl('ldh-cds-order-select');
    const response = await post(url, hookBody('order-select', 'h1', [neurosurgery('h1')], prefetch), await sign(url));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('etag')).toBeNull();
    expect(response.headers.get('x-powered-by')).toBeNull();
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('when order-select has the referral drafted but another order selected, then no card', async () => {
    const url = serviceUrl('ldh-cds-order-select');
    const body = hookBody('order-select', 'h1', [neurosurgery('h1')], prefetch);
    (body.context as { selections: string[] }).selections = ['ServiceRequest/other'];
    const response = await post(url, body, await sign(url));
    expect(await response.json()).toEqual({ cards: [] });
  });

  it('when order-sign signs drafts including a spine referral, then the findings card (no selections needed)', async () => {
    const physio = draftOrder('h1-pt', 'h1', SNOMED, '308447003', 'Referral to physiotherapist');
    const cards = await callHook('order-sign', 'h1', [physio, neurosurgery('h1')], prefetch);
    expect(cards).toHaveLength(1);
    // The suggestion updates the spine referral only.
    expect(cards[0]?.suggestions?.[0]?.actions.map((a) => a.resource?.id)).toEqual(['h1-ref']);
  });

  it('when patient-view opens a chart with a current report, then one compact card without suggestions', async () => {
    const [card, ...rest] = await callHook('patient-view', 'h1', [], prefetch);
    expect(rest).toEqual([]);
    expect(card?.source.topic.code).toBe('cds-patient-summary');
    expect(card?.suggestions).toBeUndefined();
    expect(card?.detail).not.toContain('| Level');
  });

  it('when patient-view opens a chart without any report, then no card', async () => {
    const study = lumbarMriStudy('h2-st', 'h2', daysAgo(3));
    expect(await callHook('patient-view', 'h2', [], prefetchOf('h2', [study], []))).toEqual([]);
  });
});

describe('each kind of order', () => {
  const { prefetch } = patientWithAnalysis('k1');
  it.each([
    ['neurosurgery', SNOMED, '308482002', 1],
    ['orthopaedic surgery', SNOMED, '308481009', 1],
    ['pain management', SNOMED, '306265007', 1],
    ['physiotherapy', SNOMED, '308447003', 0],
    ['cardiology', SNOMED, '308471005', 0],
    ['a chest X-ray', CPT, '71046', 0],
  ])('when the order is a %s referral or order, then %s', async (_name, system, code, expected) => {
    const order = draftOrder(`k1-${code}`, 'k1', system, code);
    expect(await callHook('order-select', 'k1', [order], prefetch)).toHaveLength(expected);
  });

  it('when the order is a lumbar MRI and a recent one was analyzed, then the card says it was already analyzed', async () => {
    const mri = draftOrder('k1-mri', 'k1', CPT, '72148', 'MRI lumbar spine without contrast');
    const [card] = await callHook('order-select', 'k1', [mri], prefetch);
    expect(card?.summary).toMatch(
      /^Lumbar MRI of \d{4}-\d\d-\d\d already analyzed — AI \(preliminary\): L4-L5 MSU 2-AB left/,
    );
    expect(card?.source.topic.code).toBe('cds-prior-mri');
  });

  it('when the order is a lumbar MRI and the analyzed one is over a year old, then no card', async () => {
    const { prefetch: old } = patientWithAnalysis('k2', daysAgo(400));
    const mri = draftOrder('k2-mri', 'k2', CPT, '72148');
    expect(await callHook('order-select', 'k2', [mri], old)).toEqual([]);
  });
});

describe('which report', () => {
  const patient = 'w1';
  const study = lumbarMriStudy(`${patient}-st`, patient, daysAgo(30));
  const preliminary = analysis({ study, reportId: 'w1-r1', issued: daysAgo(29) });

  const summaryWith = async (analyses: StoredAnalysis[]): Promise<CdsCard | undefined> =>
    (await callHook('order-select', patient, [neurosurgery(patient)], prefetchOf(patient, [study], analyses)))[0];

  it('when the report is preliminary, then the card says AI (preliminary)', async () => {
    const card = await summaryWith([preliminary]);
    expect(card?.summary).toMatch(/^AI \(preliminary\): /);
    expect(card?.detail).toContain('not yet reviewed by a clinician');
  });

  it('when a signed report and a newer preliminary one stand, then the signed one is shown, with who signed it and when', async () => {
    const signedOne = signed(preliminary, daysAgo(28), [
      { level: 'L1-L2', decision: 'confirm' },
      { level: 'L2-L3', decision: 'confirm' },
      { level: 'L3-L4', decision: 'confirm' },
      { level: 'L4-L5', decision: 'edit', reading: { herniation: true, grade: 3, zone: 'AB', side: 'left' } },
      { level: 'L5-S1', decision: 'confirm' },
    ]);
    const newer = analysis({
      study,
      reportId: 'w1-r2',
      issued: daysAgo(1),
      model: { id: 'msu-ldh', version: '1.9.0' },
    });
    const card = await summaryWith([newer, signedOne]);
    expect(card?.summary).toBe('Signed (AI-assisted): L4-L5 MSU 3-AB left; L5-S1 1-A');
    expect(card?.detail).toMatch(/\*\*Signed by Dr\. Synthetic Clinician on \d{4}-\d\d-\d\d \d\d:\d\d UTC\*\*/);
    expect(card?.detail).toContain('| L4-L5 | **3-AB left** | edited | 2-AB left |');
  });

  it('when the preliminary report was superseded by a newer model, then only the new one is shown', async () => {
    const newer = analysis({
      study,
      reportId: 'w1-r3',
      issued: daysAgo(2),
      model: { id: 'msu-ldh', version: '1.9.0' },
      levels: analysis({ study, reportId: 'x', issued: daysAgo(2) }).findings.levels.map((level) =>
        level.level === 'L4-L5' && level.herniation ? { ...level, grade: 1 as const, zone: 'B' as const } : level,
      ),
      replaces: 'DiagnosticReport/w1-r1',
    });
    const card = await summaryWith([superseded(preliminary), newer]);
    expect(card?.summary).toBe('AI (preliminary): L4-L5 MSU 1-B left; L5-S1 1-A');
    expect(card?.indicator).toBe('info');
    expect(card?.links[0]?.appContext).toContain('DiagnosticReport/w1-r3');
    // Another model version than the one running: the source names it.
    expect(card?.source.label).toBe('ldh-cds AI: msu-ldh 1.9.0');
  });

  it('when the only report was entered in error, then the study counts as not analyzed', async () => {
    const cards = await callHook(
      'order-select',
      patient,
      [neurosurgery(patient)],
      prefetchOf(patient, [study], [{ ...preliminary, report: { ...preliminary.report, status: 'entered-in-error' } }]),
    );
    expect(cards.map((card) => card.source.topic.code)).toEqual(['cds-not-analyzed']);
  });
});

describe('no study, not analyzed', () => {
  it('when the patient has no lumbar MRI and no report, then no card', async () => {
    expect(await callHook('order-select', 'n1', [neurosurgery('n1')], prefetchOf('n1', [], []))).toEqual([]);
  });

  it('when the lumbar MRI was never analyzed, then an info card says so and opens the app at that study', async () => {
    const study = lumbarMriStudy('n2-st', 'n2', '2026-03-04T10:00:00Z');
    const [card, ...rest] = await callHook('order-select', 'n2', [neurosurgery('n2')], prefetchOf('n2', [study], []));
    expect(rest).toEqual([]);
    expect(card?.summary).toBe('The lumbar MRI of 2026-03-04 has not been analyzed by ldh-cds');
    expect(card?.indicator).toBe('info');
    expect(card?.detail).toContain('Open ldh-cds at this study');
    expect(card?.links[0]).toMatchObject({
      type: 'smart',
      appContext: '{"imagingStudy":"ImagingStudy/n2-st","analyze":true}',
    });
  });

  it('when a newer lumbar MRI was not analyzed but an older one was, then both cards: findings of the old, the new one not analyzed', async () => {
    const old = patientWithAnalysis('n3', daysAgo(300));
    const newer = lumbarMriStudy('n3-new', 'n3', daysAgo(2));
    const cards = await callHook(
      'order-select',
      'n3',
      [neurosurgery('n3')],
      prefetchOf('n3', [old.study, newer], [old.stored]),
    );
    expect(cards.map((card) => card.source.topic.code)).toEqual(['cds-findings', 'cds-not-analyzed']);
  });
});

describe('fetching with fhirAuthorization', () => {
  const url = serviceUrl('ldh-cds-order-select');

  it('when there is no prefetch, then the record is read from fhirServer with the fhirAuthorization token', async () => {
    const { study, stored } = patientWithAnalysis('f1');
    fhirResources.push(study, stored.report, ...stored.observations);
    const body = {
      ...hookBody('order-select', 'f1', [neurosurgery('f1')]),
      fhirServer: FHIR,
      fhirAuthorization: {
        access_token: 'hook-token',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'patient/ImagingStudy.rs patient/DiagnosticReport.rs patient/Observation.rs',
        subject: 'ldh-cds',
        patient: 'f1',
      },
    };
    const response = await post(url, body, await sign(url));
    const { cards } = (await response.json()) as { cards: CdsCard[] };
    expect(cards[0]?.summary).toBe('AI (preliminary): L4-L5 MSU 2-AB left; L5-S1 1-A');
    expect(fhirTokens).toContain('hook-token');
  });

  /** A call without prefetch for `patientId`, with a token that may search the record. */
  const withAuthorization = (patientId: string, scope: string) => ({
    ...hookBody('order-select', patientId, [neurosurgery(patientId)]),
    fhirServer: FHIR,
    fhirAuthorization: { access_token: `token-${randomUUID()}`, token_type: 'Bearer', scope, patient: patientId },
  });
  const ALL_SCOPES = 'patient/ImagingStudy.rs patient/DiagnosticReport.rs patient/Observation.rs';
  const summaryOf = async (response: Response): Promise<string | undefined> =>
    ((await response.json()) as { cards: CdsCard[] }).cards[0]?.summary;

  it('when the EHR calls again for the patient within CDS_RECORD_CACHE_SECONDS, then the record is not read again, until this process writes to that EHR', async () => {
    const { study, stored } = patientWithAnalysis('f3');
    fhirResources.push(study, stored.report, ...stored.observations);
    const first = await post(url, withAuthorization('f3', ALL_SCOPES), await sign(url));
    expect(await summaryOf(first)).toBe('AI (preliminary): L4-L5 MSU 2-AB left; L5-S1 1-A');
    const searches = fhirTokens.length;
    expect(searches).toBeGreaterThan(0);

    // The report is signed at the EHR by someone else: within the cache's seconds, the card still shows what was read.
    const signedOne = signed(stored, daysAgo(0));
    fhirResources.splice(fhirResources.indexOf(stored.report), 1, signedOne.report);
    const second = await post(url, withAuthorization('f3', ALL_SCOPES), await sign(url));
    expect(await summaryOf(second)).toMatch(/^AI \(preliminary\)/);
    expect(fhirTokens.length).toBe(searches);

    // A write of this process to that EHR (fhir-client.ts counts each): the next call reads the record again.
    noteFhirWrite(FHIR);
    const third = await post(url, withAuthorization('f3', ALL_SCOPES), await sign(url));
    expect(await summaryOf(third)).toMatch(/^Signed \(AI-assisted\)/);
    expect(fhirTokens.length).toBeGreaterThan(searches);
  });

  it('when a later call’s fhirAuthorization may not search the whole record, then the kept record is not used: 412', async () => {
    const { study, stored } = patientWithAnalysis('f4');
    fhirResources.push(study, stored.report, ...stored.observations);
    expect((await post(url, withAuthorization('f4', ALL_SCOPES), await sign(url))).status).toBe(200);
    const narrow = await post(url, withAuthorization('f4', 'patient/ImagingStudy.rs'), await sign(url));
    expect(narrow.status).toBe(412);
    expect(((await narrow.json()) as OperationOutcome).issue[0]?.diagnostics).toMatch(
      /fhirAuthorization.scope does not let it search DiagnosticReport/,
    );
  });

  it('when there is neither prefetch nor a usable fhirAuthorization, then 412 with an OperationOutcome', async () => {
    const response = await post(url, hookBody('order-select', 'f2', [neurosurgery('f2')]), await sign(url));
    expect(response.status).toBe(412);
    const outcome = (await response.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.diagnostics).toMatch(
      /Prefetch "studies" .* is missing and cannot be fetched: the call has no fhirAuthorization/,
    );
  });

  it('when fhirAuthorization names an untrusted fhirServer, then 412 and the token is not sent anywhere', async () => {
    const before = fhirTokens.length;
    const body = {
      ...hookBody('order-select', 'f1', [neurosurgery('f1')]),
      fhirServer: 'https://elsewhere.example/fhir',
      fhirAuthorization: {
        access_token: 'other-token',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'patient/*.rs',
        subject: 'x',
      },
    };
    expect((await post(url, body, await sign(url))).status).toBe(412);
    expect(fhirTokens.length).toBe(before);
  });
});

describe('bad requests', () => {
  it.each([
    ['the hook is not the service’s', { hook: 'patient-view' }, /answers hook order-select/],
    [
      'order-select has no draftOrders',
      { context: { userId: 'Practitioner/1', patientId: 'p', selections: ['x'] } },
      /draftOrders/,
    ],
    ['there is no hookInstance', { hookInstance: undefined }, /hookInstance/],
    [
      'fhirAuthorization comes without fhirServer',
      { fhirAuthorization: { access_token: 't', token_type: 'Bearer' } },
      /fhirServer is required/,
    ],
  ])('when %s, then 400 with an OperationOutcome', async (_name, change, message) => {
    const url = serviceUrl('ldh-cds-order-select');
    const body = { ...hookBody('order-select', 'b1', [neurosurgery('b1')], {}), ...change };
    const response = await post(url, body, await sign(url));
    expect(response.status).toBe(400);
    const outcome = (await response.json()) as OperationOutcome;
    expect(outcome.issue[0]?.diagnostics).toMatch(message);
  });

  it('when the service id is unknown, then 404', async () => {
    const url = serviceUrl('no-such-service');
    expect((await post(url, {}, await sign(url))).status).toBe(404);
  });
});

describe('JWT refusals (§Trusting CDS Clients)', () => {
  const url = serviceUrl('ldh-cds-order-select');
  const body = hookBody('order-select', 'j1', [neurosurgery('j1')], prefetchOf('j1', [], []));
  const nowS = (): number => Math.floor(Date.now() / 1000);

  it.each<[string, () => Promise<string | undefined>, RegExp]>([
    ['no Authorization header', () => Promise.resolve(undefined), /Missing/],
    ['not a JWT', () => Promise.resolve('abc.def'), /not a JWT/],
    ['an issuer not trusted', () => sign(url, { iss: 'https://other-ehr.test' }), /not a trusted CDS client/],
    ['another audience', () => sign(url, { aud: `${url}-other` }), /aud/],
    ['the discovery URL as audience', () => sign(url, { aud: `${base}/cds-services` }), /aud/],
    [
      'HS256 (a shared secret)',
      () => sign(url, { alg: 'HS256', key: new TextEncoder().encode('s'.repeat(48)) }),
      /algorithm not allowed/,
    ],
    ['expired', () => sign(url, { iat: nowS() - 200, exp: nowS() - 100 }), /expired/],
    [
      'issued more than 5 minutes ago',
      () => sign(url, { iat: nowS() - 600, exp: nowS() + 3600 }),
      /issued more than 5 minutes ago/,
    ],
    ['no kid in the header', () => sign(url, { kid: null }), /kid/],
    ['typ other than JWT', () => sign(url, { typ: 'at+jwt' }), /typ/],
    [
      'signed by another key',
      async () => sign(url, { key: (await generateKeyPair('ES384')).privateKey }),
      /JWT rejected|signature/,
    ],
  ])('when the call has %s, then 401 with WWW-Authenticate and an OperationOutcome', async (_name, token, reason) => {
    const response = await post(url, body, await token());
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    const outcome = (await response.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.diagnostics).toMatch(reason);
  });

  it('when a JWT is replayed (same jti), then the second call is refused', async () => {
    const jti = randomUUID();
    expect((await post(url, body, await sign(url, { jti }))).status).toBe(200);
    const replay = await post(url, body, await sign(url, { jti }));
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as OperationOutcome).issue[0]?.diagnostics).toMatch(/replay/);
  });
});

describe('a full replay cache (CDS_REPLAY_CACHE_MAX, without Redis)', () => {
  it('when it holds only unexpired jtis, then a new call is 503 with Retry-After, and no remembered jti is forgotten', async () => {
    const smallPort = await findFreePort();
    const smallBase = `http://127.0.0.1:${smallPort}`;
    const small = await startAppServer(
      loadConfig({
        APP_PORT: String(smallPort),
        APP_BASE_URL: smallBase,
        CDS_CLIENTS_FILE: clientsFile,
        CDS_FEEDBACK_FILE: path.join(setupDir, 'feedback-small.jsonl'),
        FHIR_BASE_URLS: FHIR,
        CLIENT_DIST_DIR: setupDir,
        LOG_LEVEL: 'silent',
        CDS_REPLAY_CACHE_MAX: '2',
      }),
    );
    try {
      const url = `${smallBase}/cds-services/ldh-cds-order-select`;
      const body = hookBody('order-select', 'j1', [neurosurgery('j1')], prefetchOf('j1', [], []));
      const first = await sign(url);
      expect((await post(url, body, first)).status).toBe(200);
      expect((await post(url, body, await sign(url))).status).toBe(200);
      const third = await post(url, body, await sign(url));
      expect(third.status).toBe(503);
      expect(third.headers.get('retry-after')).toBe('5');
      expect(third.headers.get('cache-control')).toBe('no-store');
      expect(third.headers.get('etag')).toBeNull();
      expect(((await third.json()) as OperationOutcome).issue[0]?.diagnostics).toMatch(/replay cache holds 2/);
      // Before: the third call was accepted and the first jti evicted to make room, so the first token could be replayed.
      const replay = await post(url, body, first);
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as OperationOutcome).issue[0]?.diagnostics).toMatch(/replay/);
    } finally {
      await small.close();
    }
  });
});

describe('metrics (hook-metrics.ts)', () => {
  /** The samples of `name` whose labels include `labels`, summed; 0 when there is none. */
  async function sampled(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(app.metricsUrl ?? '')).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`))
      .filter((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  it('when hooks are answered and refused, then each call is counted by service, kind and status, and timed', async () => {
    const { prefetch } = patientWithAnalysis('m1');
    const url = serviceUrl('ldh-cds-order-select');
    const labels = { service: 'ldh-cds-order-select', kind: 'hook' };
    const [ok, refused, timed] = await Promise.all([
      sampled('ldh_cds_cds_hooks_calls_total', { ...labels, code: '200' }),
      sampled('ldh_cds_cds_hooks_calls_total', { ...labels, code: '401' }),
      sampled('ldh_cds_cds_hooks_call_duration_seconds_count', labels),
    ]);
    await callHook('order-select', 'm1', [neurosurgery('m1')], prefetch);
    expect((await post(url, hookBody('order-select', 'm1', [neurosurgery('m1')], prefetch))).status).toBe(401);
    expect((await fetch(`${base}/cds-services/no-such-service`, { method: 'POST' })).status).toBeGreaterThanOrEqual(
      400,
    );
    expect(await sampled('ldh_cds_cds_hooks_calls_total', { ...labels, code: '200' })).toBe(ok + 1);
    expect(await sampled('ldh_cds_cds_hooks_calls_total', { ...labels, code: '401' })).toBe(refused + 1);
    expect(await sampled('ldh_cds_cds_hooks_call_duration_seconds_count', labels)).toBe(timed + 2);
    // A service this server does not offer is counted as unknown: the label keeps to a closed list.
    expect(await sampled('ldh_cds_cds_hooks_calls_total', { service: 'unknown', kind: 'hook' })).toBeGreaterThanOrEqual(
      1,
    );
    const text = await (await fetch(app.metricsUrl ?? '')).text();
    expect(text).not.toContain('no-such-service');
  });
});

describe('feedback (§Feedback)', () => {
  const { prefetch } = patientWithAnalysis('fb1');
  const feedbackUrl = `${serviceUrl('ldh-cds-order-select')}/feedback`;
  const postFeedback = async (feedback: unknown[], token?: string): Promise<Response> =>
    post(feedbackUrl, { feedback }, token ?? (await sign(feedbackUrl)));
  const summaryOf = async () =>
    (await (await fetch(`${base}/cds-services/feedback/summary`)).json()) as {
      items: number;
      counts: {
        kind: string;
        model: string;
        accepted: number;
        overridden: number;
        overrideReasons: Record<string, number>;
      }[];
    };

  it('when a suggestion is accepted and a card overridden with a reason, then both are stored and counted per kind and model', async () => {
    const [accepted] = await callHook('order-select', 'fb1', [neurosurgery('fb1')], prefetch);
    const [overridden] = await callHook('order-select', 'fb1', [neurosurgery('fb1')], prefetch);
    const notAnalyzed = (
      await callHook(
        'order-sign',
        'fb2',
        [neurosurgery('fb2')],
        prefetchOf('fb2', [lumbarMriStudy('fb2-st', 'fb2', daysAgo(1))], []),
      )
    )[0];
    expect(cardProblems(accepted)).toEqual([]);
    const reason = accepted?.overrideReasons?.find((r) => r.code === 'disagree-with-finding');
    const at = new Date().toISOString();
    expect(
      (
        await postFeedback([
          {
            card: accepted?.uuid,
            outcome: 'accepted',
            acceptedSuggestions: [{ id: accepted?.suggestions?.[0]?.uuid }],
            outcomeTimestamp: at,
          },
          {
            card: overridden?.uuid,
            outcome: 'overridden',
            overrideReason: { reason, userComment: 'Reviewed with radiology.' },
            outcomeTimestamp: at,
          },
        ])
      ).status,
    ).toBe(200);
    // Feedback for the order-sign card goes to that service's endpoint, signed for the service URL.
    const signUrl = `${serviceUrl('ldh-cds-order-sign')}/feedback`;
    const signFeedback = await post(
      signUrl,
      { feedback: [{ card: notAnalyzed?.uuid, outcome: 'overridden', outcomeTimestamp: at }] },
      await sign(serviceUrl('ldh-cds-order-sign')),
    );
    expect(signFeedback.status).toBe(200);
    expect(await signFeedback.json()).toEqual({});

    const lines = (await readFile(feedbackFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        card: overridden?.uuid,
        kind: 'findings',
        model: 'msu-ldh@1.8.0',
        outcome: 'overridden',
        overrideReason: {
          code: 'disagree-with-finding',
          system: 'https://ldh-cds.org/fhir/CodeSystem/ldh-cds',
          display: 'Disagree with the finding',
        },
        userComment: 'Reviewed with radiology.',
        client: ISS,
      }),
    );
    const summary = await summaryOf();
    expect(summary.counts).toContainEqual({
      kind: 'findings',
      model: 'msu-ldh@1.8.0',
      accepted: 1,
      overridden: 1,
      overrideReasons: { 'disagree-with-finding': 1 },
    });
    expect(summary.counts).toContainEqual({
      kind: 'notAnalyzed',
      model: 'none',
      accepted: 0,
      overridden: 1,
      overrideReasons: { none: 1 },
    });
  });

  it('when feedback names a card this server never issued, then it is kept as kind unknown', async () => {
    const card = randomUUID();
    expect(
      (await postFeedback([{ card, outcome: 'overridden', outcomeTimestamp: new Date().toISOString() }])).status,
    ).toBe(200);
    expect((await summaryOf()).counts.some((group) => group.kind === 'unknown')).toBe(true);
  });

  it('when feedback is malformed (accepted without acceptedSuggestions, no timestamp), then 400', async () => {
    expect(
      (await postFeedback([{ card: randomUUID(), outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }]))
        .status,
    ).toBe(400);
    expect((await postFeedback([{ card: randomUUID(), outcome: 'overridden' }])).status).toBe(400);
    expect((await postFeedback([])).status).toBe(400);
  });

  it('when feedback has no JWT or one for another audience, then 401', async () => {
    const item = { card: randomUUID(), outcome: 'overridden', outcomeTimestamp: new Date().toISOString() };
    expect((await post(feedbackUrl, { feedback: [item] })).status).toBe(401);
    expect((await postFeedback([item], await sign(`${base}/cds-services/ldh-cds-patient-view/feedback`))).status).toBe(
      401,
    );
  });
});
