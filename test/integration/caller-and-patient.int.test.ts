/**
 * Knowing the caller and the patient (issue 22), against the real mock EHR and app server: the user's token is
 * verified at the EHR before any FHIR or DICOMweb request (a forged, expired or foreign token is 401 and the EHR sees
 * nothing but the introspection); the answer is kept briefly (one introspection for many requests); a patient-scoped
 * token reaches its own patient's studies only (403 before any image is fetched); images that belong to another
 * patient than the ImagingStudy's stop the analysis (422) before anything is written. Every request the mock EHRs
 * receive is counted from their request logs.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { DiagnosticReport, ImagingStudy } from '@medplum/fhirtypes';
import { decodeJwt, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationOutcome } from 'fhir/r4';
import { SMART_SCOPE } from '../../client/src/smart-scope';
import { startMockEhr, type MockEhr } from '../../mock-ehr/src/app';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startAppServer, type RunningServer } from '../../server/src/app';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadConfig } from '../../server/src/config';
import { loadOrCreateClientKey } from '../../server/src/http/client-key';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

const repoRoot = path.resolve(import.meta.dirname, '../..');
/**
 * A site whose EHR grants the app user-level imaging reads beside its patient/ scopes, or whose PACS cannot hold a
 * token to its patient: FHIR and DICOMweb then serve another patient's study to this token, and only ldh-cds's own
 * checks stand between it and a wrong-patient analysis.
 */
const BROAD_SCOPE = `${SMART_SCOPE} user/ImagingStudy.rs user/Endpoint.r`;

/** Every request a server logged (pino-http's `req.path`), in order. */
function requestLog(): { logger: pino.Logger; paths: string[] } {
  const paths: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { req?: { path?: string } };
        if (entry.req?.path) paths.push(entry.req.path);
      }
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), paths };
}

let sandbox: Sandbox;
let other: MockEhr;
let jwksApp: RunningServer;
let twoEhrApp: RunningServer;
let scratch: string;
const ehrLog = requestLog();
const otherLog = requestLog();

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-caller-'));
  const registrations = JSON.parse(await readFile(path.join(repoRoot, 'smart-config/clients.json'), 'utf8')) as {
    clients: { client_id: string; scope?: string }[];
  };
  for (const client of registrations.clients)
    if (client.client_id === 'ldh-cds') client.scope = `${client.scope ?? ''} user/ImagingStudy.rs user/Endpoint.r`;
  const clientsFile = path.join(scratch, 'clients.json');
  await writeFile(clientsFile, JSON.stringify(registrations));
  // A second EHR: its own FHIR server, authorization server and signing key. The app server is registered there with
  // its public key pasted in (`jwks`), as some EHRs take it, rather than its jwks_uri.
  const serverKey = await loadOrCreateClientKey(loadConfig({}).CLIENT_KEY_FILE);
  const otherClientsFile = path.join(scratch, 'other-clients.json');
  await writeFile(
    otherClientsFile,
    JSON.stringify({
      clients: registrations.clients.map((client) =>
        client.client_id === 'ldh-cds-server'
          ? { ...client, jwks_uri: undefined, jwks: { keys: [serverKey.publicJwk] } }
          : client,
      ),
    }),
  );
  other = await startMockEhr({
    port: 0,
    appBaseUrl: 'http://localhost:1',
    clientsFile: otherClientsFile,
    dataDir: path.join(scratch, 'other-ehr'),
    patientCount: 1,
    generateStudy: generatePhantomStudy,
    logger: otherLog.logger,
  });
  sandbox = await startSandbox({
    patientCount: 3,
    generateStudy: generatePhantomStudy,
    appEnv: { MODEL_DIR: TINY_MODEL_DIR, SR_STOW: 'true', LOG_LEVEL: 'silent' },
    clientsFile,
    logger: ehrLog.logger,
  });
  // An app server that trusts both EHRs.
  twoEhrApp = await startAppServer(
    loadConfig({
      APP_PORT: String(await findFreePort()),
      FHIR_BASE_URLS: `${sandbox.ehr.fhirBaseUrl},${other.fhirBaseUrl}`,
      LOG_LEVEL: 'silent',
      CDS_CLIENTS_FILE: '/nonexistent',
      CLIENT_DIST_DIR: '/nonexistent',
    }),
  );
  // The same app, verifying tokens by the EHR's JWKS instead of introspection.
  jwksApp = await startAppServer(
    loadConfig({
      APP_PORT: String(await findFreePort()),
      FHIR_BASE_URLS: sandbox.ehr.fhirBaseUrl,
      TOKEN_VERIFICATION: 'jwks',
      MODEL_DIR: TINY_MODEL_DIR,
      LOG_LEVEL: 'silent',
      CDS_CLIENTS_FILE: '/nonexistent',
      CLIENT_DIST_DIR: '/nonexistent',
    }),
  );
}, 180_000);

