/**
 * The clinician's loop against the real mock EHR (medplum FHIR engine, SMART tokens) and the real app server with the
 * phantom model (docs/fhir-mapping.md §Clinician review): `POST /api/analyses/review` signs confirm / edit / reject
 * decisions in one transaction — report final (amended when signed again), Observations final / amended / cancelled,
 * the clinician as verifier in a Provenance, AIAST kept and CLINAST added, a conclusion that says what was signed —
 * and `GET /api/analyses` reads the signed state, the AI's original reading and the history back; a concurrent change
 * is a 409 that overwrites nothing, a repeated save writes once, an expired token is a 401, an undecided level or a
 * reason-less rejection a 400 naming it; `npm run eval -- --from-fhir` counts the signed reviews exactly.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, DiagnosticReport, FhirResource, Observation, OperationOutcome, Provenance } from 'fhir/r4';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import type { StoredAnalysis } from '../../server/src/fhir/read-findings';
import type { LevelFinding, LevelReviewInput, ReviewRequest } from '../../server/src/findings/findings';
import { validateFhir } from '../support/fhir-validation';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';
import { launchAndAuthorize } from '../support/smart-launch';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');
const BACKEND = 'ldh-cds-monitoring';

let sandbox: Sandbox;
let scratch: string;
let backendKey: CryptoKey;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-review-'));
  // A backend service (SMART Backend Services) that reads every patient's signed reports, as a site's monitoring would.
  const keys = await generateKeyPair('ES384');
  backendKey = keys.privateKey;
  const registrations = JSON.parse(await readFile(path.join(repoRoot, 'smart-config/clients.json'), 'utf8')) as {
    clients: object[];
  };
  registrations.clients.push({
    client_id: BACKEND,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    scope: 'system/DiagnosticReport.rs system/Observation.rs',
    jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'monitoring-1', alg: 'ES384' }] },
  });
  const clientsFile = path.join(scratch, 'clients.json');
  await writeFile(clientsFile, JSON.stringify(registrations));
  sandbox = await startSandbox({
    patientCount: 5,
    generateStudy: generatePhantomStudy,
    appEnv: { MODEL_DIR: TINY_MODEL_DIR, LOG_LEVEL: 'silent' },
    clientsFile,
  });
});

afterAll(async () => {
  await sandbox.close();
  await rm(scratch, { recursive: true, force: true });
});

const patient = (index: number) => seededPatient(sandbox, index);
const tokenFor = (patientId: string): Promise<string> => appTokenFor(sandbox, patientId);

const apiHeaders = (token: string) => ({
  Authorization: `Bearer ${token}`,
  'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
  'Content-Type': 'application/json',
});

async function analyze(imagingStudyId: string, token: string): Promise<StoredAnalysis> {
  const response = await fetch(`${sandbox.app.url}/api/analyses`, {
    method: 'POST',
    // Answered when the analysis is done (RFC 7240), as before analyses became jobs.
    headers: { ...apiHeaders(token), Prefer: 'wait=600' },
    body: JSON.stringify({ imagingStudy: `ImagingStudy/${imagingStudyId}` }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`POST /api/analyses answered ${response.status}: ${text}`);
  return JSON.parse(text) as StoredAnalysis;
}

async function storedAnalysis(imagingStudyId: string, token: string): Promise<StoredAnalysis> {
  const response = await fetch(`${sandbox.app.url}/api/analyses?imagingStudy=ImagingStudy/${imagingStudyId}`, {
    headers: apiHeaders(token),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as StoredAnalysis;
}

async function review(
  token: string,
  body: ReviewRequest | Record<string, unknown>,
): Promise<{ status: number; body: StoredAnalysis & OperationOutcome }> {
  const response = await fetch(`${sandbox.app.url}/api/analyses/review`, {
    method: 'POST',
    headers: apiHeaders(token),
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as StoredAnalysis & OperationOutcome };
}

async function fhir<T extends FhirResource>(token: string, pathAndQuery: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${sandbox.ehr.fhirBaseUrl}/${pathAndQuery}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/fhir+json',
      ...(init.headers as Record<string, string>),
    },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`FHIR ${pathAndQuery} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** The Provenances that record a clinician signing the report (agent type verifier). */
