/**
 * The analysis path without a browser, against the real mock EHR (SMART, medplum FHIR, DICOMweb) and the real
 * app server: every seeded study is analyzed through the API and its findings are compared with the synthetic
 * ground truth; then an order-select for a spine referral gets a card that names those findings, read from the
 * EHR's structured Observations with the hook's fhirAuthorization (no prefetch).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle } from 'fhir/r4';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { generatePhantomStudy, type GeneratedStudy } from '../../models/synthetic';
import { levelFindingToReportLine, type Findings } from '../../server/src/findings/findings';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startSandbox, type Sandbox } from '../support/sandbox';
import { launchAndAuthorize, type SmartTokenResponse } from '../support/smart-launch';

const CDS_ISSUER = 'https://ehr.integration.test';
let sandbox: Sandbox;
let ehr: Sandbox['ehr'];
let app: Sandbox['app'];
let appBaseUrl: string;
let cdsSigningKey: CryptoKey;
const generatedStudies = new Map<string, GeneratedStudy>();

beforeAll(async () => {
  const keys = await generateKeyPair('ES384');
  cdsSigningKey = keys.privateKey;
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'ehr-cds-1', alg: 'ES384' };
  sandbox = await startSandbox({
    generateStudy: (options) => {
      const study = generatePhantomStudy(options);
      generatedStudies.set(study.studyInstanceUid, study);
      return study;
    },
    cdsClients: [{ iss: CDS_ISSUER, jwks: { keys: [jwk] } }],
    // The phantom detector finds the phantom's herniations exactly, so findings can equal the ground truth.
    appEnv: { MODEL_DIR: TINY_MODEL_DIR },
  });
  ({ ehr, app, appBaseUrl } = sandbox);
});

afterAll(async () => {
  await sandbox.close();
});

async function tokenFor(patientId: string): Promise<SmartTokenResponse> {
  return launchAndAuthorize({
    fhirBaseUrl: ehr.fhirBaseUrl,
    launch: ehr.createLaunch(patientId),
    clientId: SMART_CLIENT_ID,
    redirectUri: `${appBaseUrl}/index.html`,
    scope: SMART_SCOPE,
  });
}

async function analyze(imagingStudyId: string, token: string): Promise<{ findings: Findings }> {
  const response = await fetch(`${app.url}/api/analyses`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'X-FHIR-Server': ehr.fhirBaseUrl,
      'Content-Type': 'application/json',
      // Answered when the analysis is done (RFC 7240), as before analyses became jobs.
      Prefer: 'wait=600',
    },
    body: JSON.stringify({ imagingStudy: `ImagingStudy/${imagingStudyId}` }),
  });
  // 201 when this call wrote the analysis, 200 when the EHR already held it (an earlier test analyzed the study).
  expect([200, 201], await response.clone().text()).toContain(response.status);
  return (await response.json()) as { findings: Findings };
}

describe('when every seeded study is analyzed through the API', () => {
  it('then the MSU findings equal the synthetic ground truth at every level', async () => {
    expect(ehr.seed.patients.length).toBeGreaterThanOrEqual(6);
    let herniatedLevels = 0;
    for (const patient of ehr.seed.patients) {
      const token = await tokenFor(patient.patientId);
      const { findings } = await analyze(patient.imagingStudyId, token.access_token);
      const truth = generatedStudies.get(patient.studyInstanceUid)?.groundTruth;
      expect(findings.studyInstanceUid).toBe(truth?.studyInstanceUid);
      expect(findings.model).toEqual({ id: 'msu-ldh-phantom', version: '0.1.0' });
      const byLevel = (f: Findings | undefined): string[] =>
        [...(f?.levels ?? [])].sort((a, b) => a.level.localeCompare(b.level)).map(levelFindingToReportLine);
      expect(byLevel(findings)).toEqual(byLevel(truth));
      herniatedLevels += truth?.levels.filter((level) => level.herniation).length ?? 0;
    }
    // The seeded set must exercise herniations, not only normal spines.
    expect(herniatedLevels).toBeGreaterThanOrEqual(3);
  });
});

describe('when a spine referral is selected for an analyzed patient', () => {
  const draftReferral = (patientId: string): Bundle => ({
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      {
        resource: {
          resourceType: 'ServiceRequest',
          id: 'referral-draft-1',
          status: 'draft',
          intent: 'order',
          subject: { reference: `Patient/${patientId}` },
          // SNOMED 308482002 "Referral to neurosurgeon" (docs/fhir-mapping.md §CDS Hooks).
          code: { coding: [{ system: 'http://snomed.info/sct', code: '308482002' }] },
        },
      },
    ],
  });

  it('then order-select returns a card that names the stored findings, read with fhirAuthorization', async () => {
    const patient = ehr.seed.patients.find((p) =>
      generatedStudies.get(p.studyInstanceUid)?.groundTruth.levels.some((level) => level.herniation),
    );
    if (!patient) throw new Error('no seeded patient has a herniation');
    const token = await tokenFor(patient.patientId);
    const { findings } = await analyze(patient.imagingStudyId, token.access_token);

    const serviceUrl = `${appBaseUrl}/cds-services/ldh-cds-order-select`;
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'ehr-cds-1', typ: 'JWT' })
      .setIssuer(CDS_ISSUER)
      .setAudience(serviceUrl)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(cdsSigningKey);
    const response = await fetch(`${app.url}/cds-services/ldh-cds-order-select`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${jwt}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        hook: 'order-select',
        hookInstance: randomUUID(),
        fhirServer: ehr.fhirBaseUrl,
        fhirAuthorization: {
          access_token: token.access_token,
          token_type: 'Bearer',
          expires_in: token.expires_in,
          scope: token.scope,
          subject: SMART_CLIENT_ID,
          patient: patient.patientId,
        },
        context: {
          userId: 'Practitioner/synthetic-clinician',
          patientId: patient.patientId,
          selections: ['ServiceRequest/referral-draft-1'],
          draftOrders: draftReferral(patient.patientId),
        },
      }),
    });
    expect(response.status).toBe(200);
    const { cards } = (await response.json()) as {
      cards: { summary: string; detail: string; links: { type: string; url: string }[] }[];
    };
    expect(cards).toHaveLength(1);
    const [card] = cards;
    expect(card?.summary.length).toBeLessThan(140);
    // Read from the stored Observations (not the conclusion text): each herniated level in the summary, every level
    // in the detail's table.
    for (const level of findings.levels) {
      if (level.herniation)
        expect(card?.summary).toMatch(new RegExp(`${level.level} (MSU )?${String(level.grade)}-${level.zone}\\b`));
      expect(card?.detail).toContain(`| ${level.level} |`);
    }
    expect(card?.detail).toMatch(/preliminary/i);
    expect(card?.links).toContainEqual(expect.objectContaining({ type: 'smart', url: `${appBaseUrl}/launch.html` }));
  });
});
