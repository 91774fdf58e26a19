import type { Bundle, DiagnosticReport, Endpoint, ImagingStudy, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import { APP_BASE_URL, launchAndGetToken, startTestEhr } from './test-support';

let ehr: MockEhr;
let cleanup: () => Promise<void>;
let token: string;
let patientId: string;

beforeAll(async () => {
  ({ ehr, cleanup } = await startTestEhr(2));
  patientId = ehr.seed.patients[0]?.patientId ?? '';
  token = (await launchAndGetToken(ehr, patientId)).access_token;
});
afterAll(async () => {
  await cleanup();
});

function fhir(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${ehr.fhirBaseUrl}${path}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: 'application/fhir+json',
      ...(init.headers as Record<string, string>),
    },
  });
}

describe('FHIR access', () => {
  it('when a request has no token, then it is 401 with an OperationOutcome and a Bearer challenge', async () => {
    const response = await fetch(`${ehr.fhirBaseUrl}/ImagingStudy?patient=Patient/${patientId}`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await response.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });

  it('when the token is forged, then it is 401 invalid_token', async () => {
    const response = await fetch(`${ehr.fhirBaseUrl}/Patient/${patientId}`, {
      headers: { Authorization: 'Bearer abc.def.ghi' },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('when metadata is read without a token, then the CapabilityStatement lists the SMART oauth-uris', async () => {
    const response = await fetch(`${ehr.fhirBaseUrl}/metadata`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/fhir+json');
    const body = JSON.stringify(await response.json());
    expect(body).toContain('oauth-uris');
    expect(body).toContain(`${ehr.url}/oauth/token`);
  });

  it('when the app searches the patient’s studies, then it reads the seeded ImagingStudy and its DICOMweb Endpoint', async () => {
    const response = await fhir(`/ImagingStudy?patient=Patient/${patientId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/fhir+json');
    const bundle = (await response.json()) as Bundle<ImagingStudy>;
    expect(bundle.entry).toHaveLength(1);
    const study = bundle.entry?.[0]?.resource;
    expect(study).toMatchObject({
      status: 'available',
      subject: { reference: `Patient/${patientId}` },
      identifier: expect.arrayContaining([
        { system: 'urn:dicom:uid', value: `urn:oid:${ehr.seed.patients[0]?.studyInstanceUid ?? ''}` },
      ]) as unknown,
      procedureCode: [{ coding: [expect.objectContaining({ code: '72148' })] }],
    });
    const instances = (study?.series ?? []).reduce((sum, series) => sum + (series.instance?.length ?? 0), 0);
    expect(instances).toBe(study?.numberOfInstances);

    const endpointRef = study?.endpoint?.[0]?.reference ?? '';
    const endpoint = (await (await fhir(`/${endpointRef}`)).json()) as Endpoint;
    expect(endpoint).toMatchObject({
      status: 'active',
      connectionType: { code: 'dicom-wado-rs' },
      address: ehr.dicomWebUrl,
    });
  });

  it('when a patient token reads another patient, then it is forbidden', async () => {
    const other = ehr.seed.patients[1]?.patientId ?? '';
    expect((await fhir(`/Patient/${other}`)).status).toBe(403);
    const search = (await (await fhir(`/ImagingStudy?patient=Patient/${other}`)).json()) as Bundle;
    expect(search.entry ?? []).toHaveLength(0);
  });

  it('when a patient token also may read its user (user/Practitioner.r), then other patients stay out of reach', async () => {
    const scoped = (
      await launchAndGetToken(ehr, patientId, 'launch patient/Patient.rs patient/ImagingStudy.rs user/Practitioner.r')
    ).access_token;
    const get = (path: string) =>
      fetch(`${ehr.fhirBaseUrl}${path}`, { headers: { Authorization: `Bearer ${scoped}` } });
    expect((await get(`/Practitioner/${ehr.seed.practitionerId}`)).status).toBe(200);
    const other = ehr.seed.patients[1]?.patientId ?? '';
    expect((await get(`/Patient/${other}`)).status).toBe(403);
    const search = (await (await get(`/ImagingStudy?patient=Patient/${other}`)).json()) as Bundle;
    expect(search.entry ?? []).toHaveLength(0);
  });

  it('when the app reads from the app origin, then CORS exposes Location and ETag', async () => {
    const response = await fhir(`/Patient/${patientId}`, { headers: { Origin: APP_BASE_URL } });
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_BASE_URL);
    expect(response.headers.get('access-control-expose-headers')).toContain('Location');
    expect(response.headers.get('etag')).toMatch(/^W\/"/);
  });

  it('when the same transaction with ifNoneExist is posted twice, then nothing is duplicated', async () => {
    const studyRef = `ImagingStudy/${ehr.seed.patients[0]?.imagingStudyId ?? ''}`;
    const observationUrn = 'urn:uuid:6f1c4c1e-8f7e-4a59-9b8a-1d2e3f4a5b6c';
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'preliminary',
      identifier: [{ system: 'urn:ldh-cds:test', value: 'obs-L4-L5' }],
      code: { text: 'MSU classification' },
      subject: { reference: `Patient/${patientId}` },
      derivedFrom: [{ reference: studyRef }],
    };
    const report: DiagnosticReport = {
      resourceType: 'DiagnosticReport',
      status: 'preliminary',
      identifier: [{ system: 'urn:ldh-cds:test', value: 'report-1' }],
      code: { text: 'MSU lumbar disc herniation (AI, preliminary)' },
      subject: { reference: `Patient/${patientId}` },
      result: [{ reference: observationUrn }],
      conclusion: 'L4-L5: 2-AB (left)',
    };
    const transaction: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: observationUrn,
          resource: observation,
          request: { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=urn:ldh-cds:test|obs-L4-L5' },
        },
        {
          fullUrl: 'urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
          resource: report,
          request: { method: 'POST', url: 'DiagnosticReport', ifNoneExist: 'identifier=urn:ldh-cds:test|report-1' },
        },
      ],
    };
    const post = () =>
      fhir('/', {
        method: 'POST',
        headers: { 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify(transaction),
      });
    const first = (await (await post()).json()) as Bundle;
    const second = (await (await post()).json()) as Bundle;
    expect(first.type).toBe('transaction-response');
    expect(first.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);
    expect(second.entry?.map((e) => e.response?.location)).toEqual(first.entry?.map((e) => e.response?.location));

    const observations = (await (
      await fhir('/Observation?identifier=urn:ldh-cds:test|obs-L4-L5')
    ).json()) as Bundle<Observation>;
    expect(observations.entry).toHaveLength(1);
    const reports = (await (
      await fhir('/DiagnosticReport?identifier=urn:ldh-cds:test|report-1')
    ).json()) as Bundle<DiagnosticReport>;
    expect(reports.entry).toHaveLength(1);
    // The urn:uuid reference inside the transaction was rewritten to the created Observation.
    expect(reports.entry?.[0]?.resource?.result?.[0]?.reference).toMatch(/^Observation\//);
  });

  it('when a create carries If-None-Exist, then a second create returns the existing resource', async () => {
    const observation: Observation = {
      resourceType: 'Observation',
      status: 'preliminary',
      identifier: [{ system: 'urn:ldh-cds:test', value: 'conditional-1' }],
      code: { text: 'test' },
      subject: { reference: `Patient/${patientId}` },
    };
    const create = () =>
      fhir('/Observation', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/fhir+json',
          'If-None-Exist': 'identifier=urn:ldh-cds:test|conditional-1',
        },
        body: JSON.stringify(observation),
      });
    const first = await create();
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toContain(`${ehr.fhirBaseUrl}/Observation/`);
    const second = await create();
    expect(second.status).toBe(200);
    expect(((await second.json()) as Observation).id).toBe(((await first.json()) as Observation).id);
  });

  it('when a resource is invalid, then create answers 400 with an OperationOutcome naming the problem', async () => {
    const response = await fhir('/Observation', {
      method: 'POST',
      headers: { 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        subject: { reference: `Patient/${patientId}` },
      }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/code/i);
  });

  it('when a token lacks the write scope, then create is forbidden', async () => {
    const readOnly = await launchAndGetToken(ehr, patientId, 'launch patient/Observation.rs');
    const response = await fetch(`${ehr.fhirBaseUrl}/Observation`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${readOnly.access_token}`, 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        subject: { reference: `Patient/${patientId}` },
      }),
    });
    expect(response.status).toBe(403);
  });

  it('when a resource is updated, then vread and history show both versions', async () => {
    const reviewer = (await launchAndGetToken(ehr, patientId, 'launch patient/Observation.cruds')).access_token;
    const asReviewer = (path: string, init: RequestInit = {}) =>
      fetch(`${ehr.fhirBaseUrl}${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${reviewer}`, 'Content-Type': 'application/fhir+json' },
      });
    const body = {
      resourceType: 'Observation',
      status: 'preliminary',
      code: { text: 'x' },
      subject: { reference: `Patient/${patientId}` },
    };
    const created = (await (
      await asReviewer('/Observation', { method: 'POST', body: JSON.stringify(body) })
    ).json()) as Observation;
    const id = created.id ?? '';
    const updated = await asReviewer(`/Observation/${id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...body, id, status: 'final' }),
    });
    expect(updated.status).toBe(200);
    const history = (await (await asReviewer(`/Observation/${id}/_history`)).json()) as Bundle;
    expect(history.entry).toHaveLength(2);
    const first = (await (
      await asReviewer(`/Observation/${id}/_history/${created.meta?.versionId ?? ''}`)
    ).json()) as Observation;
    expect(first.status).toBe('preliminary');
  });

  it('when a search matches more than a page, then each page links to the next until every match is read', async () => {
    const writer = (await launchAndGetToken(ehr, patientId, 'launch patient/Observation.crs')).access_token;
    for (let index = 0; index < 5; index++) {
      await fetch(`${ehr.fhirBaseUrl}/Observation`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${writer}`, 'Content-Type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'paging probe' },
          subject: { reference: `Patient/${patientId}` },
          identifier: [{ system: 'urn:ldh-cds:test:paging', value: String(index) }],
        }),
      });
    }
    const seen: string[] = [];
    let next: string | undefined = `${ehr.fhirBaseUrl}/Observation?identifier=urn:ldh-cds:test:paging|&_count=2`;
    let pages = 0;
    while (next) {
      const page = (await (await fetch(next, { headers: { Authorization: `Bearer ${writer}` } })).json()) as Bundle;
      expect(page.entry?.length ?? 0).toBeLessThanOrEqual(2);
      seen.push(...(page.entry ?? []).map((entry) => entry.resource?.id ?? ''));
      next = page.link?.find((link) => link.relation === 'next')?.url;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
  });

  it('when a search asks for _include=DiagnosticReport:result, then the report’s Observations come as include entries, held to the token’s scopes and patient', async () => {
    const other = ehr.seed.patients[1]?.patientId ?? '';
    const observation = (subject: string) =>
      ehr.repo.createResource<Observation>({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'include probe' },
        subject: { reference: `Patient/${subject}` },
      });
    const [own, foreign] = [await observation(patientId), await observation(other)];
    const report = await ehr.repo.createResource<DiagnosticReport>({
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { text: 'include probe' },
      subject: { reference: `Patient/${patientId}` },
      identifier: [{ system: 'urn:ldh-cds:test:include', value: '1' }],
      result: [{ reference: `Observation/${own.id}` }, { reference: `Observation/${foreign.id}` }],
    });
    const search = async (scope: string, include: string): Promise<Response> => {
      const scoped = (await launchAndGetToken(ehr, patientId, scope)).access_token;
      return fetch(
        `${ehr.fhirBaseUrl}/DiagnosticReport?identifier=urn:ldh-cds:test:include|1&_include=${encodeURIComponent(include)}`,
        { headers: { Authorization: `Bearer ${scoped}` } },
      );
    };
    const entries = async (response: Response) =>
      ((await response.json()) as Bundle).entry?.map((entry) => [
        `${entry.resource?.resourceType ?? ''}/${entry.resource?.id ?? ''}`,
        entry.search?.mode ?? 'match',
      ]);

    const both = await search('launch patient/DiagnosticReport.rs patient/Observation.rs', 'DiagnosticReport:result');
    expect(await entries(both)).toEqual([
      [`DiagnosticReport/${report.id}`, 'match'],
      [`Observation/${own.id}`, 'include'], // the other patient's Observation is left out
    ]);
    const reportsOnly = await search('launch patient/DiagnosticReport.rs', 'DiagnosticReport:result');
    expect(await entries(reportsOnly)).toEqual([[`DiagnosticReport/${report.id}`, 'match']]);

    const scope = 'launch patient/DiagnosticReport.rs patient/Observation.rs';
    expect((await search(scope, '*')).status).toBe(400);
    const notReference = await search(scope, 'DiagnosticReport:status');
    expect(notReference.status).toBe(400);
    expect(JSON.stringify(await notReference.json())).toContain('not a reference search parameter of DiagnosticReport');
  });

  it('when one update of a transaction carries a stale If-Match, then nothing of the transaction is applied', async () => {
    const writer = (await launchAndGetToken(ehr, patientId, 'launch patient/Observation.cruds')).access_token;
    const asWriter = (path: string, init: RequestInit = {}) =>
      fetch(`${ehr.fhirBaseUrl}${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${writer}`, 'Content-Type': 'application/fhir+json' },
      });
    const body = {
      resourceType: 'Observation',
      status: 'preliminary',
      code: { text: 'atomic' },
      subject: { reference: `Patient/${patientId}` },
    };
    const existing = (await (
      await asWriter('/Observation', { method: 'POST', body: JSON.stringify(body) })
    ).json()) as Observation;
    const marker = { system: 'urn:ldh-cds:test:atomic', value: 'created-in-failed-transaction' };
    const response = await asWriter('/', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { ...body, identifier: [marker] }, request: { method: 'POST', url: 'Observation' } },
          {
            resource: { ...existing, status: 'final' },
            request: { method: 'PUT', url: `Observation/${existing.id ?? ''}`, ifMatch: 'W/"not-the-current-version"' },
          },
        ],
      }),
    });
    expect(response.status).toBe(412);
    const found = (await (await asWriter(`/Observation?identifier=${marker.system}|${marker.value}`)).json()) as Bundle;
    expect(found.entry ?? []).toHaveLength(0);
    const unchanged = (await (await asWriter(`/Observation/${existing.id ?? ''}`)).json()) as Observation;
    expect(unchanged.status).toBe('preliminary');
  });
});
