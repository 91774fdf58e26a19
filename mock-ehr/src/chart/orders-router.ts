/**
 * Order entry with CDS Hooks (CDS Hooks 2.0 order-select and order-sign): the clinician picks a referral or an
 * imaging order, the EHR stores a draft ServiceRequest and calls every discovered `order-select` service with the
 * draft, its JWT and the prefetch; the cards are shown with the order. Signing calls `order-sign`; when cards come
 * back the clinician sees them and confirms. Accepting a suggestion applies its actions to the draft (its
 * `supportingInfo` is shown with the order); dismissing a card asks for one of its override reasons and an optional
 * comment; every decision is posted to the service as feedback.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import express, { type Router } from 'express';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { LaunchContext } from '../auth/grant-store';
import type { TokenIssuer } from '../auth/tokens';
import { buildPrefetch } from '../cds-hooks/prefetch';
import { CdsCallError, type CdsCard, type CdsHooksClient, type HookRequest } from '../cds-hooks/cds-client';
import type { FhirEngine } from '../fhir/fhir-engine';
import { errorPage } from '../http/errors';
import { buildRouter, type Route } from '../http/route-table';
import { CPT, SNOMED } from '../seed/build-resources';
import { renderCards, type RenderedCard } from './cards-view';
import { html, renderPage, type SafeHtml } from './html';

/** One orderable of the order entry form: a referral or an imaging order, as the ServiceRequest codes it. */
export interface Orderable {
  system: string;
  code: string;
  display: string;
  kind: 'referral' | 'imaging';
}

/**
 * What the order entry offers (SNOMED CT referral procedures as the VSAC "Referral" value set lists them; CPT for the
 * MRI). The app's CDS services speak at the spine referrals and the lumbar MRI (its smart-config/cds-referral-codes.json);
 * physiotherapy and cardiology are there to show that other orders get no card.
 */
export const ORDERABLES: readonly Orderable[] = [
  { system: SNOMED, code: '308481009', display: 'Referral to orthopedic surgeon', kind: 'referral' },
  { system: SNOMED, code: '308482002', display: 'Referral to neurosurgeon', kind: 'referral' },
  { system: SNOMED, code: '306265007', display: 'Referral to pain management specialist', kind: 'referral' },
  { system: SNOMED, code: '308447003', display: 'Referral to physiotherapist', kind: 'referral' },
  { system: SNOMED, code: '308471005', display: 'Referral to cardiologist', kind: 'referral' },
  { system: CPT, code: '72148', display: 'MRI lumbar spine without contrast', kind: 'imaging' },
];

/** The scopes of the fhirAuthorization handed to CDS services: read the patient's chart, nothing else. */
const CDS_FHIR_SCOPES = [
  'patient/Patient.rs',
  'patient/DiagnosticReport.rs',
  'patient/Observation.rs',
  'patient/ImagingStudy.rs',
];

export interface OrdersRouterOptions {
  engine: FhirEngine;
  tokens: TokenIssuer;
  cds: CdsHooksClient;
  /** Base URL of the CDS services (discovery at `{base}/cds-services`). */
  cdsServicesBaseUrl: string;
  /** client_id named as `fhirAuthorization.subject`. */
  cdsClientId: string;
  fhirBaseUrl: string;
  practitionerId: string;
  createLaunch: (context: LaunchContext) => string;
  logger: Logger;
  /** Clock of the order entry sessions (tests move it; default Date.now). */
  now?: () => number;
}

/** How long opening a chart waits for the patient-view services (discovery, then each call): the chart comes first. */
export const PATIENT_VIEW_TIMEOUT_MS = 3_000;

/** An order entry session (draft → cards → sign) is forgotten after this long without a visit… */
export const ORDER_SESSION_IDLE_MS = 60 * 60 * 1000;
/** …and at most this many are kept, the least recently visited forgotten first. */
export const MAX_ORDER_SESSIONS = 1_000;

/** The cards of one hook call and what the clinician did with them: an order entry, or a chart opened (a visit). */
interface CardSession {
  patientId: string;
  stage: 'order-select' | 'order-sign' | 'patient-view';
  cards: RenderedCard[];
  errors: string[];
}

