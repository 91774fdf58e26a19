/**
 * POST/GET /api/analyses through the real app server. A loopback FHIR stub stands in for the EHR only to
 * cause faults the mock EHR cannot (missing endpoint, upstream 404); DICOMweb and the detector are replaced
 * with in-memory fakes so the pipeline's composition is checked without a model. The end-to-end test
 * against the mock EHR lives in test/e2e.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, BundleEntry, DiagnosticReport, FhirResource, Observation, OperationOutcome } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type RunningServer } from '../app';
import { loadConfig } from '../config';
import type { DicomJsonObject, DicomwebRetriever } from '../dicomweb/dicomweb-retriever';
import type { DetectorSession } from '../inference/detector-session';
import type { Findings } from '../findings/findings';
import type { ModelManifest } from '../inference/manifest';
import { invalidToken, type TokenVerifier } from './token-verifier';
import { smartUserOfClaims } from './smart-user';

let fhirStub: Server;
let fhirBase: string;
let app: RunningServer;
const stored = new Map<string, FhirResource>();
const transactions: Bundle[] = [];
let downHits = 0;

function studyResource(id: string, withEndpoint: boolean, patient = 'p1'): FhirResource {
  return {
    resourceType: 'ImagingStudy',
    id,
    status: 'available',
    subject: { reference: `Patient/${patient}` },
    identifier: [{ system: 'urn:dicom:uid', value: 'urn:oid:1.2.826.0.1.1' }],
    ...(withEndpoint ? { endpoint: [{ reference: 'Endpoint/e1' }] } : {}),
    procedureCode: [{ coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '72148' }] }],
  };
}

function handleTransaction(bundle: Bundle): Bundle {
  transactions.push(bundle);
  const ids = new Map<string, string>();
  const entries: BundleEntry[] = (bundle.entry ?? []).map((entry, i) => {
    const resource = entry.resource as FhirResource;
    const id = `${resource.resourceType.toLowerCase()}-${i}`;
    ids.set(entry.fullUrl ?? '', `${resource.resourceType}/${id}`);
    stored.set(`${resource.resourceType}/${id}`, { ...resource, id });
    return { response: { status: '201 Created', location: `${resource.resourceType}/${id}/_history/1` } };
  });
  // Rewrite urn:uuid references as a FHIR server does (R4 §3.1.0.11.2).
  for (const [key, resource] of stored) {
    stored.set(
      key,
      JSON.parse(
        JSON.stringify(resource).replace(/urn:uuid:[0-9a-f-]{36}/g, (urn) => ids.get(urn) ?? urn),
      ) as FhirResource,
    );
  }
  return { resourceType: 'Bundle', type: 'transaction-response', entry: entries };
}

beforeAll(async () => {
  stored.set('ImagingStudy/s1', studyResource('s1', true));
  stored.set('ImagingStudy/noep', studyResource('noep', false));
  // The fake PACS holds one study, of patient ID SYN-1 (sliceMeta): p1's. ImagingStudy/p3s names it for patient p3.
  stored.set('ImagingStudy/p3s', studyResource('p3s', true, 'p3'));
  stored.set('Patient/p1', { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:mrn', value: 'SYN-1' }] });
  stored.set('Patient/p3', { resourceType: 'Patient', id: 'p3', identifier: [{ system: 'urn:mrn', value: 'SYN-3' }] });
  fhirStub = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/fhir+json' }).end(JSON.stringify(body));
    };
    // A FHIR server that does not keep a patient-level token to its patient (the check is ours too).
    if (!['Bearer good-token', 'Bearer p2-token', 'Bearer user-token'].includes(req.headers.authorization ?? '')) {
      send(401, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'login', diagnostics: 'bad token' }],
      });
      return;
    }
    const pathname = url.pathname.replace(/^\/fhir\/?/, '');
    if (req.method === 'POST' && pathname === '') {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        send(200, handleTransaction(JSON.parse(text) as Bundle));
      });
      return;
    }
    if (pathname === 'ImagingStudy/down') {
      downHits++;
      // Retry-After: 0 keeps the client's repeats instant.
      res.writeHead(503, { 'Content-Type': 'application/fhir+json', 'Retry-After': '0' }).end(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'transient', diagnostics: `Database failover, see ${fhirBase}/status` }],
        }),
      );
      return;
    }
    if (pathname === 'Endpoint/e1') {
      send(200, {
        resourceType: 'Endpoint',
        id: 'e1',
        status: 'active',
        address: `${fhirBase.replace(/\/fhir$/, '')}/dicom-web`,
      });
      return;
    }
    if (pathname === 'DiagnosticReport') {
      const entry = [...stored.values()]
        .filter((r) => r.resourceType === 'DiagnosticReport')
        .map((resource) => ({ resource }));
      send(200, { resourceType: 'Bundle', type: 'searchset', entry });
      return;
    }
    const resource = stored.get(pathname);
    if (resource) send(200, resource);
    else
      send(404, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'not-found', diagnostics: `${pathname} not found` }],
      });
  });
  await new Promise<void>((resolve) => fhirStub.listen(0, '127.0.0.1', resolve));
  fhirBase = `http://127.0.0.1:${(fhirStub.address() as AddressInfo).port}/fhir`;

  const config = loadConfig({
    APP_PORT: '0',
    FHIR_BASE_URLS: fhirBase,
    LOG_LEVEL: 'silent',
    CDS_CLIENTS_FILE: '/nonexistent',
    CLIENT_DIST_DIR: '/nonexistent',
  });
  app = await startAppServer(config, {
    deps: { dicomweb: () => fakeRetriever, detector: () => Promise.resolve(fakeDetector) },
    tokenVerifier: stubTokens,
  });
});

afterAll(async () => {
  await app.close();
  await new Promise((resolve) => fhirStub.close(resolve));
});

/** Five 2-slice axial stacks, 4×4 pixels, 40 mm apart. */
const sliceMeta: DicomJsonObject[] = [0, 1, 2, 3, 4].flatMap((disc) =>
  [0, 4].map((dz) => ({
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4'] },
    '00080018': { vr: 'UI', Value: [`1.2.3.${disc}.${dz}`] },
    '0020000D': { vr: 'UI', Value: ['1.2.826.0.1.1'] },
    '0020000E': { vr: 'UI', Value: ['1.2.826.0.1.1.2'] },
    '00100020': { vr: 'LO', Value: ['SYN-1'] },
    '00200032': { vr: 'DS', Value: [0, 0, disc * 40 + dz] },
    '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
    '00280030': { vr: 'DS', Value: [1, 1] },
    '00280010': { vr: 'US', Value: [4] },
    '00280011': { vr: 'US', Value: [4] },
    '00280100': { vr: 'US', Value: [16] },
    '00280103': { vr: 'US', Value: [0] },
  })),
);
/**
 * The stub EHR's tokens: good-token is a clinician's in p1's chart (patient/ scopes), p2-token is held to p2,
 * user-token is a user-level token of no patient; anything else is not active.
 */
