import type { DiagnosticReport, FhirResource } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import type { FhirClient } from '../fhir/fhir-client';
import { HttpError } from '../http/http-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { analysis, lumbarMriStudy, prefetchOf, searchset } from '../../../test/support/cds-fixtures';
import { prefetchTemplate, readPatientRecord, scopeAllowsSearch, type RecordRequest } from './patient-record';

const study = lumbarMriStudy('st1', 'p1', '2026-05-01T08:00:00Z');
const stored = analysis({ study, reportId: 'r1', issued: '2026-05-02T10:00:00Z' });
const FHIR = 'http://ehr/fhir';

/**
 * A FHIR client that records its searches and answers them from `resources`; with `honorsInclude`, a search with
 * `_include=DiagnosticReport:result` also brings the reports' Observations (else the include is ignored, as some
 * servers do).
 */
function stubClient(resources: FhirResource[], fail?: Error, honorsInclude = false) {
  const searches: { type: string; params: Record<string, string> }[] = [];
  const reads: string[] = [];
  const searchAll = (type: string, params: Record<string, string>) => {
    searches.push({ type, params });
    if (fail) return Promise.reject(fail);
    const ids = params._id?.split(',');
    return Promise.resolve(
      resources.filter((resource) => resource.resourceType === type && (!ids || ids.includes(resource.id ?? ''))),
    );
  };
  const client = {
    baseUrl: FHIR,
    searchAll,
    searchAllIncluding: async (type: string, params: Record<string, string>) => {
      const matches = await searchAll(type, params);
      const results = new Set(
        (matches as DiagnosticReport[]).flatMap((report) => (report.result ?? []).map((result) => result.reference)),
      );
      const included =
        honorsInclude && params._include === 'DiagnosticReport:result'
          ? resources.filter((resource) => results.has(`${resource.resourceType}/${resource.id ?? ''}`))
          : [];
      return { matches, included };
    },
    read: (reference: string) => {
      reads.push(reference);
      const found = resources.find((resource) => `${resource.resourceType}/${resource.id ?? ''}` === reference);
      return found ? Promise.resolve(found) : Promise.reject(new Error('404'));
    },
  } as unknown as FhirClient;
  return { client, searches, reads };
}

const ALL = ['studies', 'reports', 'observations'] as const;
const all: FhirResource[] = [study, stored.report, ...stored.observations];

