/**
 * `.well-known/smart-configuration` (SMART App Launch 2.x, "Conformance"). Field comments say REQUIRED,
 * CONDITIONAL or OPTIONAL as in the spec's metadata table.
 */

export interface SmartConfigurationUrls {
  /** Issuer of our tokens: the FHIR base URL. */
  issuer: string;
  fhirBaseUrl: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  introspectionEndpoint: string;
  revocationEndpoint: string;
  dicomWebUrl: string;
}

export const SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'client-public',
  'client-confidential-asymmetric',
  'context-ehr-patient',
  'context-standalone-patient',
  'context-banner',
  'context-style',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
  'permission-offline',
  'permission-online',
  'sso-openid-connect',
] as const;

/** Offered only while the demo sign-in works (the development tools are on): a standalone launch needs it. */
const STANDALONE_CAPABILITIES: readonly string[] = ['launch-standalone', 'context-standalone-patient'];

export function buildSmartConfiguration(
  urls: SmartConfigurationUrls,
  scopesSupported: readonly string[],
  { standaloneLaunch = true }: { standaloneLaunch?: boolean } = {},
): object {
  return {
    // CONDITIONAL (REQUIRED when sso-openid-connect is offered): the iss of our ID tokens.
    issuer: urls.issuer,
    // CONDITIONAL (REQUIRED when sso-openid-connect is offered).
    jwks_uri: urls.jwksUri,
    // CONDITIONAL (REQUIRED when launch-ehr or launch-standalone is offered).
    authorization_endpoint: urls.authorizationEndpoint,
    // REQUIRED.
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    // REQUIRED.
    token_endpoint: urls.tokenEndpoint,
    // OPTIONAL.
    token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
    // OPTIONAL (SMART Backend Services: RS384 and ES384 client assertions).
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    // RECOMMENDED.
    introspection_endpoint: urls.introspectionEndpoint,
    // RECOMMENDED.
    revocation_endpoint: urls.revocationEndpoint,
    // RECOMMENDED.
    scopes_supported: scopesSupported,
    // RECOMMENDED.
    response_types_supported: ['code'],
    // REQUIRED: SMART forbids "plain".
    code_challenge_methods_supported: ['S256'],
    // REQUIRED.
    capabilities: standaloneLaunch
      ? SMART_CAPABILITIES
      : SMART_CAPABILITIES.filter((capability) => !STANDALONE_CAPABILITIES.includes(capability)),
    // OPTIONAL: where imaging lives (docs/fhir-mapping.md: SMART servers may list the DICOMweb base here).
    associated_endpoints: [{ url: urls.dicomWebUrl, capabilities: ['dicom-wado-rs', 'dicom-qido-rs'] }],
  };
}

/** The OpenID Connect discovery document that `sso-openid-connect` implies (OIDC Discovery §3). */
export function buildOpenIdConfiguration(urls: SmartConfigurationUrls): object {
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorizationEndpoint,
    token_endpoint: urls.tokenEndpoint,
    jwks_uri: urls.jwksUri,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    scopes_supported: ['openid', 'fhirUser'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'fhirUser'],
    code_challenge_methods_supported: ['S256'],
  };
}
