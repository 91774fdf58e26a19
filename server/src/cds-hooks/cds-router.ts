/**
 * CDS Hooks 2.0 service endpoints, one table of routes:
 *   GET     /cds-services                 discovery (CORS, no auth)
 *   POST    /cds-services/:id             hook call (JWT-authenticated)
 *   POST    /cds-services/:id/feedback    card feedback → 200
 * CORS is allowed for browser-based EHRs (§CORS).
 */
import { Router, type RequestHandler } from 'express';
import type { Bundle, DiagnosticReport } from 'fhir/r4';
import { z } from 'zod';
import { createFhirClient, type FhirClient } from '../fhir/fhir-client';
import { LOINC } from '../fhir/codes';
import { badRequest, notFound, preconditionFailed, unauthorized } from '../http/http-error';
import { buildCard, buildNoAnalysisCard, hasSpineReferral, latestFindingsReport, type CdsCard } from './cards';
import { CDS_SERVICES } from './services';
import { CdsAuthError, type CdsJwtVerifier } from './verify-jwt';

export interface CdsRouterOptions {
  appBaseUrl: string;
  trustedFhirBaseUrls: readonly string[];
  verifier: CdsJwtVerifier;
  fhirClient?: (baseUrl: string, accessToken: string) => FhirClient;
}

const hookRequestSchema = z.object({
  hook: z.string(),
  hookInstance: z.string(),
  fhirServer: z.string().optional(),
  fhirAuthorization: z.object({ access_token: z.string(), token_type: z.string().optional() }).optional(),
  context: z
    .object({
      patientId: z.string().min(1),
      selections: z.array(z.string()).optional(),
      draftOrders: z.custom<Bundle>((value) => typeof value === 'object' && value !== null).optional(),
    })
    .loose(),
  prefetch: z.record(z.string(), z.unknown().nullable()).optional(),
});
type HookRequest = z.infer<typeof hookRequestSchema>;

const allowCors: RequestHandler = (req, res, next) => {
  res.set({
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
  });
  if (req.method === 'OPTIONS') res.sendStatus(204);
  else next();
};

function reportsFromBundle(value: unknown): DiagnosticReport[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const bundle = value as Partial<Bundle>;
  if (bundle.resourceType !== 'Bundle') return undefined;
  return (bundle.entry ?? [])
    .map((entry) => entry.resource)
    .filter((r): r is DiagnosticReport => r?.resourceType === 'DiagnosticReport');
}

export function cdsHooksRouter(options: CdsRouterOptions): Router {
  const fhirClient = options.fhirClient ?? ((baseUrl: string, token: string) => createFhirClient(baseUrl, token));

  /** Prefetched reports, else fetched with fhirServer + fhirAuthorization (§Prefetch, "FHIR resource access"); else 412. */
  async function patientReports(request: HookRequest): Promise<DiagnosticReport[]> {
    const prefetched = reportsFromBundle(request.prefetch?.reports);
    if (prefetched) return prefetched;
    const fhirServer = request.fhirServer?.replace(/\/+$/, '');
    if (fhirServer && request.fhirAuthorization && options.trustedFhirBaseUrls.includes(fhirServer)) {
      return fhirClient(fhirServer, request.fhirAuthorization.access_token).search<DiagnosticReport>(
        'DiagnosticReport',
        {
          patient: `Patient/${request.context.patientId}`,
          code: `${LOINC}|18748-4`,
        },
      );
    }
    throw preconditionFailed('Prefetch "reports" missing and no usable fhirServer + fhirAuthorization to fetch it');
  }

  const handleDiscovery: RequestHandler = (_req, res) => {
    res.json({ services: CDS_SERVICES });
  };

  const handleHook: RequestHandler = async (req, res) => {
    const service = CDS_SERVICES.find((s) => s.id === req.params.id);
    if (!service) throw notFound(`No CDS service "${String(req.params.id)}"`);
    const serviceUrl = `${options.appBaseUrl}/cds-services/${service.id}`;
    try {
      await options.verifier.verify(req.get('authorization'), serviceUrl);
    } catch (error) {
      if (error instanceof CdsAuthError) throw unauthorized(error.message);
      throw error;
    }
    const parsed = hookRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw badRequest(`Invalid CDS Hooks request: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`);
    }
    const request = parsed.data;
    if (request.hook !== service.hook)
      throw badRequest(`Service ${service.id} answers hook ${service.hook}, not ${request.hook}`);
    const selections = service.hook === 'order-select' ? request.context.selections : undefined;
    if (!hasSpineReferral(request.context.draftOrders, selections)) {
      res.json({ cards: [] });
      return;
    }
    const latest = latestFindingsReport(await patientReports(request));
    const cards: CdsCard[] = [
      latest ? buildCard(latest.report, latest.lines, options.appBaseUrl) : buildNoAnalysisCard(options.appBaseUrl),
    ];
    res.json({ cards });
  };

  const handleFeedback: RequestHandler = async (req, res) => {
    const service = CDS_SERVICES.find((s) => s.id === req.params.id);
    if (!service) throw notFound(`No CDS service "${String(req.params.id)}"`);
    try {
      // aud is the endpoint called; accept the service URL too, as some clients sign feedback for the service.
      await options.verifier.verify(req.get('authorization'), [
        `${options.appBaseUrl}/cds-services/${service.id}/feedback`,
        `${options.appBaseUrl}/cds-services/${service.id}`,
      ]);
    } catch (error) {
      if (error instanceof CdsAuthError) throw unauthorized(error.message);
      throw error;
    }
    req.log.info(
      { service: service.id, items: (req.body as { feedback?: unknown[] } | undefined)?.feedback?.length ?? 0 },
      'cds feedback',
    );
    res.status(200).json({});
  };

  const router = Router();
  router.use('/cds-services', allowCors);
  router.get('/cds-services', handleDiscovery);
  router.post('/cds-services/:id', handleHook);
  router.post('/cds-services/:id/feedback', handleFeedback);
  return router;
}
