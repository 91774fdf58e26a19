/**
 * DICOMWEB_URL: the mock EHR in front of a real PACS (Debian's Orthanc, started by the test). The seeded studies are
 * in Orthanc; the app still talks only to the EHR's /dicom-web with its SMART token, and the EHR's patient rule holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrthanc, type RunningOrthanc } from '../../server/src/cli/orthanc';
import type { MockEhr } from './app';
import { launchAndGetToken, startTestEhr } from './test-support';

type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;

let orthanc: RunningOrthanc;
let orthancDir: string;
let ehr: MockEhr;
let cleanup: () => Promise<void>;
let token: string;

beforeAll(async () => {
  orthancDir = await mkdtemp(path.join(tmpdir(), 'mock-ehr-orthanc-'));
  orthanc = await startOrthanc({ dir: orthancDir });
  ({ ehr, cleanup } = await startTestEhr(2, { dicomWebUpstreamUrl: orthanc.dicomWebUrl }));
  token = (await launchAndGetToken(ehr, ehr.seed.patients[0]?.patientId ?? '')).access_token;
});
afterAll(async () => {
  await cleanup();
  await orthanc.close();
  await rm(orthancDir, { recursive: true, force: true });
});

const get = (url: string, accept = 'application/dicom+json') =>
  fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: accept } });

describe('DICOMWEB_URL → Orthanc', () => {
  it('when the EHR starts, then Orthanc holds every seeded study', async () => {
    const studies = (await (await fetch(`${orthanc.dicomWebUrl}/studies`)).json()) as DicomJson[];
    expect(studies.map((study) => study['0020000D']?.Value?.[0]).sort()).toEqual(
      ehr.seed.patients.map((patient) => patient.studyInstanceUid).sort(),
    );
  });

  it('when patient A’s token searches through the EHR, then only A’s study comes back', async () => {
    const response = await get(`${ehr.dicomWebUrl}/studies`);
    expect(response.status).toBe(200);
    const studies = (await response.json()) as DicomJson[];
    expect(studies.map((study) => study['0020000D']?.Value?.[0])).toEqual([ehr.seed.patients[0]?.studyInstanceUid]);
  });

  it('when A reads series metadata and a frame, then they come from Orthanc with URLs on the EHR', async () => {
    const seeded = ehr.seed.patients[0];
    const base = `${ehr.dicomWebUrl}/studies/${seeded?.studyInstanceUid}/series/${seeded?.seriesInstanceUid}`;
    const metadataText = await (await get(`${base}/metadata`)).text();
    expect(metadataText).not.toContain(orthanc.restUrl);
    const metadata = JSON.parse(metadataText) as DicomJson[];
    expect(metadata.length).toBeGreaterThan(1);
    const sop = String(metadata[0]?.['00080018']?.Value?.[0]);
    const frame = await get(
      `${base}/instances/${sop}/frames/1`,
      'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    );
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-type')).toContain('multipart/related');
    expect((await frame.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('when A asks for B’s study or has no token, then the EHR refuses before Orthanc is asked', async () => {
    const other = ehr.seed.patients[1];
    expect((await get(`${ehr.dicomWebUrl}/studies/${other?.studyInstanceUid}/series`)).status).toBe(403);
    expect((await fetch(`${ehr.dicomWebUrl}/studies`)).status).toBe(401);
  });
});
