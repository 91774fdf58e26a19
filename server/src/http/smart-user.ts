/**
 * Who is calling, as the EHR vouches for it: the claims of a VERIFIED SMART access token (token-verifier.ts checked it
 * at the EHR's introspection endpoint or against its JWKS before this runs) read into the session's user and patient.
 *
 * - `fhirUser` (SMART App Launch 2.x: the FHIR resource of the signed-in user) is the signer of a review; `sub` the
 *   user as the authorization server names it.
 * - `patient` (SMART launch context) is the patient the session was opened for. A token with any `patient/` scope is
 *   held to that patient for everything ldh-cds does with it: the app is opened in one patient's chart and acts on
 *   that patient's studies only (docs/security.md §Knowing the caller and the patient), whatever `user/` scopes for
 *   other types (`user/Practitioner.r`, to read the signer) sit beside them.
 */
import type { Response } from 'express';
import type { PatientRestriction } from '../pipeline/patient-match';

export interface SmartUser {
  /** The authorization server's name for the user (or for the client of a backend service). */
  sub: string | undefined;
  /** SMART `fhirUser`: an absolute URL of the user's Practitioner (or other) resource, or a relative reference. */
  fhirUser: string | undefined;
  clientId: string | undefined;
  scopes: readonly string[];
  /** SMART `patient` launch context: the bare id of the patient the session was opened for. */
  patient: string | undefined;
  /** Whether the token is limited to `patient` (it has patient/ scopes); a patient-scoped token names one. */
  patientScoped: boolean;
  /** When the token expires, seconds since the epoch. */
  exp: number;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim().length > 0 ? value.trim() : undefined;

/** SMART scopes `patient/<type>.<permissions>` (v1 or v2), the ones that hold a token to its launch patient. */
export function hasPatientScope(scopes: readonly string[]): boolean {
  return scopes.some((scope) => /^patient\/[A-Za-z*]+\./.test(scope));
}

/** The user of verified claims (RFC 7662 introspection response or RFC 9068 JWT payload); `exp` must be there. */
export function smartUserOfClaims(claims: Record<string, unknown>, exp: number): SmartUser {
  const scopes = (text(claims.scope) ?? '').split(/\s+/).filter(Boolean);
  return {
    sub: text(claims.sub),
    fhirUser: text(claims.fhirUser),
    clientId: text(claims.client_id),
    scopes,
    patient: text(claims.patient),
    patientScoped: hasPatientScope(scopes),
    exp,
  };
}

/** What the pipeline holds a patient-scoped token to (patient-match.ts); undefined for a token of any patient. */
export function patientRestrictionOf(user: SmartUser): PatientRestriction | undefined {
  return user.patientScoped ? { patientId: user.patient } : undefined;
}

/** The verified user of this request (set by `verifiedCaller`), for the audit record; undefined before it ran. */
export function smartUserOf(res: Response): SmartUser | undefined {
  return res.locals.smartUser as SmartUser | undefined;
}
