/**
 * The analysis API, one table of routes:
 *   POST /api/analyses                         analyze an ImagingStudy: this model version's stored analysis at once
 *                                              (200) when the EHR holds one; otherwise a job (202, `Location:` the
 *                                              job, body its snapshot: jobs-router.ts), joined when the same study is
 *                                              already being analyzed. With RFC 7240 `Prefer: wait=N` it waits up to
 *                                              N seconds (at most 600) for the job and answers as the analysis did
 *                                              before jobs: 201 with the result, or the error's status and
 *                                              OperationOutcome; 202 if it is not done by then
 *   GET  /api/analyses?imagingStudy=ImagingStudy/<id>   the stored analysis that stands for the study, or 404
 *   POST /api/analyses/review                  sign the clinician's review of an analysis (ReviewRequest) and answer
 *                                              it as stored (200); 400 an undecided level or a rejection without a
 *                                              reason, 403 no practitioner signed in, 409 the report changed meanwhile
 * All need `Authorization: Bearer <SMART access token>` and `X-FHIR-Server: <trusted FHIR base>`; the token is verified
 * at that EHR (token-verifier.ts) before any work, and a patient-scoped token reaches its own patient's studies only
 * — checked before a job is created or joined.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { waitForJob, type AnalysisJobData, type AnalysisJobs } from '../jobs/analysis-jobs';
import type { AnalyzeDependencies } from '../pipeline/analyze-study';
import { findOwnAnalysis, readAnalysis, requesterReference } from '../pipeline/analyze-study';
import { parseImagingStudyReference } from '../pipeline/imaging-study';
import { parseReviewRequest, reviewAnalysis } from '../pipeline/review-analysis';
import { bearerTokenOf } from './bearer-token';
import { analysisUserKey, jobReaderKey } from './caller-keys';
import { forbidden, unauthorized } from './http-error';
import { cancelledJobError, httpErrorOfFailure, refusalToHttpError } from './job-answers';
import { preferredWaitSeconds } from './prefer';
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
  /** Where analyses run, as jobs (jobs/): at most so many at once and waiting, per server and per user. */
  jobs: AnalysisJobs;
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
    const patientRestriction = patientRestrictionOf(user);
    // Before any job: the caller's patient (403), the study (404), and what the EHR already holds.
    const { model, stored } = await findOwnAnalysis(
      { ...caller, imagingStudy, modelDir: options.modelDir, patientRestriction },
      options.deps,
    );
    if (stored) {
      // The EHR already holds this model version's analysis: that is the answer, nothing runs (RFC 9110 §9.3.3).
      res.status(200).json(stored);
      return;
    }
    const data: AnalysisJobData = {
      fhirBaseUrl: caller.fhirBaseUrl,
      imagingStudy,
      model,
      // Only this EHR's imaging origins: never another trusted EHR's PACS.
      imagingOrigins: [...imagingOriginsOf(options.ehrs, caller.fhirBaseUrl)],
      storeStructuredReport: options.storeStructuredReport ?? false,
      ...(patientRestriction ? { patientRestriction } : {}),
    };
    // Who asked, for the AI Provenance: with a queue, a worker writes with its own token (docs/deploy.md).
    const requestedBy = requesterReference(user.fhirUser, caller.fhirBaseUrl);
    if (requestedBy) data.requestedBy = requestedBy;
    const reader = jobReaderKey(caller.fhirBaseUrl, user, caller.accessToken);
    const { snapshot } = await options.jobs
      .submit(data, { reader, user: analysisUserKey(user, caller.accessToken), accessToken: caller.accessToken })
      .catch((error: unknown) => {
        throw refusalToHttpError(error);
      });
    const location = `/api/analyses/jobs/${snapshot.id}`;
    const wait = preferredWaitSeconds(req.get('prefer'));
    if (wait === undefined) {
      // RFC 9110 §15.3.3: accepted, to be done; Location is where to follow it.
      res.status(202).location(location).json(snapshot);
      return;
    }
    // The caller leaving stops the wait, not the job (someone may have joined it; its result goes to the EHR anyway).
    const gone = new AbortController();
    res.on('close', () => {
      gone.abort();
    });
    const settled = (await waitForJob(options.jobs, snapshot.id, reader, wait * 1000, gone.signal)) ?? snapshot;
    if (gone.signal.aborted) return;
    // RFC 7240 §3: the wait preference was honoured, for as long as this says.
    res.set('Preference-Applied', `wait=${wait}`);
    if (settled.state === 'completed' && settled.result) {
      // 201 when this analysis wrote the results; 200 when the EHR already held them when it ran.
      res.status(settled.result.created ? 201 : 200).json(settled.result);
      return;
    }
    if (settled.state === 'failed' && settled.error) throw httpErrorOfFailure(settled.error);
    if (settled.state === 'cancelled') throw cancelledJobError(imagingStudy);
    res.status(202).location(location).json(settled);
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
