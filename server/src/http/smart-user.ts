/**
 * Who the SMART session's user is: the `fhirUser` claim of the access token (SMART App Launch 2.x, "fhirUser": the
 * FHIR resource of the signed-in user, here the Practitioner who signs a review). The mock EHR, like many EHRs, issues
 * JWT access tokens (RFC 9068) that carry it.
 *
 * Decoded WITHOUT verifying the signature, on purpose: the claim authorises nothing here. Every FHIR request the review
 * makes carries the same token, and the FHIR server verifies it; a token whose claims were altered is refused there
 * before anything is written. An opaque token (not a JWT), or one without `fhirUser`, names no one → undefined, and the
 * review answers 403 saying so.
 */
import { decodeJwt } from 'jose';

export function fhirUserOfToken(accessToken: string): string | undefined {
  try {
    const claim = decodeJwt(accessToken).fhirUser;
    return typeof claim === 'string' && claim.length > 0 ? claim : undefined;
  } catch {
    return undefined;
  }
}
