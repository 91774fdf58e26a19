/**
 * Issue 24, part 4, end to end: a lumbar MRI never analyzed, in both shapes — with the analyses on the queue
 * (REDIS_URL, a real redis-server, the worker in the API process acting with its own SMART Backend Services token at
 * the mock EHR), and in one process (the in-process engine runs a job submitted without a user's token with the
 * server's own token; wired when the site registered it, i.e. with ANALYZE_ON_ARRIVAL on). A spine referral's
 * order-select card says the MRI has not been analyzed and that its analysis was queued — the hook call brought no
 * token that may write anything — and once the job has written it, the next call's card shows the findings. Calls
 * made while the job waits join it: one analysis, one report.
 */
import { randomUUID } from 'node:crypto';
import type { DiagnosticReport } from 'fhir/r4';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMART_CLIENT_ID } from '../../client/src/smart-scope';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import type { CdsCard } from '../../server/src/cds-hooks/cards';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

const ISS = 'https://ehr.queue.test';
const SHAPES = [
  {
    shape: 'with the analysis queue',
    env: async (redis: { current?: RedisServer }): Promise<Record<string, string>> => {
      redis.current = await startRedisServer();
      return { REDIS_URL: redis.current.url, RUN_WORKER_IN_API: 'true', JOB_ATTEMPTS: '1' };
    },
  },
  {
    shape: 'in one process',
    // The watcher's first read leaves the studies already there alone (no backfill) and reads again only in an hour.
    env: () => Promise.resolve({ ANALYZE_ON_ARRIVAL: 'poll', ARRIVAL_POLL_INTERVAL_S: '3600' }),
  },
];

describe.each(SHAPES)(
  'when a spine referral is entered for a patient whose lumbar MRI was never analyzed, $shape',
  ({ env }) => {
    const redis: { current?: RedisServer } = {};
    let sandbox: Sandbox;
    let key: CryptoKey;

    beforeAll(async () => {
      const pair = await generateKeyPair('ES384');
      key = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'q1', alg: 'ES384' };
      sandbox = await startSandbox({
        patientCount: 1,
        generateStudy: generatePhantomStudy,
        cdsClients: [{ iss: ISS, jwks: { keys: [jwk] } }],
        appEnv: { MODEL_DIR: TINY_MODEL_DIR, DECODE_THREADS: '1', ...(await env(redis)) },
      });
    }, 120_000);

    afterAll(async () => {
      await sandbox.close();
      await redis.current?.stop();
    });

    it('then the card says the analysis was queued, and the next card shows the findings the worker wrote', async () => {
      const patient = seededPatient(sandbox, 0);
      const token = await appTokenFor(sandbox, patient.patientId);
      const url = `${sandbox.appBaseUrl}/cds-services/ldh-cds-order-select`;
      const call = async (): Promise<CdsCard[]> => {
        const jwt = await new SignJWT({})
          .setProtectedHeader({ alg: 'ES384', kid: 'q1', typ: 'JWT' })
          .setIssuer(ISS)
          .setAudience(url)
          .setIssuedAt()
          .setExpirationTime('5m')
          .setJti(randomUUID())
          .sign(key);
        const response = await fetch(`${sandbox.app.url}/cds-services/ldh-cds-order-select`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${jwt}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({
            hook: 'order-select',
            hookInstance: randomUUID(),
            fhirServer: sandbox.ehr.fhirBaseUrl,
            // The EHR's read-only grant to the service: it cannot write, so the queue's worker must.
            fhirAuthorization: {
              access_token: token,
              token_type: 'Bearer',
              expires_in: 3600,
              scope: 'patient/ImagingStudy.rs patient/DiagnosticReport.rs patient/Observation.rs',
              subject: SMART_CLIENT_ID,
              patient: patient.patientId,
            },
            context: {
              userId: 'Practitioner/1',
              patientId: patient.patientId,
              selections: ['ServiceRequest/r1'],
              draftOrders: {
                resourceType: 'Bundle',
                type: 'collection',
                entry: [
                  {
                    resource: {
                      resourceType: 'ServiceRequest',
                      id: 'r1',
                      status: 'draft',
                      intent: 'order',
                      subject: { reference: `Patient/${patient.patientId}` },
                      code: { coding: [{ system: 'http://snomed.info/sct', code: '308482002' }] },
                    },
                  },
                ],
              },
            },
          }),
        });
        expect(response.status).toBe(200);
        return ((await response.json()) as { cards: CdsCard[] }).cards;
      };

      const [first] = await call();
      expect(first?.summary).toMatch(
        /^The lumbar MRI of \d{4}-\d\d-\d\d has not been analyzed by ldh-cds: analysis queued$/,
      );
      expect(first?.detail).toContain('Its analysis has been queued');
      // Called again while the job waits or runs: it joins the same job.
      await call();

      let cards: CdsCard[] = [];
      await expect
        .poll(
          async () => {
            cards = await call();
            return cards.map((card) => card.source.topic.code);
          },
          { timeout: 90_000, interval: 1000 },
        )
        .toEqual(['cds-findings']);
      expect(cards[0]?.summary).toMatch(/^AI \(preliminary\): /);

      // One analysis, one report, however many calls asked for it.
      const reports = (await (
        await fetch(
          `${sandbox.ehr.fhirBaseUrl}/DiagnosticReport?subject=Patient/${patient.patientId}&identifier=https://ldh-cds.org/fhir/identifier/analysis-report|`,
          { headers: { Authorization: `Bearer ${token}` } },
        )
      ).json()) as { entry?: { resource: DiagnosticReport }[] };
      expect(reports.entry).toHaveLength(1);
    }, 150_000);
  },
);
