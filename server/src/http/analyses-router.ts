/**
 * The analysis API, one table of routes:
 *   POST /api/analyses                         analyze an ImagingStudy and write the results (201), or answer
 *                                              this model version's stored analysis (200) without recomputing
 *   GET  /api/analyses?imagingStudy=ImagingStudy/<id>   the stored analysis that stands for the study, or 404
 *   POST /api/analyses/review                  sign the clinician's review of an analysis (ReviewRequest) and answer
 *                                              it as stored (200); 400 an undecided level or a rejection without a
 *                                              reason, 403 no practitioner signed in, 409 the report changed meanwhile
 * All need `Authorization: Bearer <SMART access token>` and `X-FHIR-Server: <trusted FHIR base>`.
 */
import { Router, type Request, type RequestHandler } from 'express';
import type { AnalyzeDependencies, AnalyzeResult } from '../pipeline/analyze-study';
import { analyzeStudy, readAnalysis } from '../pipeline/analyze-study';
import { parseImagingStudyReference } from '../pipeline/imaging-study';
import { parseReviewRequest, reviewAnalysis } from '../pipeline/review-analysis';
import { bearerTokenOf } from './bearer-token';
import { forbidden, unauthorized } from './http-error';
import { fhirUserOfToken } from './smart-user';

export interface AnalysesRouterOptions {
  trustedFhirBaseUrls: readonly string[];
  modelDir: string;
  /** Store each analysis's DICOM SR in the study's PACS too (config SR_STOW). */
  storeStructuredReport?: boolean;
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
      {
        ...caller,
        imagingStudy,
        modelDir: options.modelDir,
        trustedOrigins,
        storeStructuredReport: options.storeStructuredReport ?? false,
      },
      options.deps,
    );
    // 201 when this request wrote the analysis; 200 when the EHR already held it (RFC 9110 §9.3.3).
    res.status(result.created ? 201 : 200).json(result);
  };

  const handleGetAnalysis: RequestHandler = async (req, res) => {
    const caller = callerContext(req, options.trustedFhirBaseUrls);
    const imagingStudy = parseImagingStudyReference(req.query.imagingStudy);
    const stored = await readAnalysis({ ...caller, imagingStudy }, options.deps);
    res.json(stored);
  };

  const handleReview: RequestHandler = async (req, res) => {
    const caller = callerContext(req, options.trustedFhirBaseUrls);
    const review = parseReviewRequest(req.body);
    const stored = await reviewAnalysis(
      { ...caller, fhirUser: fhirUserOfToken(caller.accessToken), review },
      options.deps,
    );
    // 200 with the signed analysis as stored, also when a repeated save finds this review already signed.
    res.json(stored);
  };

  const router = Router();
  router.post('/api/analyses', handleAnalyze);
  router.get('/api/analyses', handleGetAnalysis);
  router.post('/api/analyses/review', handleReview);
  return router;
}
