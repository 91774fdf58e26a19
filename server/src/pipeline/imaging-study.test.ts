import type { Endpoint, ImagingStudy } from 'fhir/r4';
import { describe, expect, it, vi } from 'vitest';
import { createFhirClient } from '../fhir/fhir-client';
import { dicomwebBaseOf } from './imaging-study';
import { PipelineError } from './pipeline-error';

const FHIR_BASE = 'https://ehr.example/fhir';

/** The FHIR client over a fetch that answers this Endpoint, recording every URL asked. */
function clientWithEndpoint(address: string) {
  const asked: string[] = [];
  const endpoint: Endpoint = {
    resourceType: 'Endpoint',
    id: 'pacs',
    status: 'active',
    connectionType: { code: 'dicom-wado-rs' },
    payloadType: [{ text: 'DICOM' }],
    address,
  };
  const fetchStub = vi.fn((input: string | URL | Request) => {
    asked.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return Promise.resolve(
      new Response(JSON.stringify(endpoint), { headers: { 'Content-Type': 'application/fhir+json' } }),
    );
  });
  return { client: createFhirClient(FHIR_BASE, 'token', { fetch: fetchStub, retries: 0 }), asked };
}

const study = (reference: string): ImagingStudy => ({
  resourceType: 'ImagingStudy',
  id: 's1',
  status: 'available',
  subject: { reference: 'Patient/p1' },
  endpoint: [{ reference }],
});

async function refusal(promise: Promise<unknown>): Promise<PipelineError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PipelineError);
  return error as PipelineError;
}

describe('dicomwebBaseOf', () => {
  it('when the Endpoint is on an imaging origin of this EHR, then its address is the DICOMweb base', async () => {
    const { client } = clientWithEndpoint('http://localhost:8042/dicom-web/');
    await expect(dicomwebBaseOf(client, study('Endpoint/pacs'), ['http://localhost:8042'])).resolves.toBe(
      'http://localhost:8042/dicom-web',
    );
  });

  it('when the Endpoint is on another origin, then 422 names the origin and what to configure', async () => {
    const { client } = clientWithEndpoint('https://other-ehr.example/dicom-web');
    const error = await refusal(dicomwebBaseOf(client, study('Endpoint/pacs'), ['https://pacs.example']));
    expect(error.kind).toBe('unprocessable');
    expect(error.message).toContain('is on https://other-ehr.example, which is not an imaging origin of the EHR');
    expect(error.message).toContain(FHIR_BASE);
    expect(error.message).toContain('(configured: https://pacs.example)');
    expect(error.message).toContain('add "https://other-ehr.example" to its "imagingOrigins" in EHRS_FILE');
  });

  it('when the EHR has no imaging origin, then the message says none is configured', async () => {
    const { client } = clientWithEndpoint('https://ehr.example/dicom-web');
    const error = await refusal(dicomwebBaseOf(client, study('Endpoint/pacs'), []));
    expect(error.message).toContain('(configured: none)');
  });

  it('when ImagingStudy.endpoint is an absolute reference to another server, then it is refused unread', async () => {
    const { client, asked } = clientWithEndpoint('https://pacs.example/dicom-web');
    const error = await refusal(
      dicomwebBaseOf(client, study('https://evil.example:8443/fhir/Endpoint/pacs'), ['https://pacs.example']),
    );
    expect(error.kind).toBe('unprocessable');
    expect(error.message).toMatch(/^ImagingStudy\.endpoint points to another server \(https:\/\/evil\.example:8443\)/);
    expect(asked).toEqual([]);
  });

  it('when ImagingStudy.endpoint is an absolute reference under the FHIR base, then it is read there', async () => {
    const { client, asked } = clientWithEndpoint('https://pacs.example/dicom-web');
    await expect(dicomwebBaseOf(client, study(`${FHIR_BASE}/Endpoint/pacs`), ['https://pacs.example'])).resolves.toBe(
      'https://pacs.example/dicom-web',
    );
    expect(asked).toEqual([`${FHIR_BASE}/Endpoint/pacs`]);
  });
});
