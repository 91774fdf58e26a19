/**
 * CDS Hooks 2.0 endpoints, one table of routes:
 *   GET     /cds-services                    discovery (CORS, no auth): every service with its prefetch templates
 *   POST    /cds-services/:id                a hook call (JWT-authenticated) → { cards }
 *   POST    /cds-services/:id/feedback       card feedback (§Feedback) → stored and counted → 200 {}
 *   GET     /cds-services/feedback/summary   the feedback counts per card kind and model version (no PHI, no auth)
 * CORS is allowed for browser-based EHRs (§CORS). Errors are FHIR OperationOutcomes with their HTTP status; an order
 * or a patient with nothing to say about is `{ "cards": [] }`, never an error.
 */
import { Router, type RequestHandler } from 'express';
import type { Bundle, ServiceRequest } from 'fhir/r4';
import { z } from 'zod';
import { createFhirClient, type FhirClient } from '../fhir/fhir-client';
import { badRequest, notFound, serviceBusy, unauthorized } from '../http/http-error';
import { ReplayCacheFullError } from '../http/replay-cache';
import {
  findingsCard,
  notAnalyzedCard,
  type AnalysisRequestOutcome,
  type BuiltCard,
  type CardSettings,
  type ModelDescription,
} from './cards';
import { levelsOf, lumbarMris, type LumbarMri, type OurReport } from './current-report';
import type { CdsFeedbackStore, FeedbackRecord } from './feedback-store';
import { createIssuedCards, type IssuedCards } from './issued-cards';
import { readPatientRecord, searchedWholly, type PatientRecord, type RecordRequest } from './patient-record';
import { createRecordCache, type RecordCache } from './record-cache';
import { CDS_SERVICES, type CdsServiceDefinition } from './services';
import type { OrderTrigger, TriggerCodes } from './trigger-codes';
import { CdsAuthError, type CdsJwtVerifier } from './verify-jwt';

/** When the replay cache is full, a retry in a few seconds finds some of its keys expired. */
const REPLAY_CACHE_RETRY_AFTER_S = 5;

/** Asks for a background analysis of a study the card says was never analyzed (step 4 of issue 24). */
export type AnalysisRequester = (study: {
  fhirServer: string | undefined;
  imagingStudy: string;
  patientId: string;
}) => Promise<AnalysisRequestOutcome>;

export const NO_BACKGROUND_ANALYSIS: AnalysisRequester = () =>
  Promise.resolve({
    queued: false,
    reason: 'This ldh-cds installation analyzes a study only when a clinician opens it in the app.',
  });

export interface CdsRouterOptions {
  appBaseUrl: string;
  trustedFhirBaseUrls: readonly string[];
  verifier: CdsJwtVerifier;
  codes: TriggerCodes;
  feedback: CdsFeedbackStore;
  /** The model MODEL_DIR holds (manifest name, bundled demo or not); undefined when it cannot be read. */
  model: () => Promise<ModelDescription | undefined>;
  /** Where the model card is served. */
  modelCardPath: string;
  fhirClient?: (baseUrl: string, accessToken: string) => FhirClient;
  issuedCards?: IssuedCards;
  /**
   * The records read without prefetch, kept a few seconds (record-cache.ts; CDS_RECORD_CACHE_SECONDS). Default: none
   * kept, every call reads the EHR.
   */
  recordCache?: RecordCache;
  requestAnalysis?: AnalysisRequester;
  /** The clock (tests); default Date.now. */
  now?: () => number;
}

const bundleSchema = z.custom<Bundle>(
  (value) =>
    typeof value === 'object' && value !== null && (value as { resourceType?: unknown }).resourceType === 'Bundle',
  'must be a FHIR Bundle',
);

