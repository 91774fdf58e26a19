/**
 * A minimal FHIR R4 REST client (fetch + the caller's SMART bearer token). A failure is an UpstreamRequestError
 * that keeps the upstream status and parsed body, so the API can pass the real cause on.
 */
import type { Bundle, FhirResource } from 'fhir/r4';
import { UpstreamRequestError } from '../upstream/upstream-request-error';

export interface FhirClient {
  readonly baseUrl: string;
  read<T extends FhirResource>(reference: string): Promise<T>;
  search<T extends FhirResource>(resourceType: T['resourceType'], params: Record<string, string>): Promise<T[]>;
  transaction(bundle: Bundle): Promise<Bundle>;
}

const FHIR_JSON = 'application/fhir+json';

export function createFhirClient(baseUrl: string, accessToken: string, fetchImpl: typeof fetch = fetch): FhirClient {
  const base = baseUrl.replace(/\/+$/, '');

  async function request<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers: {
          Accept: FHIR_JSON,
          Authorization: `Bearer ${accessToken}`,
          ...(body === undefined ? {} : { 'Content-Type': FHIR_JSON }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new UpstreamRequestError(
        'FHIR',
        `FHIR server ${base} unreachable: ${(error as Error).message}`,
        undefined,
        undefined,
      );
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (an HTML error page, say): keep the text.
    }
    if (!response.ok) {
      throw new UpstreamRequestError(
        'FHIR',
        `FHIR ${method} ${url.slice(base.length)} failed with HTTP ${response.status}`,
        response.status,
        parsed,
      );
    }
    return parsed as T;
  }

  return {
    baseUrl: base,
    read: <T extends FhirResource>(reference: string) => request<T>('GET', resolveReferenceUrl(base, reference)),
    async search<T extends FhirResource>(resourceType: T['resourceType'], params: Record<string, string>) {
      const bundle = await request<Bundle>('GET', `${base}/${resourceType}?${new URLSearchParams(params).toString()}`);
      return (bundle.entry ?? [])
        .filter((entry) => entry.search?.mode !== 'include' && entry.resource?.resourceType === resourceType)
        .map((entry) => entry.resource as T);
    },
    // FHIR R4 §3.1.0.11.2: a transaction is a POST of the Bundle to the base URL.
    transaction: (bundle: Bundle) => request<Bundle>('POST', base, bundle),
  };
}

/** `Endpoint/1` → `<base>/Endpoint/1`; absolute references are kept. */
export function resolveReferenceUrl(baseUrl: string, reference: string): string {
  if (/^https?:\/\//.test(reference)) return reference;
  return `${baseUrl.replace(/\/+$/, '')}/${reference.replace(/^\/+/, '')}`;
}

/** `Observation/12/_history/1` or an absolute Location → `Observation/12`. */
export function locationToReference(location: string): string {
  const match = /([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?\/?$/.exec(location);
  if (!match) throw new Error(`Cannot read a resource reference from Location "${location}"`);
  return `${match[1] ?? ''}/${match[2] ?? ''}`;
}
