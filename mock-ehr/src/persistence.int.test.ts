/** MOCK_EHR_PERSIST: what a demo wrote is there again after a restart; without it every start is fresh. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Observation } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockEhr, type MockEhr } from './app';
import { APP_BASE_URL, launchAndGetToken } from './test-support';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'mock-ehr-persist-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const start = (persist: boolean): Promise<MockEhr> =>
  startMockEhr({
    port: 0,
    appBaseUrl: APP_BASE_URL,
    dataDir,
    patientCount: 1,
    persist,
    logger: pino({ level: 'silent' }),
  });

async function writeObservation(ehr: MockEhr): Promise<string> {
  const patientId = ehr.seed.patients[0]?.patientId ?? '';
  const token = (await launchAndGetToken(ehr, patientId)).access_token;
  const response = await fetch(`${ehr.fhirBaseUrl}/Observation`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' },
    body: JSON.stringify({
      resourceType: 'Observation',
      status: 'preliminary',
      code: { text: 'kept across restarts' },
      subject: { reference: `Patient/${patientId}` },
    }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as Observation).id ?? '';
}

describe('file persistence', () => {
  it('when persistence is on, then a resource written before a restart is read after it', async () => {
    const first = await start(true);
    const id = await writeObservation(first);
    await first.close();
    const second = await start(true);
    try {
      const restored = await second.repo.readResource<Observation>('Observation', id);
      expect(restored.code.text).toBe('kept across restarts');
    } finally {
      await second.close();
    }
  });

  it('when persistence is off, then a restart starts from the synthetic seed only', async () => {
    const first = await start(false);
    const id = await writeObservation(first);
    await first.close();
    const second = await start(false);
    try {
      await expect(second.repo.readResource('Observation', id)).rejects.toThrow();
    } finally {
      await second.close();
    }
  });
});