async function signingsOf(token: string, report: string): Promise<Provenance[]> {
  const bundle = await fhir<Bundle>(token, `Provenance?target=${report}&_count=100`);
  return (bundle.entry ?? [])
    .map((entry) => entry.resource as Provenance)
    .filter((provenance) => provenance.agent.some((agent) => agent.type?.coding?.[0]?.code === 'verifier'));
}

const firstIssue = (body: Partial<OperationOutcome>): string => body.issue?.[0]?.diagnostics ?? '';
const labels = (resource: FhirResource): (string | undefined)[] =>
  (resource.meta?.security ?? []).map((label) => label.code);
const confirmAll = (levels: readonly LevelFinding[]): LevelReviewInput[] =>
  levels.map((level) => ({ level: level.level, decision: 'confirm' }));
const byLevel = (analysis: StoredAnalysis, level: string): LevelFinding | undefined =>
  analysis.findings.levels.find((finding) => finding.level === level);

/*
 * The phantom model's readings of the seeded studies (deterministic): patient 0 L2-L3 2-BC left and L5-S1 2-A left;
 * patient 2 L5-S1 2-BC left; patient 3 L4-L5 2-A right and L5-S1 2-AB right; patients 1 and 4 no herniation. Every
 * study has the five levels L1-L2 … L5-S1. The tests run in order: the eval at the end counts what they signed.
 */
