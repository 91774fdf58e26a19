/**
 * The analysis API, one table of routes:
 *   POST /api/analyses                         analyze an ImagingStudy and write the results (201), or answer
 *                                              this model version's stored analysis (200) without recomputing
 *   GET  /api/analyses?imagingStudy=ImagingStudy/<id>   the stored analysis that stands for the study, or 404
 *   POST /api/analyses/review                  sign the clinician's review of an analysis (ReviewRequest) and answer
 *                                              it as stored (200); 400 an undecided level or a rejection without a
 *                                              reason, 403 no practitioner signed in, 409 the report changed meanwhile
 * All need `Authorization: Bearer <SMART access token>` and `X-FHIR-Server: <trusted FHIR base>`; the token is verified
 * at that EHR (token-verifier.ts) before any work, and a patient-scoped token reaches its own patient's studies only.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { AnalyzeDependencies, AnalyzeResult } from '../pipeline/analyze-study';
import { analyzeStudy, readAnalysis } from '../pipeline/analyze-study';
import { parseImagingStudyReference } from '../pipeline/imaging-study';
import { parseReviewRequest, reviewAnalysis } from '../pipeline/review-analysis';
import { analysisUserKey, type AnalysisSlots } from './analysis-slots';
import { bearerTokenOf } from './bearer-token';
import { forbidden, unauthorized } from './http-error';
import { patientRestrictionOf, type SmartUser } from './smart-user';
import type { TokenVerifier } from './token-verifier';
import { imagingOriginsOf, type TrustedEhr } from '../trusted-ehrs';

export interface AnalysesRouterOptions {
  trustedFhirBaseUrls: readonly string[];
  /** Each trusted FHIR base with its imaging origins: the DICOMweb servers that may get the caller's token. */
  ehrs: readonly TrustedEhr[];
  modelDir: string;
  /** Store each analysis's DICOM SR in the study's PACS too (config SR_STOW). */
  storeStructuredReport?: boolean;
  /** Verifies the caller's token at its EHR before any work (introspection or JWKS, per EHR). */
  tokens: TokenVerifier;
  /** At most so many analyses at once, per server and per user (503 / 429 beyond); none when absent. */
  analysisSlots?: AnalysisSlots;
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

/**
 * The caller's context with its token verified at the EHR of the launch, before anything else is asked of any
 * server (a forged, expired, revoked or foreign token: 401). The verified user is kept on `res.locals.smartUser`
 * for the rest of the request (who did what).
 */
export async function verifiedCaller(
  req: Request,
  res: Response,
  options: { trustedFhirBaseUrls: readonly string[]; tokens: TokenVerifier },
): Promise<{ caller: CallerContext; user: SmartUser }> {
  const caller = callerContext(req, options.trustedFhirBaseUrls);
  const user = await options.tokens.verify(caller.fhirBaseUrl, caller.accessToken);
  res.locals.smartUser = user;
  return { caller, user };
}

export function analysesRouter(options: AnalysesRouterOptions): Router {
  const handleAnalyze: RequestHandler = async (req, res) => {
    const { caller, user } = await verifiedCaller(req, res, options);
    const imagingStudy = parseImagingStudyReference((req.body as { imagingStudy?: unknown } | undefined)?.imagingStudy);
    const analyze = (): Promise<AnalyzeResult> =>
      analyzeStudy(
        {
          ...caller,
          imagingStudy,
          modelDir: options.modelDir,
          // Only this EHR's imaging origins: never another trusted EHR's PACS.
          imagingOrigins: imagingOriginsOf(options.ehrs, caller.fhirBaseUrl),
          storeStructuredReport: options.storeStructuredReport ?? false,
          patientRestriction: patientRestrictionOf(user),
        },
        options.deps,
      );
    // At most so many analyses at once, on the server and per user (analysis-slots.ts): 503 / 429 beyond.
    const slots = options.analysisSlots;
    const result = slots ? await slots.run(analysisUserKey(user, caller.accessToken), analyze) : await analyze();
    // 201 when this request wrote the analysis; 200 when the EHR already held it (RFC 9110 §9.3.3).
    res.status(result.created ? 201 : 200).json(result);
  };

  const handleGetAnalysis: RequestHandler = async (req, res) => {
    const { caller, user } = await verifiedCaller(req, res, options);
    const imagingStudy = parseImagingStudyReference(req.query.imagingStudy);
    const stored = await readAnalysis(
      { ...caller, imagingStudy, patientRestriction: patientRestrictionOf(user) },
      options.deps,
    );
    res.json(stored);
  };

  const handleReview: RequestHandler = async (req, res) => {
    const { caller, user } = await verifiedCaller(req, res, options);
    const review = parseReviewRequest(req.body);
    const stored = await reviewAnalysis(
      // The signer is the verified token's fhirUser: the EHR vouched for it (token-verifier.ts).
      { ...caller, fhirUser: user.fhirUser, review, patientRestriction: patientRestrictionOf(user) },
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