/** §HTTP Request: hook, hookInstance, context required; fhirServer with fhirAuthorization. Context per hook (2.0). */
const baseRequest = z.object({
  hook: z.string().min(1),
  hookInstance: z.string().min(1),
  fhirServer: z.url().optional(),
  fhirAuthorization: z
    .object({
      access_token: z.string().min(1),
      token_type: z.string().regex(/^bearer$/i, 'must be Bearer'),
      expires_in: z.number().optional(),
      scope: z.string().optional(),
      subject: z.string().optional(),
      patient: z.string().optional(),
    })
    .loose()
    .optional(),
  prefetch: z.record(z.string(), z.unknown()).optional(),
});
const patientContext = { userId: z.string().min(1), patientId: z.string().min(1), encounterId: z.string().optional() };
const CONTEXT_SCHEMAS = {
  'patient-view': z.object(patientContext).loose(),
  'order-select': z
    .object({ ...patientContext, selections: z.array(z.string()).min(1), draftOrders: bundleSchema })
    .loose(),
  'order-sign': z.object({ ...patientContext, draftOrders: bundleSchema }).loose(),
} as const;

function invalid(error: z.ZodError, what: string): Error {
  const issue = error.issues[0];
  return badRequest(`Invalid ${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
}

const allowCors: RequestHandler = (req, res, next) => {
  res.set({
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
  });
  if (req.method === 'OPTIONS') res.sendStatus(204);
  else next();
};

const feedbackSchema = z.object({
  feedback: z
    .array(
      z
        .object({
          card: z.string().min(1).max(200),
          outcome: z.enum(['accepted', 'overridden']),
          acceptedSuggestions: z.array(z.object({ id: z.string().min(1).max(200) }).loose()).optional(),
          overrideReason: z
            .object({
              reason: z
                .object({
                  code: z.string().min(1).max(200),
                  system: z.string().max(500).optional(),
                  display: z.string().max(500).optional(),
                })
                .loose()
                .optional(),
              userComment: z.string().max(2000).optional(),
            })
            .loose()
            .optional(),
          outcomeTimestamp: z.iso.datetime({ offset: true }),
        })
        .loose()
        .refine(
          (item) => item.outcome !== 'accepted' || item.acceptedSuggestions !== undefined,
          'acceptedSuggestions is required for an accepted outcome',
        ),
    )
    .min(1)
    .max(100),
});

/** What a hook's cards are built from (patient-record.ts). */
const RECORD_NEEDS = ['studies', 'reports', 'observations'] as const;

const modelKey = (model: { id: string; version: string } | undefined): string | undefined =>
  model ? `${model.id}@${model.version}` : undefined;

export function cdsHooksRouter(options: CdsRouterOptions): Router {
  const fhirClient =
    options.fhirClient ??
    ((baseUrl: string, token: string) => createFhirClient(baseUrl, token, { timeoutMs: 10_000, retries: 1 }));
  const issued = options.issuedCards ?? createIssuedCards();
  const requestAnalysis = options.requestAnalysis ?? NO_BACKGROUND_ANALYSIS;
  const recordCache = options.recordCache ?? createRecordCache({ ttlMs: 0 });
  const recordSources = { trustedFhirBaseUrls: options.trustedFhirBaseUrls, fhirClient };
  const now = options.now ?? Date.now;

  function serviceOf(id: unknown): CdsServiceDefinition {
    const service = CDS_SERVICES.find((candidate) => candidate.id === id);
    if (!service) throw notFound(`No CDS service "${String(id)}"`);
    return service;
  }

  async function verify(authorization: string | undefined, audiences: string | string[]): Promise<string> {
    try {
      const payload = await options.verifier.verify(authorization, audiences);
      return payload.iss ?? '';
    } catch (error) {
      if (error instanceof CdsAuthError) throw unauthorized(error.message);
      // Every remembered jti is still unexpired: the call cannot be checked for replay now (http/replay-cache.ts).
      if (error instanceof ReplayCacheFullError)
        throw serviceBusy(
          `${error.message}: too many CDS Hooks calls in the last few minutes`,
          REPLAY_CACHE_RETRY_AFTER_S,
        );
      throw error;
    }
  }

  /** The report's levels, reading its Observations when the record does not hold them. */
  async function shown(record: PatientRecord, mri: LumbarMri & { report: OurReport }) {
    let { levels, missing } = levelsOf(mri.report, record.observations);
    if (missing.length > 0) {
      await record.readObservations(missing);
      ({ levels, missing } = levelsOf(mri.report, record.observations));
    }
    return levels;
  }

  /** The newest lumbar MRI that has a report standing for it, if any (mris are newest first). */
  const analyzedMri = (record: PatientRecord): (LumbarMri & { report: OurReport }) | undefined =>
    lumbarMris(record.studies, record.reports, (study) => options.codes.isLumbarMri(study)).find(
      (mri): mri is LumbarMri & { report: OurReport } => mri.report !== undefined,
    );

  /**
   * The call's record: from its prefetch or read as its fhirAuthorization allows; a record it reads wholly with
   * fhirAuthorization may come from the record cache, for this calling EHR only, read complete — the Observations of
   * the report its cards show included — so that a call answered from it reads nothing.
   */
  async function recordFor(recordRequest: RecordRequest, client: string): Promise<PatientRecord> {
    const read = (): Promise<PatientRecord> => readPatientRecord(recordRequest, recordSources, RECORD_NEEDS);
    const fhirServer = searchedWholly(recordRequest, recordSources);
    if (fhirServer === undefined) return read();
    return recordCache.get({ client, fhirServer, patientId: recordRequest.patientId }, async () => {
      const record = await read();
      const analyzed = analyzedMri(record);
      if (analyzed) await record.readObservations(levelsOf(analyzed.report, record.observations).missing);
      // Asked once: an Observation the EHR did not return is not asked for again while the record is kept.
      return { ...record, readObservations: () => Promise.resolve() };
    });
  }

  const isRecent = (mri: LumbarMri, days: number): boolean => {
    const time = Date.parse(mri.date ?? '');
    return Number.isFinite(time) && now() - time <= days * 24 * 60 * 60 * 1000;
  };

  async function cardsFor(
    service: CdsServiceDefinition,
    request: z.infer<typeof baseRequest> & { context: { patientId: string } },
    triggers: OrderTrigger[],
    client: string,
  ): Promise<BuiltCard[]> {
    const record = await recordFor(
      {
        patientId: request.context.patientId,
        prefetch: request.prefetch,
        fhirServer: request.fhirServer,
        fhirAuthorization: request.fhirAuthorization,
      },
      client,
    );
    const mris = lumbarMris(record.studies, record.reports, (study) => options.codes.isLumbarMri(study));
    const analyzed = mris.find((mri): mri is LumbarMri & { report: OurReport } => mri.report !== undefined);
    // The newest lumbar MRI, when it has no analysis (mris are newest first, so it is newer than `analyzed`).
    const unanalyzed = mris[0] && !mris[0].report ? mris[0] : undefined;
    const settings: CardSettings = {
      appBaseUrl: options.appBaseUrl,
      modelCardPath: options.modelCardPath,
      ...(await options.model().then((model) => (model ? { model } : {}))),
    };
    const notAnalyzed = async (mri: LumbarMri): Promise<BuiltCard> =>
      notAnalyzedCard(
        mri,
        settings,
        await requestAnalysis({
          fhirServer: request.fhirServer,
          imagingStudy: mri.imagingStudy,
          patientId: request.context.patientId,
        }),
      );
    const withLevels = async (
      kind: 'findings' | 'priorMri' | 'patientSummary',
      mri: LumbarMri & { report: OurReport },
      drafts: ServiceRequest[],
    ): Promise<BuiltCard[]> => {
      const levels = await shown(record, mri);
      return levels.length > 0 ? [findingsCard(kind, mri, levels, settings, drafts)] : [];
    };

    if (service.hook === 'patient-view') return analyzed ? withLevels('patientSummary', analyzed, []) : [];
    const referrals = triggers.filter((trigger) => trigger.type === 'referral').map((trigger) => trigger.order);
    const cards: BuiltCard[] = [];
    if (referrals.length > 0) {
      if (analyzed) cards.push(...(await withLevels('findings', analyzed, referrals)));
      if (unanalyzed) cards.push(await notAnalyzed(unanalyzed));
      return cards;
    }
    // A lumbar MRI order: say whether a recent lumbar MRI was already analyzed (or is waiting to be).
    const orders = triggers.map((trigger) => trigger.order);
    const days = options.codes.recentLumbarMriDays;
    if (analyzed && isRecent(analyzed, days)) cards.push(...(await withLevels('priorMri', analyzed, orders)));
    if (unanalyzed && isRecent(unanalyzed, days)) cards.push(await notAnalyzed(unanalyzed));
    return cards;
  }

  const handleDiscovery: RequestHandler = (_req, res) => {
    res.json({ services: CDS_SERVICES });
  };

  const handleHook: RequestHandler = async (req, res) => {
    // A hook's answer is about one patient: kept by no cache on the way (RFC 9111 §5.2.2.5), errors included.
    res.set('Cache-Control', 'no-store');
    const service = serviceOf(req.params.id);
    const client = await verify(req.get('authorization'), `${options.appBaseUrl}/cds-services/${service.id}`);
    const base = baseRequest.safeParse(req.body);
    if (!base.success) throw invalid(base.error, 'CDS Hooks request');
    if (base.data.hook !== service.hook)
      throw badRequest(`Service ${service.id} answers hook ${service.hook}, not ${base.data.hook}`);
    if (base.data.fhirAuthorization && !base.data.fhirServer)
      throw badRequest('Invalid CDS Hooks request: fhirServer is required with fhirAuthorization');
    const context = CONTEXT_SCHEMAS[service.hook].safeParse((req.body as { context?: unknown }).context);
    if (!context.success) throw invalid(context.error, `${service.hook} context`);
    const request = { ...base.data, context: context.data };
    let triggers: OrderTrigger[] = [];
    if (service.hook !== 'patient-view') {
      const { draftOrders, selections } = context.data as unknown as { draftOrders: Bundle; selections?: string[] };
      triggers = options.codes.triggersIn(draftOrders, service.hook === 'order-select' ? selections : undefined);
      if (triggers.length === 0) {
        res.json({ cards: [] });
        return;
      }
    }
    const built = await cardsFor(service, request, triggers, client);
    for (const { card, meta } of built) issued.remember(card.uuid, { ...meta, service: service.id });
    res.json({ cards: built.map(({ card }) => card) });
  };

  const handleFeedback: RequestHandler = async (req, res) => {
    const service = serviceOf(req.params.id);
    // aud is the endpoint called; the service URL is accepted too, as some clients sign feedback for the service.
    const client = await verify(req.get('authorization'), [
      `${options.appBaseUrl}/cds-services/${service.id}/feedback`,
      `${options.appBaseUrl}/cds-services/${service.id}`,
    ]);
    const parsed = feedbackSchema.safeParse(req.body);
    if (!parsed.success) throw invalid(parsed.error, 'CDS Hooks feedback');
    const receivedAt = new Date(now()).toISOString();
    const cards = await Promise.all(parsed.data.feedback.map((item) => issued.find(item.card)));
    const records = parsed.data.feedback.map((item, index): FeedbackRecord => {
      const card = cards[index];
      const model = modelKey(card?.model);
      const reason = item.overrideReason?.reason;
      return {
        receivedAt,
        service: service.id,
        client,
        card: item.card,
        kind: card?.kind ?? 'unknown',
        ...(model ? { model } : {}),
        outcome: item.outcome,
        ...(item.acceptedSuggestions ? { acceptedSuggestions: item.acceptedSuggestions.map((s) => s.id) } : {}),
        ...(reason
          ? {
              overrideReason: {
                code: reason.code,
                ...(reason.system ? { system: reason.system } : {}),
                ...(reason.display ? { display: reason.display } : {}),
              },
            }
          : {}),
        ...(item.overrideReason?.userComment ? { userComment: item.overrideReason.userComment } : {}),
        outcomeTimestamp: item.outcomeTimestamp,
      };
    });
    await options.feedback.add(records);
    req.log.info(
      { service: service.id, items: records.length, outcomes: records.map((r) => `${r.kind}:${r.outcome}`) },
      'cds feedback stored',
    );
    res.status(200).json({});
  };

  const handleFeedbackSummary: RequestHandler = async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await options.feedback.summary());
  };

  const router = Router();
  router.use('/cds-services', allowCors);
  router.get('/cds-services', handleDiscovery);
  router.get('/cds-services/feedback/summary', handleFeedbackSummary);
  router.post('/cds-services/:id', handleHook);
  router.post('/cds-services/:id/feedback', handleFeedback);
  return router;
}