describe('when a clinician confirms, edits and rejects levels and signs', () => {
  let token: string;
  let ai: StoredAnalysis;
  let signed: StoredAnalysis;
  const decisions: LevelReviewInput[] = [
    { level: 'L1-L2', decision: 'confirm' },
    { level: 'L2-L3', decision: 'edit', reading: { herniation: true, grade: 2, zone: 'B', side: 'left' } },
    { level: 'L3-L4', decision: 'confirm', comment: 'Mild disc bulge, no herniation.' },
    { level: 'L4-L5', decision: 'edit', reading: { herniation: true, grade: 1, zone: 'A', side: 'central' } },
    { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
  ];

  beforeAll(async () => {
    token = await tokenFor(patient(0).patientId);
    ai = await analyze(patient(0).imagingStudyId, token);
    expect(ai.findings.levels.map((level) => [level.level, level.herniation])).toEqual([
      ['L1-L2', false],
      ['L2-L3', true],
      ['L3-L4', false],
      ['L4-L5', false],
      ['L5-S1', true],
    ]);
    const { status, body } = await review(token, {
      diagnosticReport: ai.diagnosticReport,
      versionId: ai.versionId,
      levels: decisions,
      comment: 'Correlate with the clinical findings.',
    });
    expect(status, firstIssue(body)).toBe(200);
    signed = body;
  });

  it('then the report is final, labelled AI-asserted and clinician-asserted, and its conclusion says what was signed', async () => {
    const report = await fhir<DiagnosticReport>(token, signed.diagnosticReport);
    expect(report.status).toBe('final');
    expect(signed.status).toBe('final');
    expect(signed.versionId).toBe(report.meta?.versionId);
    expect(signed.versionId).not.toBe(ai.versionId);
    expect(labels(report)).toEqual(['AIAST', 'CLINAST']);
    const practitioner = `Practitioner/${sandbox.ehr.seed.practitionerId}`;
    expect(report.resultsInterpreter?.[0]?.reference).toBe(practitioner);
    const lines = report.conclusion?.split('\n') ?? [];
    expect(lines[0]).toMatch(
      new RegExp(
        `^Clinician-verified AI analysis \\(msu-ldh-phantom 0\\.1\\.0\\)\\. Signed by Dr\\. Synthetic Clinician on \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\.$`,
      ),
    );
    expect(lines.slice(1, 7)).toEqual([
      'L1-L2: no herniation',
      'L2-L3: 2-B (left) (AI: 2-BC left, edited)',
      'L3-L4: no herniation',
      'L4-L5: 1-A (central) (AI: no herniation, edited)',
      'L5-S1: not reported (AI finding rejected: artefact; AI: 2-A left)',
      'Comment: Correlate with the clinical findings.',
    ]);
    expect(validateFhir(report)).toEqual([]);
  });

  it('then the Observations are final when confirmed, amended when edited and cancelled when rejected', async () => {
    const observations = await Promise.all(signed.observations.map((ref) => fhir<Observation>(token, ref)));
    const byBodySite = new Map(observations.map((observation) => [observation.bodySite?.text, observation]));
    expect(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1'].map((level) => byBodySite.get(level)?.status)).toEqual([
      'final',
      'amended',
      'final',
      'amended',
      'cancelled',
    ]);
    expect(byBodySite.get('L2-L3')?.meta?.security?.map((label) => label.code)).toEqual(['AIAST', 'CLINAST']);
    expect(byBodySite.get('L5-S1')?.meta?.security?.map((label) => label.code)).toEqual(['AIAST']);
    const rejected = byBodySite.get('L5-S1');
    expect(
      rejected?.component?.find((c) => c.code.coding?.[0]?.code === 'rejection-reason')?.valueCodeableConcept,
    ).toMatchObject({ coding: [{ code: 'artefact' }], text: 'artefact' });
    expect(rejected?.note?.find((note) => note.authorReference)?.text).toBe('AI finding rejected: artefact');
    for (const observation of observations) expect(validateFhir(observation), observation.bodySite?.text).toEqual([]);
  });

  it("then the AI's original reading is still in the edited Observation and in the answer", async () => {
    const edited = await fhir<Observation>(
      token,
      signed.observations.find((_, index) => signed.findings.levels[index]?.level === 'L2-L3') ?? '',
    );
    const aiClass = edited.component?.find((c) => c.code.coding?.[0]?.code === 'ai-msu-class');
    expect(aiClass?.valueCodeableConcept?.coding?.[0]?.code).toBe('2-BC');
    expect(byLevel(signed, 'L2-L3')).toMatchObject({
      herniation: true,
      grade: 2,
      zone: 'B',
      side: 'left',
      review: { decision: 'edit', ai: { herniation: true, grade: 2, zone: 'BC', side: 'left' } },
    });
    expect(byLevel(signed, 'L3-L4')?.review).toEqual({
      decision: 'confirm',
      ai: { herniation: false },
      comment: 'Mild disc bulge, no herniation.',
    });
    expect(byLevel(signed, 'L5-S1')).toMatchObject({
      herniation: true,
      grade: 2,
      zone: 'A',
      review: { decision: 'reject', reason: 'artefact', ai: { herniation: true, grade: 2, zone: 'A', side: 'left' } },
    });
  });

  it('then one Provenance names the report and every changed Observation, with the clinician as verifier', async () => {
    const signings = await signingsOf(token, signed.diagnosticReport);
    expect(signings).toHaveLength(1);
    const [provenance] = signings;
    expect(provenance?.target.map((target) => target.reference).sort()).toEqual(
      [signed.diagnosticReport, ...signed.observations].sort(),
    );
    expect(provenance?.agent).toEqual([
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'verifier',
              display: 'Verifier',
            },
          ],
        },
        who: { reference: `Practitioner/${sandbox.ehr.seed.practitionerId}`, display: 'Dr. Synthetic Clinician' },
      },
    ]);
    expect(provenance?.entity).toEqual([
      {
        role: 'revision',
        what: {
          reference: `${signed.diagnosticReport}/_history/${ai.versionId}`,
          display: 'the report version the clinician reviewed',
        },
      },
    ]);
    expect(provenance?.activity?.coding?.[0]?.code).toBe('VRF');
    expect(provenance?.text?.div).toContain('L2-L3: edited; signed 2-B left, the AI reported 2-BC left.');
    expect(validateFhir(provenance)).toEqual([]);
  });

  it('then GET shows the signed state, the signature and the history', async () => {
    const stored = await storedAnalysis(patient(0).imagingStudyId, token);
    expect(stored).toEqual(signed);
    expect(stored.findings.signature).toMatchObject({ by: `Practitioner/${sandbox.ehr.seed.practitionerId}` });
    expect(stored.history.map((version) => [version.versionId, version.status])).toEqual([
      [signed.versionId, 'final'],
      [ai.versionId, 'preliminary'],
    ]);
    expect(stored.history[1]?.by).toBe('msu-ldh-phantom 0.1.0 (AI model)');
  });

  it('when the signed report is changed and signed again, then it is amended with a second signing Provenance', async () => {
    const { status, body } = await review(token, {
      diagnosticReport: signed.diagnosticReport,
      versionId: signed.versionId,
      levels: [
        { level: 'L1-L2', decision: 'confirm' },
        { level: 'L2-L3', decision: 'edit', reading: { herniation: true, grade: 3, zone: 'BC', side: 'left' } },
        { level: 'L3-L4', decision: 'confirm', comment: 'Mild disc bulge, no herniation.' },
        { level: 'L4-L5', decision: 'confirm' },
        { level: 'L5-S1', decision: 'reject', reason: 'artefact' },
      ],
      comment: 'Correlate with the clinical findings.',
    });
    expect(status, firstIssue(body)).toBe(200);
    expect(body.status).toBe('amended');
    expect(body.history.map((version) => version.status)).toEqual(['amended', 'final', 'preliminary']);
    expect(byLevel(body, 'L2-L3')?.review?.ai).toEqual({ herniation: true, grade: 2, zone: 'BC', side: 'left' });
    // Confirming the earlier edit still differs from the AI: stored as an edit.
    expect(byLevel(body, 'L4-L5')).toMatchObject({ grade: 1, zone: 'A', review: { decision: 'edit' } });
    const signings = await signingsOf(token, body.diagnosticReport);
    expect(signings).toHaveLength(2);
    const latest = signings.find((provenance) => provenance.activity?.coding?.[0]?.code === 'UPDATE');
    // Only the report and the one Observation that changed.
    expect(latest?.target).toHaveLength(2);
    const report = await fhir<DiagnosticReport>(token, body.diagnosticReport);
    expect(report.conclusion?.split('\n')[2]).toBe('L2-L3: 3-BC (left) (AI: 2-BC left, edited)');
    expect(validateFhir(report)).toEqual([]);
  });
});