/** Where a session's cards live: its URL prefix, how it is found, and the page a clinician returns to after a card. */
interface SessionKind {
  prefix: '/orders' | '/visits';
  find: (id: string) => CardSession;
  pageAfter: (id: string, session: CardSession) => Promise<string>;
}

/** Order entry, and the chart's patient-view cards (CDS Hooks 2.0 patient-view, called when a chart opens). */
export interface OrderEntry {
  router: Router;
  /**
   * The patient-view cards for a chart: those of `visitId` when it is this patient's visit (the chart shown again after
   * a card was dismissed), else a fresh call; nothing when no service has anything to say.
   */
  patientViewCards(patientId: string, visitId: string | undefined): Promise<SafeHtml>;
}

export function buildOrderEntry(options: OrdersRouterOptions): OrderEntry {
  // Pruned and bounded (lru-cache): a visit keeps a session alive, idle ones leave, a flood of drafts (or of charts
  // opened) cannot grow the EHR's memory. A forgotten session is the same 404 as an unknown order.
  const now = options.now ?? Date.now;
  const boundedSessions = () =>
    new LRUCache<string, CardSession>({
      max: MAX_ORDER_SESSIONS,
      ttl: ORDER_SESSION_IDLE_MS,
      updateAgeOnGet: true,
      perf: { now },
      ttlResolution: 0,
    });
  /** By order id. */
  const sessions = boundedSessions();
  /** By visit id: a chart opened, with its patient-view cards. */
  const visits = boundedSessions();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const session = (orderId: string): CardSession => {
    const found = sessions.get(orderId);
    if (!found) throw errorPage(404, 'Order not found', `There is no order entry session for "${orderId}".`);
    return found;
  };
  const orderKind: SessionKind = {
    prefix: '/orders',
    find: session,
    pageAfter: async (orderId, current) =>
      (await orderExists(options, orderId))
        ? `/orders/${encodeURIComponent(orderId)}`
        : `/chart/${encodeURIComponent(current.patientId)}`,
  };
  const visitKind: SessionKind = {
    prefix: '/visits',
    find: (visitId) => {
      const found = visits.get(visitId);
      if (!found) throw errorPage(404, 'Visit not found', 'These cards are no longer kept: open the chart again.');
      return found;
    },
    pageAfter: (visitId, current) =>
      Promise.resolve(`/chart/${encodeURIComponent(current.patientId)}?visit=${encodeURIComponent(visitId)}`),
  };
  const routes: Route[] = [
    {
      method: 'get',
      path: '/chart/:patientId/orders/new',
      handler: async (req, res) => {
        const patient = await readPatient(options, String(req.params.patientId));
        res.type('html').send(renderNewOrder(patient));
      },
      spec: 'Order entry form: referrals and a lumbar MRI',
    },
    {
      method: 'post',
      path: '/chart/:patientId/orders',
      before: [form],
      handler: async (req, res) => {
        const patient = await readPatient(options, String(req.params.patientId));
        const body = req.body as Record<string, string | undefined>;
        const orderable = ORDERABLES.find((item) => item.code === body.code);
        if (!orderable) throw errorPage(400, 'Unknown order', 'Choose one of the listed orders.');
        const draft = await options.engine.create<ServiceRequest>(
          buildDraftOrder(patient.id ?? '', options.practitionerId, orderable, body.reason),
        );
        const result = await callHooks(
          options,
          'order-select',
          patient.id ?? '',
          [draft],
          [`ServiceRequest/${draft.id}`],
        );
        sessions.set(draft.id, { patientId: patient.id ?? '', stage: 'order-select', ...result });
        res.redirect(303, `/orders/${encodeURIComponent(draft.id)}`);
      },
      spec: 'Create the draft ServiceRequest, call order-select (CDS Hooks 2.0)',
    },
    {
      method: 'get',
      path: '/orders/:orderId',
      handler: async (req, res) => {
        const orderId = String(req.params.orderId);
        const current = session(orderId);
        const order = await readOrder(options, orderId);
        const patient = await readPatient(options, current.patientId);
        res.type('html').send(renderOrder(patient, order, current));
      },
      spec: 'The draft order with its cards',
    },
    {
      method: 'post',
      path: '/orders/:orderId/sign',
      before: [form],
      handler: async (req, res) => {
        const orderId = String(req.params.orderId);
        const current = session(orderId);
        const confirmed = (req.body as Record<string, string | undefined>).confirm === '1';
        if (!confirmed) {
          const order = await readOrder(options, orderId);
          const result = await callHooks(options, 'order-sign', current.patientId, [order], undefined);
          if (result.cards.length > 0 || result.errors.length > 0) {
            sessions.set(orderId, { patientId: current.patientId, stage: 'order-sign', ...result });
            res.redirect(303, `/orders/${encodeURIComponent(orderId)}`);
            return;
          }
        }
        const order = await readOrder(options, orderId);
        await options.engine.repo.updateResource<ServiceRequest>({ ...order, status: 'active' });
        res.redirect(303, `/chart/${encodeURIComponent(current.patientId)}`);
      },
      spec: 'Sign: order-sign hook, then activate the ServiceRequest',
    },
    ...cardRoutes(orderKind),
    ...cardRoutes(visitKind),
  ];

  /** Accept a suggestion, dismiss a card, follow a card's link: the same for order entry and a chart's visit. */
  function cardRoutes(kind: SessionKind): Route[] {
    return [
      {
        method: 'post',
        path: `${kind.prefix}/:sessionId/cards/:cardId/accept`,
        before: [form],
        handler: async (req, res) => {
          const sessionId = String(req.params.sessionId);
          const current = kind.find(sessionId);
          const item = findCard(current, String(req.params.cardId));
          const suggestionId = (req.body as Record<string, string | undefined>).suggestion;
          const index = (item.card.suggestions ?? []).findIndex(
            (suggestion, i) => (suggestion.uuid ?? String(i)) === suggestionId,
          );
          const suggestion = item.card.suggestions?.[index];
          if (!suggestion) throw errorPage(400, 'Unknown suggestion', 'The card has no such suggestion.');
          await applyActions(options, current.patientId, suggestion.actions ?? []);
          item.outcome = 'accepted';
          item.outcomeText = suggestion.label;
          await sendFeedback(options, item, {
            card: item.card.uuid,
            outcome: 'accepted',
            acceptedSuggestions: suggestion.uuid ? [{ id: suggestion.uuid }] : [],
            outcomeTimestamp: new Date().toISOString(),
          });
          res.redirect(303, await kind.pageAfter(sessionId, current));
        },
        spec: 'Apply a suggestion to the draft; feedback "accepted"',
      },
      {
        method: 'post',
        path: `${kind.prefix}/:sessionId/cards/:cardId/override`,
        before: [form],
        handler: async (req, res) => {
          const sessionId = String(req.params.sessionId);
          const current = kind.find(sessionId);
          const item = findCard(current, String(req.params.cardId));
          const body = req.body as Record<string, string | undefined>;
          const offered = item.card.overrideReasons ?? [];
          const reason = offered.find((r) => r.code === body.reason);
          // A card that offers reasons is dismissed with one of them (the form requires it; this holds without it).
          if (offered.length > 0 && !reason)
            throw errorPage(400, 'Choose a reason', 'Say why you dismiss the card: choose one of its reasons.');
          const userComment = body.comment?.trim().slice(0, 500);
          item.outcome = 'overridden';
          item.outcomeText = [reason?.display ?? reason?.code, userComment].filter(Boolean).join(' — ');
          await sendFeedback(options, item, {
            card: item.card.uuid,
            outcome: 'overridden',
            ...(reason || userComment
              ? { overrideReason: { ...(reason ? { reason } : {}), ...(userComment ? { userComment } : {}) } }
              : {}),
            outcomeTimestamp: new Date().toISOString(),
          });
          res.redirect(303, await kind.pageAfter(sessionId, current));
        },
        spec: 'Dismiss a card (with an override reason when offered); feedback "overridden"',
      },
      {
        method: 'get',
        path: `${kind.prefix}/:sessionId/cards/:cardId/links/:index`,
        handler: (req, res) => {
          const current = kind.find(String(req.params.sessionId));
          const item = findCard(current, String(req.params.cardId));
          const link = item.card.links?.[Number(req.params.index)];
          if (!link) throw errorPage(404, 'Unknown link', 'The card has no such link.');
          if (link.type !== 'smart') {
            res.redirect(302, link.url);
            return;
          }
          // CDS Hooks 2.0 Link type "smart": the EHR launches the app (SMART EHR launch) in the patient's context,
          // passing the card's appContext through the launch to the token response.
          const launch = options.createLaunch({
            patientId: current.patientId,
            practitionerId: options.practitionerId,
            ...(link.appContext !== undefined ? { appContext: link.appContext } : {}),
          });
          const target = new URL(link.url);
          target.searchParams.set('iss', options.fhirBaseUrl);
          target.searchParams.set('launch', launch);
          res.redirect(302, target.toString());
        },
        spec: 'SMART link of a card → EHR launch of the app',
      },
    ];
  }

  return {
    router: buildRouter(routes),
    async patientViewCards(patientId, visitId) {
      const kept = visitId === undefined ? undefined : visits.get(visitId);
      if (visitId !== undefined && kept?.patientId === patientId)
        return renderCards(`/visits/${encodeURIComponent(visitId)}`, kept.cards, kept.errors);
      const result = await callHooks(options, 'patient-view', patientId, undefined, undefined);
      if (result.cards.length === 0 && result.errors.length === 0) return html``;
      const id = randomUUID();
      visits.set(id, { patientId, stage: 'patient-view', ...result });
      return renderCards(`/visits/${id}`, result.cards, result.errors);
    },
  };
}

