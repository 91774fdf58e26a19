/**
 * The FHIR data a hook call needs — the patient's ImagingStudies, our DiagnosticReports and our level Observations —
 * from the call's prefetch (CDS Hooks 2.0 §Prefetch), else fetched from `fhirServer` with `fhirAuthorization`
 * (§FHIR Resource Access), else a 412 naming what is missing (§Prefetch: "the service SHALL respond with an HTTP 412
 * Precondition Failed"). The studies and reports are searched at once, as the prefetch templates say (services.ts);
 * the Observations are not searched by patient: they come with our reports (`_include=DiagnosticReport:result`, R4
 * search.html#include), or — from a server that ignores `_include` — only those of the report a card shows are read,
 * by id, in one search (`Observation?_id=…`); either is far cheaper for a FHIR server than the patient's every level
 * finding, and the first saves a round trip.
 *
 * - A prefetch key that is absent was not satisfied; `null` means the EHR has no data for it (an empty result).
 * - A prefetched searchset with a `next` link is a partial answer (prefetch may not page): it is searched again
 *   with `fhirAuthorization` when that works, else used as it is.
 * - `fhirAuthorization` is used only for a trusted FHIR base (EHRS_FILE / FHIR_BASE_URLS: the token goes nowhere
 *   else), only for this patient (its `patient`, when named, must be `context.patientId`), and only for resource
 *   types its `scope` lets us search: SMART v1 (`patient/Observation.read`, `user/*.read`) and v2
 *   (`patient/Observation.rs`, `system/*.cruds`, with or without a `?` query) both count.
 */
import type { Bundle, DiagnosticReport, FhirResource, ImagingStudy, Observation } from 'fhir/r4';
import type { FhirClient } from '../fhir/fhir-client';
import { OBSERVATION_IDENTIFIER_SYSTEM, REPORT_IDENTIFIER_SYSTEM } from '../fhir/codes';
import { preconditionFailed } from '../http/http-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { relativeReference } from './current-report';

/** The prefetch keys of our services and the searches they stand for (`{patient}` = `Patient/<context.patientId>`). */
export const RECORD_SEARCHES = {
  studies: { resourceType: 'ImagingStudy', params: { subject: '{patient}', _count: '100' } },
  reports: {
    resourceType: 'DiagnosticReport',
    params: { subject: '{patient}', identifier: `${REPORT_IDENTIFIER_SYSTEM}|`, _sort: '-issued', _count: '100' },
  },
  observations: {
    resourceType: 'Observation',
    params: { subject: '{patient}', identifier: `${OBSERVATION_IDENTIFIER_SYSTEM}|`, _count: '100' },
  },
} as const;
export type RecordKey = keyof typeof RECORD_SEARCHES;

/** The reports' level Observations, asked for with the reports when the record is searched (not prefetched). */
export const REPORT_RESULTS_INCLUDE = 'DiagnosticReport:result';

/** A search as a prefetch template (§Prefetch Template): `{patient}` becomes `Patient/{{context.patientId}}`. */
export function prefetchTemplate(key: RecordKey): string {
  const { resourceType, params } = RECORD_SEARCHES[key];
  const query = Object.entries(params)
    .map(([name, value]) => `${name}=${value.replace('{patient}', 'Patient/{{context.patientId}}')}`)
    .join('&');
  return `${resourceType}?${query}`;
}

export interface PatientRecord {
  studies: ImagingStudy[];
  reports: DiagnosticReport[];
  /** Our level Observations, by `Observation/<id>`. */
  observations: Map<string, Observation>;
  /**
   * Fetches Observations the record lacks (a report's results, when the prefetch did not bring them) in one search
   * by id; 412 when it cannot.
   */
  readObservations(references: readonly string[]): Promise<void>;
}

export interface RecordRequest {
  patientId: string;
  prefetch?: Record<string, unknown> | undefined;
  fhirServer?: string | undefined;
  fhirAuthorization?: { access_token: string; scope?: string | undefined; patient?: string | undefined } | undefined;
}

export interface RecordSourceOptions {
  trustedFhirBaseUrls: readonly string[];
  fhirClient: (baseUrl: string, accessToken: string) => FhirClient;
}

