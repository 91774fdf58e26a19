import { describe, expect, it } from 'vitest';
import { buildPublicUrls } from './public-urls';

describe('buildPublicUrls', () => {
  it('when no public base URL is given, then the URLs use the bound host and port, an IPv6 host in brackets', () => {
    const urls = buildPublicUrls({ host: '::1', port: 4321, appBaseUrl: 'http://localhost:3000' });
    expect(urls.url).toBe('http://[::1]:4321');
    expect(urls.smart.tokenEndpoint).toBe('http://[::1]:4321/oauth/token');
    expect(urls.smart.issuer).toBe('http://[::1]:4321/fhir');
  });

  it('when base URLs end with slashes, then no published URL has a double slash', () => {
    const urls = buildPublicUrls({
      publicBaseUrl: 'https://ehr.example/',
      host: '127.0.0.1',
      port: 4000,
      appBaseUrl: 'https://app.example//',
    });
    expect(urls.fhirBaseUrl).toBe('https://ehr.example/fhir');
    expect(urls.appBaseUrl).toBe('https://app.example');
    expect(urls.cdsServicesBaseUrl).toBe('https://app.example');
    expect(urls.cdsJwksUrl).toBe('https://ehr.example/cds-hooks/jwks.json');
  });
});