function findCard(session: CardSession, cardId: string): RenderedCard {
  const item = session.cards.find((candidate) => candidate.card.uuid === cardId);
  if (!item) throw errorPage(404, 'Unknown card', 'This card is no longer shown.');
  return item;
}

async function readPatient(options: OrdersRouterOptions, patientId: string): Promise<Patient> {
  try {
    return await options.engine.repo.readResource<Patient>('Patient', patientId);
  } catch {
    throw errorPage(404, 'Patient not found', `There is no patient with id "${patientId}" in this EHR.`);
  }
}

async function readOrder(options: OrdersRouterOptions, orderId: string): Promise<ServiceRequest> {
  try {
    return await options.engine.repo.readResource<ServiceRequest>('ServiceRequest', orderId);
  } catch {
    throw errorPage(404, 'Order not found', `There is no order "${orderId}".`);
  }
}

async function orderExists(options: OrdersRouterOptions, orderId: string): Promise<boolean> {
  try {
    await options.engine.repo.readResource('ServiceRequest', orderId);
    return true;
  } catch {
    return false;
  }
}

/** The category of a draft: SNOMED CT 3457005 "Patient referral", 363679005 "Imaging". */
const CATEGORY = {
  referral: { system: SNOMED, code: '3457005', display: 'Patient referral' },
  imaging: { system: SNOMED, code: '363679005', display: 'Imaging' },
} as const;

