/**
 * Who a caller is, as the job engine counts and answers them (issue 23), from the token the EHR verified:
 *
 * - the user, for the per-user limit (MAX_CONCURRENT_ANALYSES_PER_USER): the verified token's `sub`, else its
 *   `fhirUser`; a caller the EHR names neither is keyed by a SHA-256 of its access token, so one session still counts
 *   as one user;
 * - the reader of a job: that user on that FHIR base with that patient restriction. A job answers only the readers
 *   that submitted or joined it, each of whom passed the patient checks for its ImagingStudy when they did: the same
 *   user with a token held to another patient, or on another EHR, is another reader and is told the job does not
 *   exist (404), so job ids leak nothing.
 *
 * Neither key contains the token.
 */
import { createHash } from 'node:crypto';
import type { SmartUser } from './smart-user';

/** The key of the caller's user for the per-user limit: `sub`, else `fhirUser`, else a hash of the access token. */
export function analysisUserKey(
  user: { sub?: string | undefined; fhirUser?: string | undefined } | undefined,
  accessToken: string,
): string {
  if (user?.sub) return `sub:${user.sub}`;
  if (user?.fhirUser) return `fhirUser:${user.fhirUser}`;
  return `token:${createHash('sha256').update(accessToken).digest('base64url')}`;
}

/** The key a job records for its submitter and each joiner, and asks of each reader. */
export function jobReaderKey(
  fhirBaseUrl: string,
  user: Pick<SmartUser, 'sub' | 'fhirUser' | 'patientScoped' | 'patient'>,
  accessToken: string,
): string {
  // A token of any patient (user/ scopes) reads what the same user asked for with one; a patient-scoped token only
  // what it asked for for its own patient.
  const patient = user.patientScoped ? `patient:${user.patient ?? ''}` : 'any-patient';
  return JSON.stringify([fhirBaseUrl, analysisUserKey(user, accessToken), patient]);
}