describe('when someone else changed the report between the clinician reading it and saving', () => {
  it('then the save answers 409 with a sentence and nothing is overwritten', async () => {
    const token = await tokenFor(patient(1).patientId);
    const seen = await analyze(patient(1).imagingStudyId, token);
    const report = await fhir<DiagnosticReport>(token, seen.diagnosticReport);
    const theirs = await fhir<DiagnosticReport>(token, seen.diagnosticReport, {
      method: 'PUT',
      body: JSON.stringify({ ...report, conclusion: `${report.conclusion ?? ''}\nDiscussed at the spine meeting.` }),
    });
    const { status, body } = await review(token, {
      diagnosticReport: seen.diagnosticReport,
      versionId: seen.versionId,
      levels: confirmAll(seen.findings.levels),
    });
    expect(status).toBe(409);
    expect(firstIssue(body)).toBe(
      'This report was changed by someone else since you opened it; reload to see the current version — your edits ' +
        'are kept in the panel.',
    );
    const now = await fhir<DiagnosticReport>(token, seen.diagnosticReport);
    expect(now.meta?.versionId).toBe(theirs.meta?.versionId);
    expect(now.status).toBe('preliminary');
    expect(now.conclusion).toContain('Discussed at the spine meeting.');
    expect(labels(now)).toEqual(['AIAST']);
    const observations = await Promise.all(seen.observations.map((ref) => fhir<Observation>(token, ref)));
    expect(observations.map((observation) => observation.status)).toEqual(observations.map(() => 'preliminary'));
    expect(await signingsOf(token, seen.diagnosticReport)).toEqual([]);
  });
});

