/**
 * The analysis API, one table of routes:
 *   POST /api/analyses                         run the pipeline on an ImagingStudy and write the results
 *   GET  /api/analyses?imagingStudy=ImagingStudy/<id>   the stored analysis, or 404
 * Both need `Authorization: Bearer <SMART access token>` and `X-FHIR-Server: <trusted FHIR base>`.
 */
import { Router, type Request, type RequestHandler } from 'express';
import type { AnalyzeDependencies, AnalyzeResult } from '../pipeline/analyze-study';
import { analyzeStudy, readAnalysis } from '../pipeline/analyze-study';
import { parseImagingStudyReference } from '../pipeline/imaging-study';

import { bearerTokenOf } from './bearer-token';
import { forbidden, unauthorized } from './http-error';

export interface AnalysesRouterOptions {
  trustedFhirBaseUrls: readonly string[];
  modelDir: string;
  deps: AnalyzeDependencies;
}

interface CallerContext {
  fhirBaseUrl: string;
  accessToken: string;
}

export function callerContext(req: Request, trustedFhirBaseUrls: readonly string[]): CallerContext {
  const accessToken = bearerTokenOf(req.get('authorization'));
  if (!accessToken) throw unauthorized('Missing "Authorization: Bearer <SMART access token>" header');
  const fhirServer = (req.get('x-fhir-server') ?? '').replace(/\/+$/, '');
  if (!fhirServer) throw forbidden('Missing "X-FHIR-Server" header naming the FHIR server of the launch');
  // The token is forwarded to this server: only to ones configured as trusted (FHIR_BASE_URLS).
  if (!trustedFhirBaseUrls.includes(fhirServer))
    throw forbidden(`FHIR server ${fhirServer} is not trusted (FHIR_BASE_URLS)`);
  return { fhirBaseUrl: fhirServer, accessToken };
}

export function analysesRouter(options: AnalysesRouterOptions): Router {
  const trustedOrigins = [...new Set(options.trustedFhirBaseUrls.map((url) => new URL(url).origin))];

  const handleAnalyze: RequestHandler = async (req, res) => {
    const caller = callerContext(req, options.trustedFhirBaseUrls);
    const imagingStudy = parseImagingStudyReference((req.body as { imagingStudy?: unknown } | undefined)?.imagingStudy);
    const result: AnalyzeResult = await analyzeStudy(
      { ...caller, imagingStudy, modelDir: options.modelDir, trustedOrigins },
      options.deps,
    );
    res.status(201).json(result);
  };

  const handleGetAnalysis: RequestHandler = async (req, res) => {
    const caller = callerContext(req, options.trustedFhirBaseUrls);
    const imagingStudy = parseImagingStudyReference(req.query.imagingStudy);
    const stored = await readAnalysis({ ...caller, imagingStudy }, options.deps);
    res.json(stored);
  };

  const router = Router();
  router.post('/api/analyses', handleAnalyze);
  router.get('/api/analyses', handleGetAnalysis);
  return router;
}