export function buildDraftOrder(
  patientId: string,
  practitionerId: string,
  orderable: Orderable,
  reason: string | undefined,
): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    status: 'draft',
    intent: 'order',
    priority: 'routine',
    category: [{ coding: [CATEGORY[orderable.kind]] }],
    code: {
      coding: [{ system: orderable.system, code: orderable.code, display: orderable.display }],
      text: orderable.display,
    },
    subject: { reference: `Patient/${patientId}` },
    requester: { reference: `Practitioner/${practitionerId}` },
    authoredOn: new Date().toISOString(),
    ...(reason?.trim() ? { reasonCode: [{ text: reason.trim() }] } : {}),
  };
}

/** Calls every discovered service for `hook`; a failing service becomes a message, never a broken chart. */
async function callHooks(
  options: OrdersRouterOptions,
  hook: 'order-select' | 'order-sign' | 'patient-view',
  patientId: string,
  /** The draft orders (order-select, order-sign); none for patient-view. */
  drafts: ServiceRequest[] | undefined,
  selections: string[] | undefined,
): Promise<{ cards: RenderedCard[]; errors: string[] }> {
  const cards: RenderedCard[] = [];
  const errors: string[] = [];
  // Order entry waits for the services as long as the client allows; opening a chart waits less, since the chart is
  // what the clinician came for (CDS Hooks 2.0 §patient-view: the cards come with it, not before it).
  const timeoutMs = hook === 'patient-view' ? PATIENT_VIEW_TIMEOUT_MS : undefined;
  let services;
  try {
    services = (await options.cds.discover(options.cdsServicesBaseUrl, timeoutMs)).filter(
      (service) => service.hook === hook,
    );
  } catch (error) {
    options.logger.warn(cdsFailureLogFields(error), 'CDS discovery failed');
    return { cards, errors: [`Decision support unavailable: ${(error as Error).message}`] };
  }
  const draftOrders: Bundle | undefined = drafts && {
    resourceType: 'Bundle',
    type: 'collection',
    entry: drafts.map((resource) => ({ resource })),
  };
  const userId = `Practitioner/${options.practitionerId}`;
  const context: Record<string, unknown> = {
    userId,
    patientId,
    ...(draftOrders ? { draftOrders } : {}),
    ...(selections ? { selections } : {}),
  };
  const scope = CDS_FHIR_SCOPES.join(' ');
  const accessToken = await options.tokens.issueAccessToken({
    clientId: options.cdsClientId,
    scopes: CDS_FHIR_SCOPES,
    patientId,
    practitionerId: options.practitionerId,
  });
  // Every service at once, each on its own: one that is slow or failing delays or spoils no other's cards.
  const answers = await Promise.all(
    services.map(async (service) => {
      const request: HookRequest = {
        hook,
        hookInstance: randomUUID(),
        fhirServer: options.fhirBaseUrl,
        fhirAuthorization: {
          access_token: accessToken,
          token_type: 'Bearer',
          expires_in: options.tokens.accessTokenTtlS,
          scope,
          subject: options.cdsClientId,
          patient: patientId,
        },
        context,
        prefetch: await buildPrefetch(options.engine, service.prefetch, context, userId),
      };
      try {
        const answered = await options.cds.call(options.cdsServicesBaseUrl, service.id, request, timeoutMs);
        return { cards: answered.map((card) => ({ serviceId: service.id, card: withUuid(card) })) };
      } catch (error) {
        // The chart shows the service's words; the log keeps codes (a card or an error body can name the patient).
        options.logger.warn({ service: service.id, hook, ...cdsFailureLogFields(error) }, 'CDS call failed');
        return { error: `${service.title ?? service.id}: ${error instanceof Error ? error.message : String(error)}` };
      }
    }),
  );
  for (const answer of answers) {
    if (answer.cards) cards.push(...answer.cards);
    if (answer.error !== undefined) errors.push(answer.error);
  }
  return { cards, errors };
}

