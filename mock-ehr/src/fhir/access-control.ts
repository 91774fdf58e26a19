/**
 * Basic SMART scope enforcement for FHIR requests (SMART App Launch 2.x "Scopes for requesting FHIR resources"):
 * each interaction needs a scope with the matching permission letter, and a token whose resource scopes are all
 * `patient/` is held to its launch patient. A later issue hardens this (compartment definitions, _include, ops).
 */
import type { HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { hasNonPatientScope, isPermitted, splitScopes, type Permission } from '../auth/scopes';
import type { AccessTokenClaims } from '../auth/tokens';
import { badRequest, forbidden } from '../http/errors';

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

/** Whether this token is limited to its launch patient (no user/ or system/ resource scope). */
export function isPatientRestricted(claims: AccessTokenClaims): boolean {
  return !hasNonPatientScope(splitScopes(claims.scope));
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
  if (!isPatientRestricted(claims)) return true;
  const owner = patientOf(resource);
  return owner === undefined || owner === `Patient/${claims.patient}`;
}

export function assertWritableForPatient(claims: AccessTokenClaims, resource: Resource): void {
  if (resource.resourceType === 'Patient' && isPatientRestricted(claims) && resource.id !== claims.patient) {
    throw forbidden('A patient-level token may not write another Patient');
  }
  if (!isVisibleTo(claims, resource)) {
    throw forbidden(`A patient-level token may only write resources of Patient/${claims.patient}`);
  }
}

/** Removes search results that belong to another patient (a searchset keeps only what the token may see). */
export function filterBundleForPatient(claims: AccessTokenClaims, bundle: Bundle): Bundle {
  if (!isPatientRestricted(claims) || bundle.type !== 'searchset') return bundle;
  const entry = (bundle.entry ?? []).filter((item) => !item.resource || isVisibleTo(claims, item.resource));
  const removed = (bundle.entry ?? []).length - entry.length;
  return { ...bundle, entry, ...(bundle.total !== undefined ? { total: bundle.total - removed } : {}) };
}
