/**
 * Every URL the mock EHR publishes — in tokens (`iss`, `aud`), in SMART discovery, in launch links — derived once from
 * the public base URL, so no router builds one of its own. Trailing slashes are dropped: the URLs are joined with paths.
 */
import type { SmartConfigurationUrls } from './auth/smart-configuration';

export interface PublicUrls {
  /** Base URL of the EHR (chart UI at `/`). */
  url: string;
  fhirBaseUrl: string;
  dicomWebUrl: string;
  /** The ldh-cds app: launch links, redirect URIs, CORS origin, frame-src. */
  appBaseUrl: string;
  /** Where the chart discovers CDS services (`{base}/cds-services`). */
  cdsServicesBaseUrl: string;
  /** The CDS Hooks client's public key (CDS Hooks 2.0 §Trusting CDS Clients). */
  cdsJwksUrl: string;
  /** SMART App Launch 2.x "Styling": the chart's colours. */
  smartStyleUrl: string;
  /** The endpoints `.well-known/smart-configuration` announces. */
  smart: SmartConfigurationUrls;
}

export interface PublicUrlSources {
  /** Default: `http://<host>:<port>`. */
  publicBaseUrl?: string | undefined;
  host: string;
  /** The port actually bound (port 0 is resolved by then). */
  port: number;
  appBaseUrl: string;
  /** Default: appBaseUrl. */
  cdsServicesBaseUrl?: string | undefined;
}

export function buildPublicUrls(sources: PublicUrlSources): PublicUrls {
  const host = sources.host.includes(':') ? `[${sources.host}]` : sources.host;
  const url = withoutTrailingSlash(sources.publicBaseUrl ?? `http://${host}:${sources.port}`);
  const fhirBaseUrl = `${url}/fhir`;
  const dicomWebUrl = `${url}/dicom-web`;
  const appBaseUrl = withoutTrailingSlash(sources.appBaseUrl);
  return {
    url,
    fhirBaseUrl,
    dicomWebUrl,
    appBaseUrl,
    cdsServicesBaseUrl: withoutTrailingSlash(sources.cdsServicesBaseUrl ?? appBaseUrl),
    cdsJwksUrl: `${url}/cds-hooks/jwks.json`,
    smartStyleUrl: `${url}/smart-style.json`,
    smart: {
      issuer: fhirBaseUrl,
      fhirBaseUrl,
      authorizationEndpoint: `${url}/oauth/authorize`,
      tokenEndpoint: `${url}/oauth/token`,
      jwksUri: `${url}/oauth/jwks`,
      introspectionEndpoint: `${url}/oauth/introspect`,
      revocationEndpoint: `${url}/oauth/revoke`,
      dicomWebUrl,
    },
  };
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