describe('when the same save is sent again', () => {
  it('when the clinician repeats an identical save, then it answers 200 and there is exactly one signing', async () => {
    const token = await tokenFor(patient(2).patientId);
    const seen = await analyze(patient(2).imagingStudyId, token);
    const save: ReviewRequest = {
      diagnosticReport: seen.diagnosticReport,
      versionId: seen.versionId,
      levels: confirmAll(seen.findings.levels),
    };
    const first = await review(token, save);
    const again = await review(token, save);
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(again.body.versionId).toBe(first.body.versionId);
    expect(again.body.history).toHaveLength(2);
    expect(await signingsOf(token, seen.diagnosticReport)).toHaveLength(1);
  });

  it('when the EHR applied the save but its answer was lost, then the repeat writes nothing twice', async () => {
    const token = await tokenFor(patient(4).patientId);
    const seen = await analyze(patient(4).imagingStudyId, token);
    sandbox.ehr.faults.loseTransactionAnswers = 1;
    const { status, body } = await review(token, {
      diagnosticReport: seen.diagnosticReport,
      versionId: seen.versionId,
      levels: [
        ...confirmAll(seen.findings.levels.filter((level) => level.level !== 'L5-S1')),
        { level: 'L5-S1', decision: 'edit', reading: { herniation: true, grade: 1, zone: 'C', side: 'right' } },
      ],
    });
    expect(sandbox.ehr.faults.loseTransactionAnswers).toBe(0);
    expect(status, firstIssue(body)).toBe(200);
    expect(body.status).toBe('final');
    expect(body.history.map((version) => version.status)).toEqual(['final', 'preliminary']);
    expect(await signingsOf(token, seen.diagnosticReport)).toHaveLength(1);
  });
});

describe('when a save cannot be signed', () => {
  let token: string;
  let seen: StoredAnalysis;

  beforeAll(async () => {
    token = await tokenFor(patient(3).patientId);
    seen = await analyze(patient(3).imagingStudyId, token);
  });

  it('when the access token has expired, then the save answers 401 so the panel re-authorizes', async () => {
    sandbox.ehr.faults.expiredToken = true;
    try {
      const { status, body } = await review(token, {
        diagnosticReport: seen.diagnosticReport,
        versionId: seen.versionId,
        levels: confirmAll(seen.findings.levels),
      });
      expect(status).toBe(401);
      expect(firstIssue(body)).toMatch(/re-launch ldh-cds/);
    } finally {
      sandbox.ehr.faults.expiredToken = false;
    }
  });

  it('when a level is left undecided, then 400 names it', async () => {
    const { status, body } = await review(token, {
      diagnosticReport: seen.diagnosticReport,
      versionId: seen.versionId,
      levels: confirmAll(seen.findings.levels.filter((level) => level.level !== 'L2-L3' && level.level !== 'L4-L5')),
    });
    expect(status).toBe(400);
    expect(firstIssue(body)).toBe(
      'The review cannot be signed: every assessed level must be decided; undecided: L2-L3, L4-L5',
    );
  });

  it('when a rejection has no reason, then 400 names the level', async () => {
    const { status, body } = await review(token, {
      diagnosticReport: seen.diagnosticReport,
      versionId: seen.versionId,
      levels: [
        ...confirmAll(seen.findings.levels.filter((level) => level.level !== 'L5-S1')),
        { level: 'L5-S1', decision: 'reject', reason: '  ' },
      ],
    });
    expect(status).toBe(400);
    expect(firstIssue(body)).toBe(
      'The review cannot be signed: L5-S1: a rejection needs a reason (for example artefact, wrong level, not a herniation)',
    );
    const report = await fhir<DiagnosticReport>(token, seen.diagnosticReport);
    expect(report.status).toBe('preliminary');
  });

  it('when the clinician then signs it properly, then it is signed in the name the EHR gives the practitioner', async () => {
    // The app's own scopes include user/Practitioner.r: the signature carries the name, not only the id.
    const withName = await launchAndAuthorize({
      fhirBaseUrl: sandbox.ehr.fhirBaseUrl,
      launch: sandbox.ehr.createLaunch(patient(3).patientId),
      clientId: SMART_CLIENT_ID,
      redirectUri: `${sandbox.appBaseUrl}/index.html`,
      scope: SMART_SCOPE,
    });
    const { status, body } = await review(withName.access_token, {
      diagnosticReport: seen.diagnosticReport,
      versionId: seen.versionId,
      levels: [
        ...confirmAll(seen.findings.levels.filter((level) => level.level !== 'L5-S1')),
        { level: 'L5-S1', decision: 'edit', reading: { herniation: true, grade: 2, zone: 'B', side: 'right' } },
      ],
    });
    expect(status, firstIssue(body)).toBe(200);
    expect(body.status).toBe('final');
    expect(body.findings.signature).toMatchObject({
      by: `Practitioner/${sandbox.ehr.seed.practitionerId}`,
      display: 'Dr. Synthetic Clinician',
    });
    const report = await fhir<DiagnosticReport>(token, seen.diagnosticReport);
    expect(report.conclusion?.split('\n')[0]).toMatch(/\. Signed by Dr\. Synthetic Clinician on /);
    expect(report.resultsInterpreter).toEqual([
      { reference: `Practitioner/${sandbox.ehr.seed.practitionerId}`, display: 'Dr. Synthetic Clinician' },
    ]);
  });
});