afterAll(async () => {
  await jwksApp.close();
  await twoEhrApp.close();
  await sandbox.close();
  await other.close();
  await rm(scratch, { recursive: true, force: true });
});

const patient = (index: number) => seededPatient(sandbox, index);

/** What the EHR was asked since `mark` (its log's length then), by kind. */
function askedSince(log: { paths: string[] }, mark: number) {
  const paths = log.paths.slice(mark);
  return {
    introspections: paths.filter((p) => p === '/oauth/introspect').length,
    fhir: paths.filter((p) => p.startsWith('/fhir/') && !p.startsWith('/fhir/.well-known/')),
    dicomweb: paths.filter((p) => p.startsWith('/dicom-web')),
  };
}

interface Call {
  method?: string;
  path: string;
  token: string;
  fhirServer?: string;
  body?: unknown;
  app?: string;
}

async function call({ method = 'GET', path: apiPath, token, fhirServer, body, app }: Call) {
  const response = await fetch(`${app ?? sandbox.app.url}${apiPath}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      'X-FHIR-Server': fhirServer ?? sandbox.ehr.fhirBaseUrl,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      // An analysis is answered when it is done (RFC 7240), as before analyses became jobs.
      ...(method === 'POST' ? { Prefer: 'wait=600' } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await response.json()) as Partial<OperationOutcome>;
  return {
    status: response.status,
    authenticate: response.headers.get('www-authenticate'),
    /** The first issue's sentence of an OperationOutcome, the one the panel shows. */
    first: answer.resourceType === 'OperationOutcome' ? (answer.issue?.[0]?.diagnostics ?? '') : '',
  };
}

const analyze = (imagingStudyId: string, token: string, app?: string) =>
  call({
    method: 'POST',
    path: '/api/analyses',
    token,
    body: { imagingStudy: `ImagingStudy/${imagingStudyId}` },
    ...(app ? { app } : {}),
  });

/** Every route that takes the user's token, for one study. */
function everyRoute(imagingStudyId: string): Omit<Call, 'token'>[] {
  const study = `imagingStudy=ImagingStudy/${imagingStudyId}`;
  return [
    { method: 'POST', path: '/api/analyses', body: { imagingStudy: `ImagingStudy/${imagingStudyId}` } },
    { path: `/api/analyses?${study}` },
    {
      method: 'POST',
      path: '/api/analyses/review',
      body: { diagnosticReport: 'DiagnosticReport/x', versionId: '1', levels: [] },
    },
    { path: `/api/stacks?${study}` },
    { path: `/api/frames?${study}&series=1.2.3&instance=1.2.3.4&frame=1` },
  ];
}

/** A token as the mock EHR signs them (its key from its data directory), with these claims changed. */
async function tokenSignedByEhr(claims: JWTPayload): Promise<string> {
  const jwk = JSON.parse(await readFile(path.join(sandbox.dataDir, 'signing-key.private.jwk.json'), 'utf8')) as JWK;
  const genuine = decodeJwt(await appTokenFor(sandbox, patient(0).patientId));
  return new SignJWT({ ...genuine, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid ?? '', typ: 'at+jwt' })
    .sign(await importJWK(jwk, 'ES256'));
}

describe('when the token is not a live token of this EHR for this FHIR server', () => {
  it('when it is forged (the right shape, another key), then every route answers 401 before any FHIR or DICOMweb request', async () => {
    const genuine = decodeJwt(await appTokenFor(sandbox, patient(0).patientId));
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT(genuine).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey);
    const mark = ehrLog.paths.length;
    for (const route of everyRoute(patient(0).imagingStudyId)) {
      const answer = await call({ ...route, token: forged });
      expect(answer.status, route.path).toBe(401);
      expect(answer.authenticate, route.path).toBe(
        'Bearer error="invalid_token", error_description="token is not active"',
      );
      expect(answer.first).toMatch(/^Your EHR session could not be verified: .* Re-launch ldh-cds from the chart\.$/);
    }
    const asked = askedSince(ehrLog, mark);
    expect(asked.fhir).toEqual([]);
    expect(asked.dicomweb).toEqual([]);
    // One introspection: the refusal is kept as briefly as an acceptance.
    expect(asked.introspections).toBe(1);
  });

  it('when it has expired, then 401 and the EHR is asked nothing else', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await tokenSignedByEhr({ iat: now - 7200, exp: now - 3600 });
    const mark = ehrLog.paths.length;
    const answer = await analyze(patient(0).imagingStudyId, expired);
    expect(answer.status).toBe(401);
    expect(answer.authenticate).toContain('error="invalid_token"');
    expect(askedSince(ehrLog, mark).fhir).toEqual([]);
    const byJwks = await analyze(patient(0).imagingStudyId, expired, jwksApp.url);
    expect(byJwks.status).toBe(401);
    expect(byJwks.authenticate).toContain('token expired');
  });

  it('when it was issued for another FHIR server (aud), then 401, by introspection and by JWKS alike', async () => {
    const foreign = await tokenSignedByEhr({ aud: 'https://other-ehr.example/fhir' });
    const mark = ehrLog.paths.length;
    expect((await analyze(patient(0).imagingStudyId, foreign)).status).toBe(401);
    const byJwks = await analyze(patient(0).imagingStudyId, foreign, jwksApp.url);
    expect(byJwks.status).toBe(401);
    expect(byJwks.authenticate).toContain('token is for another server');
    expect(askedSince(ehrLog, mark).fhir).toEqual([]);
  });

  it("when one trusted EHR's token is sent to another trusted EHR, then 401 and that EHR's FHIR server never sees it", async () => {
    const token = await appTokenFor(sandbox, patient(0).patientId);
    const mark = otherLog.paths.length;
    const answer = await call({
      path: `/api/analyses?imagingStudy=ImagingStudy/${patient(0).imagingStudyId}`,
      token,
      fhirServer: other.fhirBaseUrl,
      app: twoEhrApp.url,
    });
    expect(answer.status).toBe(401);
    const asked = askedSince(otherLog, mark);
    expect(asked.introspections).toBe(1);
    expect(asked.fhir).toEqual([]);
  });
});

describe('when the token is verified', () => {
  it('then the answer is kept: several requests within the TTL cost one introspection', async () => {
    const token = await appTokenFor(sandbox, patient(1).patientId);
    const mark = ehrLog.paths.length;
    const study = `imagingStudy=ImagingStudy/${patient(1).imagingStudyId}`;
    await call({ path: `/api/analyses?${study}`, token });
    await Promise.all([1, 2, 3].map(() => call({ path: `/api/stacks?${study}`, token })));
    await call({ path: `/api/analyses?${study}`, token });
    const asked = askedSince(ehrLog, mark);
    expect(asked.introspections).toBe(1);
    expect(asked.fhir.length).toBeGreaterThan(0);
  });

  it("when a patient-scoped token names another patient's study, then 403 on every route and no image is fetched", async () => {
    const token = await appTokenFor(sandbox, patient(0).patientId, BROAD_SCOPE);
    const mark = ehrLog.paths.length;
    for (const route of everyRoute(patient(1).imagingStudyId).filter((r) => r.path !== '/api/analyses/review')) {
      const answer = await call({ ...route, token });
      expect(answer.status, route.path).toBe(403);
      expect(answer.first, route.path).toBe(
        `ImagingStudy/${patient(1).imagingStudyId} is not a study of the patient this EHR session was opened for; ` +
          "ldh-cds opens only that patient's studies. Re-launch ldh-cds from the other patient's chart.",
      );
    }
    expect(askedSince(ehrLog, mark).dicomweb).toEqual([]);
  });

  it("when the images of a study belong to another patient than its ImagingStudy's, then 422 and nothing is written", async () => {
    const [owner, imagesOf] = [patient(2), patient(1)];
    const { repo, dicomStore } = sandbox.ehr;
    // An ImagingStudy in patient 2's chart that points at patient 1's images: a study filed to the wrong patient.
    const source = await repo.readResource<ImagingStudy>('ImagingStudy', imagesOf.imagingStudyId);
    const copy: ImagingStudy = { ...source, subject: { reference: `Patient/${owner.patientId}` } };
    delete copy.id;
    delete copy.meta;
    const misfiled = await repo.createResource<ImagingStudy>(copy);
    const seriesBefore = dicomStore.getStudy(imagesOf.studyInstanceUid).series.size;
    const token = await appTokenFor(sandbox, owner.patientId, BROAD_SCOPE);

    const answer = await analyze(misfiled.id, token);
    expect(answer.status).toBe(422);
    expect(answer.first).toBe(
      `The images of ImagingStudy/${misfiled.id} belong to patient ID ${imagesOf.mrn}, not to this patient ` +
        `(MRN ${owner.mrn}); nothing was written. Check the study in the PACS.`,
    );
    const reports = await repo.searchResources<DiagnosticReport>({ resourceType: 'DiagnosticReport', count: 1000 });
    expect(
      reports.filter((report) => report.imagingStudy?.some((ref) => ref.reference?.endsWith(misfiled.id))),
    ).toEqual([]);
    // No DICOM SR was stored in the PACS (SR_STOW is on): the study has the series it had.
    expect(dicomStore.getStudy(imagesOf.studyInstanceUid).series.size).toBe(seriesBefore);

    // The same token on its own patient's study: the guard lets the right images through.
    expect((await analyze(owner.imagingStudyId, token)).status).toBe(201);
  });
});
