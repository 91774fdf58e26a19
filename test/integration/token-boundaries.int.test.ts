/**
 * The SMART token stays where it belongs (issue 22; docs/security.md §The SMART token): the real mock EHR and app
 * server, with the user's real SMART token, and `outsider`, a listener on another loopback port that stands for any
 * server outside the launch's EHR. Whatever the EHR's resources or its PACS say, the outsider never receives a request.
 *
 * The app's EHRS_FILE trusts two EHRs: the mock EHR, paired with its own DICOMweb, a DICOMweb proxy on another port
 * (its PACS on another origin) and a PACS that redirects every request to the outsider; and a second EHR whose imaging
 * origin is the outsider.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Endpoint, ImagingStudy } from '@medplum/fhirtypes';
import type { OperationOutcome } from 'fhir/r4';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import type { StudyStacks } from '../../server/src/findings/viewer';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
}

interface Listener {
  origin: string;
  seen: Seen[];
  server: Server;
}

/** A loopback HTTP server on its own port that records every request it gets. */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listener> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** Passes a request on to `target` (the mock EHR's /dicom-web) as a reverse proxy in front of a PACS would. */
function forward(req: IncomingMessage, res: ServerResponse, target: string): void {
  const url = new URL(`${target}${(req.url ?? '').replace(/^\/dicom-web/, '')}`);
  const upstream = httpRequest(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => res.writeHead(502).end());
  req.pipe(upstream);
}

let sandbox: Sandbox;
/** Must never see a request: it is no imaging origin of the mock EHR. */
let outsider: Listener;
/** The mock EHR's DICOMweb behind a proxy on another port: the EHR's PACS on an origin other than its FHIR server's. */
let pacsProxy: Listener;
/** A PACS of the mock EHR that answers everything with a 302 to the outsider. */
let redirectingPacs: Listener;

/** Seeded patients, one per case (each study's endpoint is changed below). */
const ABSOLUTE_ENDPOINT = 0;
const OTHER_EHRS_PACS = 1;
const REDIRECTING_PACS = 2;
const PACS_ON_ANOTHER_ORIGIN = 3;

beforeAll(async () => {
  outsider = await listen((_req, res) => res.writeHead(200, { 'Content-Type': 'application/dicom+json' }).end('[]'));
  redirectingPacs = await listen((req, res) => {
    res.writeHead(302, { Location: `${outsider.origin}${req.url ?? '/'}` }).end();
  });
  let ehrDicomWeb = '';
  pacsProxy = await listen((req, res) => {
    forward(req, res, ehrDicomWeb);
  });
  sandbox = await startSandbox({
    patientCount: 4,
    generateStudy: generatePhantomStudy,
    appEnv: { MODEL_DIR: TINY_MODEL_DIR, SR_STOW: 'true', LOG_LEVEL: 'silent' },
    imagingOrigins: [pacsProxy.origin, redirectingPacs.origin],
    otherEhrs: [{ fhirBaseUrl: `${outsider.origin}/fhir`, imagingOrigins: [outsider.origin] }],
  });
  ehrDicomWeb = sandbox.ehr.dicomWebUrl;

  const { endpointId } = sandbox.ehr.seed;
  await pointStudyAt(ABSOLUTE_ENDPOINT, `${outsider.origin}/fhir/Endpoint/${endpointId}`);
  await pointStudyAt(OTHER_EHRS_PACS, await createEndpoint(`${outsider.origin}/dicom-web`));
  await pointStudyAt(REDIRECTING_PACS, await createEndpoint(`${redirectingPacs.origin}/dicom-web`));
  await pointStudyAt(PACS_ON_ANOTHER_ORIGIN, await createEndpoint(`${pacsProxy.origin}/dicom-web`));
});

afterAll(async () => {
  await sandbox.close();
  for (const { server } of [outsider, pacsProxy, redirectingPacs]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

afterEach(() => {
  // Whatever the case, the outsider got nothing: not the token, not a request.
  expect(outsider.seen).toEqual([]);
});

/** A DICOMweb Endpoint in the mock EHR at this address; its reference. */
async function createEndpoint(address: string): Promise<string> {
  const endpoint = await sandbox.ehr.repo.createResource<Endpoint>({
    resourceType: 'Endpoint',
    status: 'active',
    connectionType: {
      system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
      code: 'dicom-wado-rs',
    },
    payloadType: [{ text: 'DICOM' }],
    address,
  });
  return `Endpoint/${endpoint.id}`;
}

async function pointStudyAt(patientIndex: number, endpointReference: string): Promise<void> {
  const { repo } = sandbox.ehr;
  const study = await repo.readResource<ImagingStudy>(
    'ImagingStudy',
    seededPatient(sandbox, patientIndex).imagingStudyId,
  );
  await repo.updateResource<ImagingStudy>({ ...study, endpoint: [{ reference: endpointReference }] });
}

interface Answer {
  status: number;
  body: unknown;
  token: string;
}

/** The user's call, as the panel makes it after an EHR launch in this patient's chart. */
async function call(patientIndex: number, method: 'POST' | 'GET', path: string): Promise<Answer> {
  const seeded = seededPatient(sandbox, patientIndex);
  const token = await appTokenFor(sandbox, seeded.patientId);
  const response = await fetch(`${sandbox.app.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
      'Content-Type': 'application/json',
      // An analysis is answered when it is done (RFC 7240), as before analyses became jobs.
      ...(method === 'POST' ? { Prefer: 'wait=600' } : {}),
    },
    ...(method === 'POST' ? { body: JSON.stringify({ imagingStudy: `ImagingStudy/${seeded.imagingStudyId}` }) } : {}),
  });
  const json = /json/.test(response.headers.get('content-type') ?? '');
  const body: unknown = json ? await response.json() : await response.arrayBuffer();
  return { status: response.status, body, token };
}

const analyze = (patientIndex: number): Promise<Answer> => call(patientIndex, 'POST', '/api/analyses');
const stacks = (patientIndex: number): Promise<Answer> =>
  call(
    patientIndex,
    'GET',
    `/api/stacks?imagingStudy=ImagingStudy/${seededPatient(sandbox, patientIndex).imagingStudyId}`,
  );

function diagnostics(answer: Answer): string[] {
  return (answer.body as OperationOutcome).issue.map((issue) => issue.diagnostics ?? '');
}

describe('the SMART token stays with the EHR of the launch', () => {
  it('when ImagingStudy.endpoint is an absolute reference to another server, then 422 and nothing is sent there', async () => {
    const answer = await analyze(ABSOLUTE_ENDPOINT);
    expect(answer.status).toBe(422);
    expect(diagnostics(answer)[0]).toMatch(
      new RegExp(`^ImagingStudy\\.endpoint points to another server \\(${outsider.origin.replace(/\./g, '\\.')}\\)`),
    );
  });

  it('when the Endpoint is on another trusted EHR’s imaging origin, then 422 names it and what to configure', async () => {
    const answer = await analyze(OTHER_EHRS_PACS);
    expect(answer.status).toBe(422);
    const [first] = diagnostics(answer);
    expect(first).toContain(
      `is on ${outsider.origin}, which is not an imaging origin of the EHR ${sandbox.ehr.fhirBaseUrl}`,
    );
    expect(first).toContain(`add "${outsider.origin}" to its "imagingOrigins" in EHRS_FILE`);
    // The viewer reads images through the same rule (a frame: its route opens the study before anything else).
    const seeded = seededPatient(sandbox, OTHER_EHRS_PACS);
    const frame = await call(
      OTHER_EHRS_PACS,
      'GET',
      `/api/frames?${new URLSearchParams({
        imagingStudy: `ImagingStudy/${seeded.imagingStudyId}`,
        series: seeded.seriesInstanceUid,
        instance: `${seeded.seriesInstanceUid}.1`,
        frame: '1',
      }).toString()}`,
    );
    expect(frame.status).toBe(422);
    expect(diagnostics(frame)[0]).toContain(`is on ${outsider.origin}, which is not an imaging origin`);
  });

  it('when the EHR’s PACS redirects to another server, then the analysis fails with 502 and the redirect is not followed', async () => {
    redirectingPacs.seen.length = 0;
    const answer = await analyze(REDIRECTING_PACS);
    expect(answer.status).toBe(502);
    const [first, ...rest] = diagnostics(answer);
    expect(first).toContain('answered with a redirect (HTTP 302), which ldh-cds does not follow with your token');
    expect(rest.join('\n')).toContain(`was redirected (HTTP 302) to ${outsider.origin}`);
    // The configured PACS got the token (it is the EHR's), once: a redirect is an answer, not repeated.
    expect(redirectingPacs.seen).toEqual([
      expect.objectContaining({ method: 'GET', authorization: `Bearer ${answer.token}` }),
    ]);
  });

  it('when the EHR’s PACS is on another origin than its FHIR server and paired with it, then the analysis and the viewer work', async () => {
    pacsProxy.seen.length = 0;
    const answer = await analyze(PACS_ON_ANOTHER_ORIGIN);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ structuredReportInPacs: true });
    // Series, metadata, frames and the SR's STOW-RS all went to the paired PACS, with the user's token.
    expect(pacsProxy.seen.map((seen) => seen.method)).toContain('POST');
    expect(pacsProxy.seen.some((seen) => seen.path.includes('/frames/'))).toBe(true);
    expect(new Set(pacsProxy.seen.map((seen) => seen.authorization))).toEqual(new Set([`Bearer ${answer.token}`]));

    const viewed = await stacks(PACS_ON_ANOTHER_ORIGIN);
    expect(viewed.status).toBe(200);
    const { levels, seriesInstanceUid } = viewed.body as StudyStacks;
    const slice = levels[0]?.slices[0];
    expect(slice).toBeDefined();
    const frame = await call(
      PACS_ON_ANOTHER_ORIGIN,
      'GET',
      `/api/frames?${new URLSearchParams({
        imagingStudy: `ImagingStudy/${seededPatient(sandbox, PACS_ON_ANOTHER_ORIGIN).imagingStudyId}`,
        series: seriesInstanceUid,
        instance: slice?.sopInstanceUid ?? '',
        frame: String(slice?.frame ?? 1),
      }).toString()}`,
    );
    expect(frame.status).toBe(200);
    expect((frame.body as ArrayBuffer).byteLength).toBeGreaterThan(0);
  });
});