describe('readPatientRecord', () => {
  it('when everything is prefetched, then nothing is fetched', async () => {
    const { client, searches } = stubClient([]);
    const record = await readPatientRecord(
      { patientId: 'p1', prefetch: prefetchOf('p1', [study], [stored]) },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    );
    expect(searches).toEqual([]);
    expect(record.reports.map((r) => r.id)).toEqual(['r1']);
    expect(record.observations.size).toBe(5);
  });

  it('when a prefetch key is null, then the EHR has no such data: empty, nothing fetched', async () => {
    const record = await readPatientRecord(
      { patientId: 'p1', prefetch: { studies: null, reports: null, observations: null } },
      { trustedFhirBaseUrls: [], fhirClient: () => stubClient([]).client },
      ALL,
    );
    expect(record.studies).toEqual([]);
  });

  it('when nothing is prefetched, then the studies and reports are searched with fhirAuthorization, not the Observations', async () => {
    const { client, searches } = stubClient(all);
    const request: RecordRequest = {
      patientId: 'p1',
      fhirServer: `${FHIR}/`,
      fhirAuthorization: {
        access_token: 't',
        scope: 'patient/ImagingStudy.rs patient/DiagnosticReport.rs patient/Observation.rs',
      },
    };
    const record = await readPatientRecord(request, { trustedFhirBaseUrls: [FHIR], fhirClient: () => client }, ALL);
    expect(record.studies.map((s) => s.id)).toEqual(['st1']);
    expect(searches.map((search) => search.type)).toEqual(['ImagingStudy', 'DiagnosticReport']);
    expect(searches).toContainEqual({
      type: 'DiagnosticReport',
      params: {
        subject: 'Patient/p1',
        identifier: 'https://ldh-cds.org/fhir/identifier/analysis-report|',
        _sort: '-issued',
        _count: '100',
        _include: 'DiagnosticReport:result',
      },
    });
  });

  it('when the EHR answers _include, then the reports come with their Observations: nothing is searched by id', async () => {
    const { client, searches } = stubClient(all, undefined, true);
    const record = await readPatientRecord(
      { patientId: 'p1', fhirServer: FHIR, fhirAuthorization: { access_token: 't', scope: 'patient/*.rs' } },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    );
    expect(record.observations.size).toBe(5);
    await record.readObservations(stored.observations.map((o) => `Observation/${o.id}`));
    expect(searches.map((search) => search.type)).toEqual(['ImagingStudy', 'DiagnosticReport']);
  });

  it('when the EHR ignores _include, then the shown report’s Observations are read in one search by id', async () => {
    const { client, searches } = stubClient(all);
    const record = await readPatientRecord(
      { patientId: 'p1', fhirServer: FHIR, fhirAuthorization: { access_token: 't', scope: 'patient/*.rs' } },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    );
    expect(record.observations.size).toBe(0);
    await record.readObservations(stored.observations.map((o) => `Observation/${o.id}`));
    expect(searches.at(-1)).toEqual({
      type: 'Observation',
      params: { _id: stored.observations.map((o) => o.id).join(','), _count: '100' },
    });
    expect(record.observations.size).toBe(5);
  });

  it('when the token may not read Observations, then the reports are searched without _include', async () => {
    const { client, searches } = stubClient(all, undefined, true);
    await readPatientRecord(
      {
        patientId: 'p1',
        fhirServer: FHIR,
        fhirAuthorization: { access_token: 't', scope: 'patient/ImagingStudy.rs patient/DiagnosticReport.rs' },
      },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    );
    expect(searches.find((search) => search.type === 'DiagnosticReport')?.params._include).toBeUndefined();
  });

  it('when a prefetched searchset has a next link, then it is searched again when fhirAuthorization allows', async () => {
    const { client, searches } = stubClient(all);
    const partial = {
      ...searchset([stored.report]),
      link: [{ relation: 'next', url: `${FHIR}/DiagnosticReport?page=2` }],
    };
    await readPatientRecord(
      {
        patientId: 'p1',
        prefetch: { ...prefetchOf('p1', [study], [stored]), reports: partial },
        fhirServer: FHIR,
        fhirAuthorization: { access_token: 't' },
      },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    );
    expect(searches.map((s) => s.type)).toEqual(['DiagnosticReport']);
  });

  it('when the Observations are neither prefetched nor fetchable, then reading them is 412', async () => {
    const record = await readPatientRecord(
      { patientId: 'p1', prefetch: { studies: searchset([study]), reports: searchset([stored.report]) } },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => stubClient(all).client },
      ALL,
    );
    const error = (await record.readObservations(['Observation/r1-o0']).catch((e: unknown) => e)) as HttpError;
    expect(error.status).toBe(412);
    expect(error.message).toMatch(
      /are not in prefetch "observations" and cannot be read: the call has no fhirAuthorization/,
    );
  });

  it.each([
    ['no fhirAuthorization', {}, /no fhirAuthorization/],
    [
      'an untrusted fhirServer',
      { fhirServer: 'http://evil/fhir', fhirAuthorization: { access_token: 't' } },
      /not an EHR this service trusts/,
    ],
    [
      'a token for another patient',
      { fhirServer: FHIR, fhirAuthorization: { access_token: 't', patient: 'p2' } },
      /another patient/,
    ],
    [
      'a scope without DiagnosticReport',
      {
        fhirServer: FHIR,
        fhirAuthorization: { access_token: 't', scope: 'patient/ImagingStudy.rs patient/Observation.rs' },
      },
      /scope does not let it search DiagnosticReport/,
    ],
  ])('when a key is missing and there is %s, then 412 names the key and why', async (_name, extra, why) => {
    const prefetch = { studies: searchset([study]), observations: searchset(stored.observations) };
    const error = await readPatientRecord(
      { patientId: 'p1', prefetch, ...extra },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => stubClient(all).client },
      ALL,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(412);
    expect((error as HttpError).message).toMatch(
      /Prefetch "reports" \(DiagnosticReport\?subject=Patient\/\{\{context.patientId\}\}/,
    );
    expect((error as HttpError).message).toMatch(why);
  });

  it('when the EHR fails the search, then 412 says it could not be read', async () => {
    const { client } = stubClient([], new UpstreamRequestError('FHIR', 'x', 401, undefined));
    const error = (await readPatientRecord(
      { patientId: 'p1', fhirServer: FHIR, fhirAuthorization: { access_token: 't' } },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    ).catch((e: unknown) => e)) as HttpError;
    expect(error.status).toBe(412);
    expect(error.message).toContain('HTTP 401');
  });

  it("when a report's Observations are not in the prefetch, then the missing ones are fetched in one search by id", async () => {
    const { client, searches } = stubClient(all);
    const record = await readPatientRecord(
      {
        patientId: 'p1',
        prefetch: { ...prefetchOf('p1', [study], [stored]), observations: searchset(stored.observations.slice(0, 3)) },
        fhirServer: FHIR,
        fhirAuthorization: { access_token: 't' },
      },
      { trustedFhirBaseUrls: [FHIR], fhirClient: () => client },
      ALL,
    );
    await record.readObservations(stored.observations.map((o) => `Observation/${o.id}`));
    expect(searches).toEqual([{ type: 'Observation', params: { _id: 'r1-o3,r1-o4', _count: '100' } }]);
    expect(record.observations.size).toBe(5);
  });
});

describe('scopeAllowsSearch', () => {
  it.each([
    ['patient/Observation.read', true],
    ['user/Observation.read', true],
    ['patient/*.read', true],
    ['patient/Observation.rs', true],
    ['system/Observation.cruds', true],
    ['patient/*.rs', true],
    ['patient/Observation.rs?category=imaging', true],
    ['patient/Observation.r', false],
    ['patient/Observation.write', false],
    ['patient/Patient.rs', false],
    ['launch openid', false],
  ])('%s → %s for Observation', (scope, allowed) => {
    expect(scopeAllowsSearch(scope, 'Observation')).toBe(allowed);
  });
});

describe('prefetchTemplate', () => {
  it('fills the patient with the root-level context token', () => {
    expect(prefetchTemplate('studies')).toBe('ImagingStudy?subject=Patient/{{context.patientId}}&_count=100');
  });
});
