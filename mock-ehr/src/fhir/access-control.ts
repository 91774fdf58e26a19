/**
 * Basic SMART scope enforcement for FHIR requests (SMART App Launch 2.x "Scopes for requesting FHIR resources"):
 * each interaction needs a scope with the matching permission letter, and a token whose resource scopes are all
 * `patient/` is held to its launch patient. A later issue hardens this (compartment definitions, _include, ops).
 */
import type { HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { hasNonPatientScope, isPermitted, splitScopes, type Permission } from '../auth/scopes';
import type { AccessTokenClaims } from '../auth/tokens';
import { badRequest, buildOutcome, forbidden } from '../http/errors';

export interface Interaction {
  /** `*` for system-level interactions (history of everything). */
  resourceType: string;
  permission: Permission;
}

/** Maps a REST call to the permission it needs (FHIR http.html; SMART v2 letters c r u d s). */
export function interactionOf(method: HttpMethod, path: string): Interaction | 'batch' {
  const segments = path.split('/').filter(Boolean);
  const [resourceType, second, third] = segments;
  if (resourceType === undefined) {
    if (method === 'POST') return 'batch';
    throw badRequest('GET on the FHIR base is not supported; name a resource type');
  }
  if (resourceType === '_history' || resourceType.startsWith('$')) return { resourceType: '*', permission: 's' };
  if (!/^[A-Z][A-Za-z]+$/.test(resourceType)) throw badRequest(`"${resourceType}" is not a FHIR resource type`);
  if (second === undefined) {
    if (method === 'GET') return { resourceType, permission: 's' };
    if (method === 'POST') return { resourceType, permission: 'c' };
    if (method === 'PUT' || method === 'PATCH') return { resourceType, permission: 'u' }; // conditional update
    if (method === 'DELETE') return { resourceType, permission: 'd' };
  }
  if (second === '_search') return { resourceType, permission: 's' };
  if (second === '_history') return { resourceType, permission: 's' };
  if (third === undefined || third === '_history') {
    if (method === 'GET') return { resourceType, permission: 'r' };
    if (method === 'PUT' || method === 'PATCH') return { resourceType, permission: 'u' };
    if (method === 'DELETE') return { resourceType, permission: 'd' };
  }
  if ((second ?? '').startsWith('$') || (third ?? '').startsWith('$')) return { resourceType, permission: 'r' };
  throw badRequest(`${method} ${path} is not a FHIR interaction this server supports`);
}

/** Throws 403 unless the token's scopes allow the interaction (every entry, for a batch or transaction). */
export function assertPermitted(claims: AccessTokenClaims, interaction: Interaction | 'batch', body: unknown): void {
  const scopes = splitScopes(claims.scope);
  const needed: Interaction[] = interaction === 'batch' ? batchInteractions(body) : [interaction];
  for (const { resourceType, permission } of needed) {
    if (!isPermitted(scopes, resourceType, permission)) {
      throw forbidden(`The access token's scopes do not allow "${permission}" on ${resourceType}`);
    }
  }
  if (interaction === 'batch') {
    for (const entry of (body as Bundle).entry ?? []) {
      if (entry.resource) assertWritableForPatient(claims, entry.resource);
    }
  }
}

function batchInteractions(body: unknown): Interaction[] {
  const bundle = body as Partial<Bundle>;
  if (bundle.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
    throw badRequest('POST to the FHIR base needs a Bundle of type "transaction" or "batch"');
  }
  return (bundle.entry ?? []).map((entry, index) => {
    const method = entry.request?.method;
    const url = entry.request?.url;
    if (method === undefined || url === undefined)
      throw badRequest(`Bundle.entry[${index}].request needs method and url`);
    const path = `/${url.split('?')[0] ?? ''}`;
    const mapped = interactionOf(method, path);
    if (mapped === 'batch') throw badRequest(`Bundle.entry[${index}]: nested batches are not supported`);
    return mapped;
  });
}

/** Whether this token is limited to its launch patient for this resource type (no user/ or system/ scope for it). */
export function isPatientRestricted(claims: AccessTokenClaims, resourceType?: string): boolean {
  return !hasNonPatientScope(splitScopes(claims.scope), resourceType);
}

/**
 * The Patient a resource belongs to, as `Patient/<id>`, read from the usual compartment links (`subject`,
 * `patient`). Undefined for resources outside the Patient compartment (Endpoint, Practitioner, Device, Provenance).
 */
export function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return `Patient/${resource.id ?? ''}`;
  const record = resource as unknown as Record<string, { reference?: string } | undefined>;
  for (const field of ['subject', 'patient'] as const) {
    const reference = record[field]?.reference;
    const match = reference === undefined ? null : /(?:^|\/)(Patient\/[^/]+)$/.exec(reference);
    if (match?.[1]) return match[1];
  }
  return undefined;
}

export function isVisibleTo(claims: AccessTokenClaims, resource: Resource): boolean {
  if (!isPatientRestricted(claims, resource.resourceType)) return true;
  const owner = patientOf(resource);
  return owner === undefined || owner === `Patient/${claims.patient}`;
}

export function assertWritableForPatient(claims: AccessTokenClaims, resource: Resource): void {
  if (resource.resourceType === 'Patient' && isPatientRestricted(claims, 'Patient') && resource.id !== claims.patient) {
    throw forbidden('A patient-level token may not write another Patient');
  }
  if (!isVisibleTo(claims, resource)) {
    throw forbidden(`A patient-level token may only write resources of Patient/${claims.patient}`);
  }
}

/**
 * Keeps a patient-level token inside its compartment: search and history results of other patients are removed;
 * in a batch/transaction response, another patient's resource is replaced by a 403 outcome.
 */
export function filterBundleForPatient(claims: AccessTokenClaims, bundle: Bundle): Bundle {
  if (bundle.type === 'batch-response' || bundle.type === 'transaction-response') {
    return {
      ...bundle,
      entry: (bundle.entry ?? []).map((item) => {
        if (!item.resource || isVisibleTo(claims, item.resource)) return item;
        return {
          ...(item.fullUrl !== undefined ? { fullUrl: item.fullUrl } : {}),
          response: {
            status: '403',
            outcome: buildOutcome('forbidden', "This resource belongs to another patient than the token's"),
          },
        };
      }),
    };
  }
  const entry = (bundle.entry ?? []).filter((item) => !item.resource || isVisibleTo(claims, item.resource));
  const removed = (bundle.entry ?? []).length - entry.length;
  return { ...bundle, entry, ...(bundle.total !== undefined ? { total: bundle.total - removed } : {}) };
}

/**
 * Medplum matches reference search parameters only in their full form (docs/architecture.md §The mock EHR); clients
 * commonly send a bare id (`patient=123`, FHIR search.html#reference allows it). Rewrite `patient`/`subject` to
 * `Patient/<id>`.
 */
export function normalizeReferenceParams(query: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const [key, value] of query) {
    const bare = (key === 'patient' || key === 'subject') && /^[A-Za-z0-9\-.]{1,64}$/.test(value);
    out.append(key, bare ? `Patient/${value}` : value);
  }
  return out;
}