/** A failed CDS Hooks request as log fields: the error's class and the service's HTTP status, not its words. */
function cdsFailureLogFields(error: unknown): { error: string; status?: number } {
  const name = error instanceof Error ? error.name : typeof error;
  return error instanceof CdsCallError && error.status !== undefined
    ? { error: name, status: error.status }
    : { error: name };
}

function withUuid(card: CdsCard): CdsCard & { uuid: string } {
  return { ...card, uuid: card.uuid ?? randomUUID() };
}

/** Suggestion actions (CDS Hooks 2.0 §Action): create/update a resource, delete by reference. */
async function applyActions(
  options: OrdersRouterOptions,
  patientId: string,
  actions: NonNullable<CdsCard['suggestions']>[number]['actions'] & object,
): Promise<void> {
  for (const action of actions) {
    if (action.type === 'delete') {
      for (const reference of action.resourceId ?? []) {
        const [type, id] = reference.split('/');
        if (type && id) await options.engine.repo.deleteResource(type, id);
      }
      continue;
    }
    const resource = action.resource as Resource | undefined;
    if (!resource) continue;
    const subject = (resource as { subject?: { reference?: string } }).subject?.reference;
    if (subject !== undefined && subject !== `Patient/${patientId}`) {
      throw errorPage(400, 'Suggestion refused', 'A suggestion may only change orders of the patient in the chart.');
    }
    if (action.type === 'create') await options.engine.create({ ...resource, id: undefined });
    else await options.engine.repo.updateResource(resource);
  }
}

