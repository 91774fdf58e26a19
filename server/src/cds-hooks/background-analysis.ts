/**
 * Queuing the analysis of a lumbar MRI a card says was never analyzed (issue 24, part 4), through the analysis jobs'
 * one interface (jobs/analysis-jobs.ts `submit`), so that the next hook call has findings.
 *
 * A hook call carries no user token that may write results (its `fhirAuthorization` is the EHR's read-only grant to
 * the service), so the job must be run by an engine that acts at the EHR with credentials of its own — a queue worker
 * with a SMART Backend Services token (docs/deploy.md §Worker authorization). This requester hands `submit` no token;
 * app.ts wires it with the queue (REDIS_URL), and in one process when analyze on arrival is on: the in-process engine
 * then runs a job without a user's token with the server's own (watch-arrivals.ts `withOwnTokenForSystemJobs`), whose
 * registration at the EHR that setting implies. Otherwise the card says the study is not analyzed and offers the app
 * (NO_BACKGROUND_ANALYSIS).
 *
 * The job is held to the patient of the hook (`patientRestriction`: the pipeline refuses a study of another patient
 * before it fetches any image), goes only to a trusted EHR and its imaging origins (EHRS_FILE), and joins the study's
 * job when one is already queued or running. Its user, for MAX_CONCURRENT_ANALYSES_PER_USER, is the patient on that
 * EHR, so one chart cannot queue more than that many, and the queue's bound (MAX_QUEUED_ANALYSES) holds for all.
 */
import type { ModelRef } from '../findings/findings';
import { JobRefusedError, type AnalysisJobs } from '../jobs/analysis-jobs';
import { imagingOriginsOf, type TrustedEhr } from '../trusted-ehrs';
import type { AnalysisRequester } from './cds-router';

export interface BackgroundAnalysisOptions {
  jobs: Pick<AnalysisJobs, 'submit'>;
  ehrs: readonly TrustedEhr[];
  /** The model MODEL_DIR holds (the one the worker runs). */
  model: () => Promise<ModelRef | undefined>;
  storeStructuredReport: boolean;
}

export function backgroundAnalysisRequester(options: BackgroundAnalysisOptions): AnalysisRequester {
  return async ({ fhirServer, imagingStudy, patientId }) => {
    const fhirBaseUrl = fhirServer?.replace(/\/+$/, '');
    const ehr = options.ehrs.find((candidate) => candidate.fhirBaseUrl === fhirBaseUrl);
    if (!fhirBaseUrl || !ehr)
      return {
        queued: false,
        reason: 'ldh-cds cannot queue it: the call names no EHR this server trusts (fhirServer).',
      };
    const model = await options.model();
    if (!model) return { queued: false, reason: 'ldh-cds cannot queue it: its model cannot be read right now.' };
    const requester = `cds-hooks:${fhirBaseUrl}:Patient/${patientId}`;
    try {
      await options.jobs.submit(
        {
          fhirBaseUrl,
          imagingStudy,
          model,
          imagingOrigins: [...imagingOriginsOf(options.ehrs, fhirBaseUrl)],
          storeStructuredReport: options.storeStructuredReport,
          patientRestriction: { patientId },
        },
        // No user token: the engine acts with its own Backend Services token.
        { reader: requester, user: requester, accessToken: '' },
      );
      return { queued: true };
    } catch (error) {
      if (error instanceof JobRefusedError)
        return {
          queued: false,
          reason: `ldh-cds could not queue it now (${error.reason === 'queue-full' ? 'its queue is full' : 'this chart has analyses waiting'}).`,
        };
      throw error;
    }
  };
}