describe('npm run eval -- --from-fhir', () => {
  async function backendToken(): Promise<string> {
    const tokenEndpoint = `${sandbox.ehr.url}/oauth/token`;
    const iat = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: 'monitoring-1' })
      .setIssuer(BACKEND)
      .setSubject(BACKEND)
      .setAudience(tokenEndpoint)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 240)
      .setJti(randomUUID())
      .sign(backendKey);
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'system/DiagnosticReport.rs system/Observation.rs',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    if (!response.ok) throw new Error(`token endpoint answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  it('when run against the EHR after the signings above, then it prints the exact counts and agreement', async () => {
    const jsonFile = path.join(scratch, 'reviews.json');
    const { stdout } = await run(
      process.execPath,
      [
        path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs'),
        'models/evaluation/cli.ts',
        '--from-fhir',
        sandbox.ehr.fhirBaseUrl,
        '--json',
        jsonFile,
      ],
      { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent', FHIR_TOKEN: await backendToken() } },
    );
    // Signed: patient 0 (amended), 2, 3, 4; patient 1's report was never signed.
    expect(stdout).toContain('4 signed report(s) (status final or amended), 1 model version(s)');
    expect(stdout).toContain(
      'msu-ldh-phantom 0.1.0: 4 signed report(s), 20 levels reviewed — 15 confirmed, 4 edited, 1 rejected',
    );
    expect(stdout).toContain('rejection reasons: artefact 1');
    expect(stdout).toMatch(/herniation presence\s+20\s+85\.0% \(17\/20\)\s+0\.751\s+0\.625/);
    expect(stdout).toMatch(/MSU grade\s+19\s+84\.2% \(16\/19\)\s+0\.816\s+0\.630/);
    expect(stdout).toMatch(/MSU zone\s+19\s+84\.2% \(16\/19\)\s+0\.827\s+0\.644/);
    const json = JSON.parse(await readFile(jsonFile, 'utf8')) as {
      signedReports: number;
      models: { confirmed: number; edited: number; rejected: number; grade: { confusion: number[][] } }[];
    };
    expect(json.signedReports).toBe(4);
    expect(json.models[0]).toMatchObject({ confirmed: 15, edited: 4, rejected: 1 });
    expect(json.models[0]?.grade.confusion).toEqual([
      [13, 2, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 3, 1],
      [0, 0, 0, 0],
    ]);
    console.log(stdout);
  });
});
