/**
 * RFC 6750 §2.1: the token of an `Authorization: Bearer <token>` header (scheme case-insensitive, one token of
 * non-space characters); undefined when the header is missing or not of that form. The one parser of the app's API,
 * its CDS Hooks service and the mock EHR.
 */
export function bearerTokenOf(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
}
