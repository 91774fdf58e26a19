/**
 * The compartment and scope rules across FHIR and DICOMweb (a token for patient A never reaches patient B; no write
 * without a write scope), the fault switches, and the search forms the app uses.
 */
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MockEhr } from './app';
import { NO_FAULTS } from './http/faults';
import { launchAndGetToken, startTestEhr } from './test-support';

let ehr: MockEhr;
let cleanup: () => Promise<void>;
let tokenA: string;
let observationOfB: Observation;

beforeAll(async () => {
  ({ ehr, cleanup } = await startTestEhr(2));
  tokenA = (await launchAndGetToken(ehr, patientA())).access_token;
  observationOfB = await ehr.repo.createResource<Observation>({
    resourceType: 'Observation',
    status: 'preliminary',
    code: { text: 'B only' },
    subject: { reference: `Patient/${patientB()}` },
  });
});
afterAll(async () => {
  await cleanup();
});
afterEach(() => {
  Object.assign(ehr.faults, NO_FAULTS);
});

function patientA(): string {
  return ehr.seed.patients[0]?.patientId ?? '';
}
function patientB(): string {
  return ehr.seed.patients[1]?.patientId ?? '';
}

function asA(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${ehr.fhirBaseUrl}${path}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${tokenA}`,
      'Content-Type': 'application/fhir+json',
      ...(init.headers as Record<string, string>),
    },
  });
}

describe('a token for patient A and the data of patient B', () => {
  it('when A reads, vreads or reads the history of B’s resources, then each is refused or empty', async () => {
    expect((await asA(`/Patient/${patientB()}`)).status).toBe(403);
    expect((await asA(`/Observation/${observationOfB.id}`)).status).toBe(403);
    expect((await asA(`/Observation/${observationOfB.id}/_history/${observationOfB.meta?.versionId}`)).status).toBe(
      403,
    );
    const history = (await (await asA(`/Observation/${observationOfB.id}/_history`)).json()) as Bundle;
    expect(history.entry ?? []).toHaveLength(0);
  });

  it('when A searches B’s compartment by reference or bare id, then nothing of B comes back', async () => {
    for (const query of [
      `/Observation?patient=Patient/${patientB()}`,
      `/Observation?subject=${patientB()}`,
      '/Observation',
    ]) {
      const bundle = (await (await asA(query)).json()) as Bundle<Observation>;
      expect(bundle.entry?.map((entry) => entry.resource?.subject?.reference) ?? []).not.toContain(
        `Patient/${patientB()}`,
      );
    }
  });

  it('when A searches its own studies with a bare patient id, then the search matches (as with Patient/<id>)', async () => {
    const bundle = (await (await asA(`/ImagingStudy?patient=${patientA()}`)).json()) as Bundle;
    expect(bundle.entry).toHaveLength(1);
  });

  it('when A updates B’s resource claiming it for A, then it is forbidden and B’s resource is unchanged', async () => {
    const response = await asA(`/Observation/${observationOfB.id}`, {
      method: 'PUT',
      body: JSON.stringify({ ...observationOfB, subject: { reference: `Patient/${patientA()}` } }),
    });
    expect(response.status).toBe(403);
    const stored = await ehr.repo.readResource<Observation>('Observation', observationOfB.id ?? '');
    expect(stored.subject?.reference).toBe(`Patient/${patientB()}`);
  });

  it('when A posts a transaction that writes for B, then the whole transaction is forbidden', async () => {
    const response = await asA('/', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: { text: 'x' },
              subject: { reference: `Patient/${patientB()}` },
            },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });

  it('when A reads B’s study through a batch GET, then that entry is a 403 without the resource', async () => {
    const response = await asA('/', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: `Patient/${patientB()}` } }],
      }),
    });
    const bundle = (await response.json()) as Bundle;
    expect(bundle.entry?.[0]?.resource).toBeUndefined();
    expect(bundle.entry?.[0]?.response?.status).toBe('403');
  });

  it('when A uses DICOMweb, then QIDO lists only A’s study and B’s study is 403', async () => {
    const auth = { Authorization: `Bearer ${tokenA}` };
    const studies = (await (await fetch(`${ehr.dicomWebUrl}/studies`, { headers: auth })).json()) as Record<
      string,
      { Value?: string[] }
    >[];
    expect(studies.map((study) => study['0020000D']?.Value?.[0])).toEqual([ehr.seed.patients[0]?.studyInstanceUid]);
    const other = ehr.seed.patients[1];
    const response = await fetch(`${ehr.dicomWebUrl}/studies/${other?.studyInstanceUid}/series`, { headers: auth });
    expect(response.status).toBe(403);
  });

  it('when a token lacks any ImagingStudy scope, then DICOMweb is forbidden', async () => {
    const token = (await launchAndGetToken(ehr, patientA(), 'launch patient/Patient.rs')).access_token;
    const response = await fetch(`${ehr.dicomWebUrl}/studies`, { headers: { Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(403);
  });

  it('when a read-only token posts a transaction, then it is forbidden', async () => {
    const token = (await launchAndGetToken(ehr, patientA(), 'launch patient/Observation.rs')).access_token;
    const response = await fetch(`${ehr.fhirBaseUrl}/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: {
              resourceType: 'Observation',
              status: 'final',
              code: { text: 'x' },
              subject: { reference: `Patient/${patientA()}` },
            },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      }),
    });
    expect(response.status).toBe(403);
  });
});

describe('fault injection', () => {
  it('when fhirUnavailable is on, then FHIR answers 503 with Retry-After while discovery stays up', async () => {
    const control = await fetch(`${ehr.url}/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ fhirUnavailable: true }),
    });
    expect(control.status).toBe(200);
    const response = await asA(`/Patient/${patientA()}`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
    expect((await fetch(`${ehr.fhirBaseUrl}/.well-known/smart-configuration`)).status).toBe(200);
  });

  it('when expiredToken is on, then a valid token gets 401 invalid_token on FHIR and DICOMweb', async () => {
    ehr.faults.expiredToken = true;
    const fhir = await asA(`/Patient/${patientA()}`);
    expect(fhir.status).toBe(401);
    expect(fhir.headers.get('www-authenticate')).toContain('invalid_token');
    const dicom = await fetch(`${ehr.dicomWebUrl}/studies`, { headers: { Authorization: `Bearer ${tokenA}` } });
    expect(dicom.status).toBe(401);
  });

  it('when dicomWebDelayMs is set, then DICOMweb answers no sooner than that', async () => {
    ehr.faults.dicomWebDelayMs = 400;
    const started = performance.now();
    const response = await fetch(`${ehr.dicomWebUrl}/studies`, { headers: { Authorization: `Bearer ${tokenA}` } });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
  });

  it('when an unknown switch is posted, then it is a 400 naming it', async () => {
    const response = await fetch(`${ehr.url}/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ meltdown: true }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('meltdown');
  });
});