const stubTokens: TokenVerifier = {
  verify: (_fhirBase, token) => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    if (token === 'good-token')
      return Promise.resolve(smartUserOfClaims({ scope: 'patient/*.rs', patient: 'p1' }, exp));
    if (token === 'p2-token') return Promise.resolve(smartUserOfClaims({ scope: 'patient/*.rs', patient: 'p2' }, exp));
    if (token === 'user-token') return Promise.resolve(smartUserOfClaims({ scope: 'user/*.rs' }, exp));
    return Promise.reject(invalidToken('token is not active', 'the EHR says this access token is not active'));
  },
};
let dicomRequests = 0;
const fakeRetriever: DicomwebRetriever = {
  searchForSeries: () =>
    Promise.resolve(dicomRequests++).then(() => [
      { '00080060': { vr: 'CS', Value: ['MR'] }, '0020000E': { vr: 'UI', Value: ['1.2.826.0.1.1.2'] } },
    ]),
  retrieveSeriesMetadata: () => Promise.resolve(sliceMeta),
  retrieveFrames: (_study, _series, frames) =>
    Promise.resolve(
      frames.map((f) => ({
        ...f,
        bytes: new Uint8Array(32),
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        contentType: 'application/octet-stream',
      })),
    ),
};
const fakeDetector: DetectorSession = {
  manifest: {
    id: 'fake',
    version: '1.0.0',
    name: 'Fake',
    intendedUse: 'tests',
    classes: [{ index: 0, name: 'g2-AB', grade: 2, zone: 'AB' }],
    thresholds: { confidence: 0.5, iou: 0.5, spanning: 0.75 },
  } as unknown as ModelManifest,
  digest: 'sha256:fake',
  executionProvider: 'cpu',
  // Images arrive bottom-up (L5-S1 first): image 3 is the second slice of L4-L5; its box is on the image right.
  detect: (images) =>
    Promise.resolve(
      images.map((_, i) =>
        i === 3 ? [{ box: [3, 1, 4, 2], score: 0.9, classIndex: 0, classScores: [0.9], keypoints: [] }] : [],
      ),
    ),
};