/** Does this scope string let us search (and read) `resourceType`? SMART v1 and v2 scopes both count. */
export function scopeAllowsSearch(scope: string | undefined, resourceType: string): boolean {
  if (scope === undefined || scope.trim() === '') return true; // none named: the EHR decides
  return scope
    .split(/\s+/)
    .map((item) => /^(?:patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(?:\?.*)?$/.exec(item))
    .some((match) => {
      if (!match) return false;
      const [, type, permission = ''] = match;
      if (type !== '*' && type !== resourceType) return false;
      if (permission === 'read' || permission === '*') return true; // SMART v1
      return /^c?r?u?d?s?$/.test(permission) && permission.includes('r') && permission.includes('s'); // SMART v2
    });
}

interface Prefetched<T> {
  resources: T[];
  /** A searchset with a `next` link: there is more than it holds. */
  partial: boolean;
}

const isBundle = (value: unknown): value is Bundle =>
  typeof value === 'object' && value !== null && (value as { resourceType?: unknown }).resourceType === 'Bundle';

function fromPrefetch<T extends FhirResource>(
  prefetch: Record<string, unknown> | undefined,
  key: RecordKey,
  resourceType: T['resourceType'],
): Prefetched<T> | undefined {
  if (!prefetch || !(key in prefetch)) return undefined;
  const value = prefetch[key];
  // §Prefetch: "If the CDS Client has no data to populate a template prefetch key, the … key MUST have a value of null".
  if (value === null) return { resources: [], partial: false };
  if (!isBundle(value)) return undefined;
  const bundle = value;
  const resources = (bundle.entry ?? [])
    .map((entry) => entry.resource)
    .filter((resource): resource is T => resource?.resourceType === resourceType);
  return { resources, partial: (bundle.link ?? []).some((link) => link.relation === 'next') };
}

type UsableAuthorization =
  { fhirServer: string; authorization: NonNullable<RecordRequest['fhirAuthorization']> } | { reason: string };

/** The call's `fhirAuthorization` with its FHIR base (no trailing slash), or why it cannot be used at all. */
function usableAuthorization(request: RecordRequest, options: RecordSourceOptions): UsableAuthorization {
  const { fhirAuthorization } = request;
  if (!fhirAuthorization) return { reason: 'the call has no fhirAuthorization' };
  const fhirServer = request.fhirServer?.replace(/\/+$/, '');
  if (!fhirServer) return { reason: 'the call has no fhirServer' };
  if (!options.trustedFhirBaseUrls.includes(fhirServer))
    return { reason: `fhirServer ${fhirServer} is not an EHR this service trusts (EHRS_FILE)` };
  if (fhirAuthorization.patient !== undefined && fhirAuthorization.patient !== request.patientId)
    return { reason: 'fhirAuthorization is for another patient than context.patientId' };
  return { fhirServer, authorization: fhirAuthorization };
}

/** Why `fhirAuthorization` cannot be used, or the client to use it with. */
function fhirAccess(
  request: RecordRequest,
  options: RecordSourceOptions,
): { client: FhirClient; scope?: string } | { reason: string } {
  const usable = usableAuthorization(request, options);
  if ('reason' in usable) return usable;
  const { fhirServer, authorization } = usable;
  return {
    client: options.fhirClient(fhirServer, authorization.access_token),
    ...(authorization.scope !== undefined ? { scope: authorization.scope } : {}),
  };
}

/**
 * The FHIR base (without a trailing slash) when this call's record is read entirely with its `fhirAuthorization`: no
 * record key prefetched, a trusted FHIR base, this patient, and scopes that let it search every resource type the
 * record holds. Only such a record may come from the record cache (record-cache.ts): the call could have read it
 * itself. Undefined otherwise (the record is read as the call allows, with its 412s).
 */
export function searchedWholly(request: RecordRequest, options: RecordSourceOptions): string | undefined {
  const keys = Object.keys(RECORD_SEARCHES) as RecordKey[];
  const { prefetch } = request;
  if (prefetch && keys.some((key) => key in prefetch)) return undefined;
  const usable = usableAuthorization(request, options);
  if ('reason' in usable) return undefined;
  const { scope } = usable.authorization;
  return keys.every((key) => scopeAllowsSearch(scope, RECORD_SEARCHES[key].resourceType))
    ? usable.fhirServer
    : undefined;
}

function unreachable(error: unknown): Error {
  if (error instanceof UpstreamRequestError)
    return preconditionFailed(
      `The EHR's FHIR server could not be read with fhirAuthorization (${error.status === undefined ? 'no answer' : `HTTP ${error.status}`}), and the prefetch did not hold the data.`,
    );
  return error as Error;
}

/**
 * The record for `needs` (the keys a hook needs): each from the prefetch, or searched with fhirAuthorization (all at
 * once), or 412. `observations` is never searched here: what the prefetch holds, the rest by `readObservations`.
 */
export async function readPatientRecord(
  request: RecordRequest,
  options: RecordSourceOptions,
  needs: readonly RecordKey[],
): Promise<PatientRecord> {
  const access = fhirAccess(request, options);
  const patient = `Patient/${request.patientId}`;
  const studies = fromPrefetch<ImagingStudy>(request.prefetch, 'studies', 'ImagingStudy');
  const reports = fromPrefetch<DiagnosticReport>(request.prefetch, 'reports', 'DiagnosticReport');
  const observations = fromPrefetch<Observation>(request.prefetch, 'observations', 'Observation');
  const given: Record<RecordKey, Prefetched<FhirResource> | undefined> = { studies, reports, observations };

  async function search(key: RecordKey): Promise<FhirResource[]> {
    const prefetched = given[key];
    if (!needs.includes(key) || key === 'observations') return prefetched?.resources ?? [];
    if (prefetched && !prefetched.partial) return prefetched.resources;
    const { resourceType, params } = RECORD_SEARCHES[key];
    const usable = 'client' in access && scopeAllowsSearch(access.scope, resourceType);
    if (!usable) {
      if (prefetched) return prefetched.resources; // partial, and nothing better to be had
      const why = 'reason' in access ? access.reason : `fhirAuthorization.scope does not let it search ${resourceType}`;
      throw preconditionFailed(
        `Prefetch "${key}" (${prefetchTemplate(key)}) is missing and cannot be fetched: ${why}.`,
      );
    }
    const query: Record<string, string> = Object.fromEntries(
      Object.entries(params).map(([name, value]) => [name, value.replace('{patient}', patient)]),
    );
    try {
      // Our reports with their level Observations in one search, when the token may read those (R4
      // search.html#include; not in the prefetch template, which keeps to §Prefetch query restrictions). A server that
      // ignores _include sends none: readObservations then reads the shown report's by id.
      if (key === 'reports' && !given.observations && scopeAllowsSearch(access.scope, 'Observation')) {
        const { matches, included } = await access.client.searchAllIncluding(
          resourceType,
          { ...query, _include: REPORT_RESULTS_INCLUDE },
          { maxPages: 5 },
        );
        includedObservations.push(...included.filter((resource) => resource.resourceType === 'Observation'));
        return matches;
      }
      return await access.client.searchAll(resourceType, query, { maxPages: 5 });
    } catch (error) {
      throw unreachable(error);
    }
  }
  const includedObservations: FhirResource[] = [];

  const [foundStudies, foundReports, foundObservations] = await Promise.all([
    search('studies'),
    search('reports'),
    search('observations'),
  ]);
  const byReference = new Map<string, Observation>();
  for (const observation of [...foundObservations, ...includedObservations] as Observation[]) {
    if (observation.id) byReference.set(`Observation/${observation.id}`, observation);
  }
  return {
    studies: foundStudies as ImagingStudy[],
    reports: foundReports as DiagnosticReport[],
    observations: byReference,
    async readObservations(references) {
      const missing = references.filter((reference) => !byReference.has(reference));
      if (missing.length === 0) return;
      if (!('client' in access) || !scopeAllowsSearch(access.scope, 'Observation'))
        throw preconditionFailed(
          `The report's Observations (${missing.join(', ')}) are not in prefetch "observations" and cannot be read: ${'reason' in access ? access.reason : 'fhirAuthorization.scope does not let it read Observation'}.`,
        );
      try {
        const ids = missing.map((reference) => reference.slice('Observation/'.length));
        const read = await access.client.searchAll<Observation>('Observation', { _id: ids.join(','), _count: '100' });
        for (const observation of read) {
          const reference = relativeReference(`Observation/${observation.id ?? ''}`);
          if (reference) byReference.set(reference, observation);
        }
      } catch (error) {
        throw unreachable(error);
      }
    },
  };
}