async function sendFeedback(
  options: OrdersRouterOptions,
  item: RenderedCard,
  feedback: Parameters<CdsHooksClient['feedback']>[2][number],
): Promise<void> {
  try {
    await options.cds.feedback(options.cdsServicesBaseUrl, item.serviceId, [feedback]);
  } catch (error) {
    options.logger.warn({ service: item.serviceId, ...cdsFailureLogFields(error) }, 'CDS feedback failed');
  }
}

function renderNewOrder(patient: Patient): string {
  const group = (kind: Orderable['kind'], legend: string): SafeHtml =>
    html`<fieldset>
      <legend>${legend}</legend>
      ${ORDERABLES.filter((item) => item.kind === kind).map(
        (item) =>
          html`<label
              ><input
                type="radio"
                name="code"
                value="${item.code}"
                ${item === ORDERABLES[0] ? html`checked` : html``}
              />
              ${item.display} <span class="muted">(${item.system === CPT ? 'CPT' : 'SNOMED'} ${item.code})</span></label
            ><br />`,
      )}
    </fieldset>`;
  return renderPage(
    'New order',
    html`<h1>New order for ${nameOf(patient)}</h1>
      <form method="post" action="/chart/${encodeURIComponent(patient.id ?? '')}/orders" class="stack">
        ${group('referral', 'Referral')} ${group('imaging', 'Imaging')}
        <label>Reason <input name="reason" value="Low back pain radiating to the leg" /></label>
        <button class="button" type="submit" id="select-order">Select order</button>
      </form>`,
  );
}

function renderOrder(patient: Patient, order: ServiceRequest, session: CardSession): string {
  const signing = session.stage === 'order-sign';
  return renderPage(
    'Order',
    html`<h1>${order.code?.text ?? 'Order'} — ${nameOf(patient)}</h1>
      <p>
        Status: <span class="status status-${order.status}" id="order-status">${order.status}</span>
        · Authored ${order.authoredOn?.slice(0, 16).replace('T', ' ')}
      </p>
      ${supportingInfo(order)}
      <h2>Decision support (${session.stage})</h2>
      ${renderCards(`/orders/${encodeURIComponent(order.id ?? '')}`, session.cards, session.errors)}
      ${
        order.status === 'draft'
          ? html`<form method="post" action="/orders/${encodeURIComponent(order.id ?? '')}/sign">
              ${signing ? html`<input type="hidden" name="confirm" value="1" />` : html``}
              <button class="button" type="submit" id="sign-order">
                ${signing ? 'Confirm and sign' : 'Sign order'}
              </button>
            </form>`
          : html``
      }
      <p><a href="/chart/${encodeURIComponent(patient.id ?? '')}">Back to the chart</a></p>`,
  );
}

/** What the order carries as supporting information (a suggestion accepted adds to it). */
function supportingInfo(order: ServiceRequest): SafeHtml {
  const items = order.supportingInfo ?? [];
  if (items.length === 0) return html``;
  return html`<section aria-label="Supporting information" class="supporting-info" id="order-supporting-info">
    <strong>Supporting information:</strong>
    <ul>
      ${items.map(
        (item) =>
          html`<li data-reference="${item.reference ?? ''}">
            ${item.display ?? item.reference} <span class="muted">(${item.reference})</span>
          </li>`,
      )}
    </ul>
  </section>`;
}

function nameOf(patient: Patient): string {
  const name = patient.name?.[0];
  return name?.text ?? [...(name?.given ?? []), name?.family ?? ''].join(' ').trim();
}