const post = (body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${app.url}/api/analyses`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: 'Bearer good-token',
      'X-FHIR-Server': fhirBase,
      // Answered when the analysis is done (RFC 7240), as before analyses became jobs.
      Prefer: 'wait=600',
      ...headers,
    },
    body: JSON.stringify(body),
  });

describe('POST /api/analyses', () => {
  it('when the study is analyzable, then findings are written in one transaction and the ids returned', async () => {
    const response = await post({ imagingStudy: 'ImagingStudy/s1' });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { findings: Findings; diagnosticReport: string; observations: string[] };
    expect(body.findings.levels.map((l) => l.level)).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1']);
    expect(body.findings.levels[3]).toMatchObject({
      herniation: true,
      grade: 2,
      zone: 'AB',
      side: 'left',
      keySlice: { sopInstanceUid: '1.2.3.1.4', frame: 1 },
    });
    expect(body.findings.warnings.join(' ')).toMatch(/counting up from the lowest/);
    expect(body.diagnosticReport).toMatch(/^DiagnosticReport\//);
    expect(body.observations).toHaveLength(5);
    expect(transactions).toHaveLength(1);
    const report = stored.get(body.diagnosticReport) as DiagnosticReport;
    expect(report.conclusion?.split('\n')).toContain('L4-L5: 2-AB (left)');
    expect(report.subject).toEqual({ reference: 'Patient/p1' });
  });

  it('when the stored analysis is requested, then GET returns the same findings', async () => {
    const response = await fetch(`${app.url}/api/analyses?imagingStudy=ImagingStudy/s1`, {
      headers: { Authorization: 'Bearer good-token', 'X-FHIR-Server': fhirBase },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { findings: Findings };
    expect(body.findings.levels.find((l) => l.level === 'L4-L5')).toMatchObject({
      herniation: true,
      grade: 2,
      zone: 'AB',
      side: 'left',
    });
    expect(body.findings.model).toEqual({ id: 'fake', version: '1.0.0' });
    expect(
      stored.get((body as unknown as { observations: string[] }).observations[0] ?? '') as Observation,
    ).toBeDefined();
  });

  it('when the X-FHIR-Server is not trusted, then 403 without calling it', async () => {
    const response = await post({ imagingStudy: 'ImagingStudy/s1' }, { 'X-FHIR-Server': 'http://evil.example/fhir' });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('when the bearer token is missing, then 401; when the FHIR server rejects it, then its 401 passes through', async () => {
    expect((await post({ imagingStudy: 'ImagingStudy/s1' }, { Authorization: '' })).status).toBe(401);
    expect((await post({ imagingStudy: 'ImagingStudy/s1' }, { Authorization: 'Bearer wrong' })).status).toBe(401);
  });

  it("when a patient-scoped token names another patient's study, then 403 before any image is fetched", async () => {
    const [transactionsBefore, dicomBefore] = [transactions.length, dicomRequests];
    const response = await post({ imagingStudy: 'ImagingStudy/s1' }, { Authorization: 'Bearer p2-token' });
    expect(response.status).toBe(403);
    expect(((await response.json()) as OperationOutcome).issue[0]?.diagnostics).toMatch(
      /^ImagingStudy\/s1 is not a study of the patient this EHR session was opened for/,
    );
    const read = await fetch(`${app.url}/api/analyses?imagingStudy=ImagingStudy/s1`, {
      headers: { Authorization: 'Bearer p2-token', 'X-FHIR-Server': fhirBase },
    });
    expect(read.status).toBe(403);
    expect([transactions.length, dicomRequests]).toEqual([transactionsBefore, dicomBefore]);
  });

  it("when the PACS's images carry another patient's ID than the ImagingStudy's Patient, then 422 and nothing written", async () => {
    const before = transactions.length;
    const wrong = await post({ imagingStudy: 'ImagingStudy/p3s' }, { Authorization: 'Bearer user-token' });
    expect(wrong.status).toBe(422);
    expect(((await wrong.json()) as OperationOutcome).issue[0]?.diagnostics).toBe(
      'The images of ImagingStudy/p3s belong to patient ID SYN-1, not to this patient (patient ID SYN-3); nothing was ' +
        'written. Check the study in the PACS.',
    );
    expect(transactions.length).toBe(before);
  });

  it('when the body names no ImagingStudy, then 400 naming the parameter', async () => {
    const response = await post({ imagingStudy: 'Patient/1' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('imagingStudy');
  });

  it('when the study does not exist, then the upstream 404 OperationOutcome is kept', async () => {
    const response = await post({ imagingStudy: 'ImagingStudy/nope' });
    expect(response.status).toBe(404);
    expect(JSON.stringify(await response.json())).toContain('ImagingStudy/nope not found');
  });

  it("when the EHR's FHIR server keeps answering 503, then 502 whose first issue is a sentence, no JSON or URL", async () => {
    const response = await post({ imagingStudy: 'ImagingStudy/down' });
    expect(response.status).toBe(502);
    expect(downHits).toBe(4);
    const outcome = (await response.json()) as OperationOutcome;
    const first = outcome.issue[0]?.diagnostics ?? '';
    expect(first).toBe(
      "The EHR's FHIR server is unavailable (HTTP 503) after 4 attempts, while ldh-cds was reading ImagingStudy: " +
        `Database failover, see ${new URL(fhirBase).host}. Try again in a few minutes; call support if this keeps happening.`,
    );
    expect(first).not.toMatch(/[{}]|https?:\/\//);
    expect(outcome.issue[1]?.diagnostics).toBe(`Database failover, see ${fhirBase}/status`);
  });

  it('when the study has no endpoint, then 422 says so', async () => {
    const response = await post({ imagingStudy: 'ImagingStudy/noep' });
    expect(response.status).toBe(422);
    expect(JSON.stringify(await response.json())).toContain('has no endpoint');
  });

  it('when the server fails unexpectedly, then no stack trace leaks', async () => {
    const response = await fetch(`${app.url}/api/analyses`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{bad json',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).not.toMatch(/at .*\.(js|ts):\d+/);
  });
});
