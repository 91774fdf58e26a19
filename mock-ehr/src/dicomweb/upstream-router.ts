/**
 * `DICOMWEB_URL`: the mock EHR in front of a real PACS (e.g. Orthanc). The EHR keeps its own DICOMweb base (the
 * Endpoint address the app reads) and its SMART rules — bearer token, ImagingStudy scopes, the patient's studies
 * only — and forwards each allowed request to the PACS. URLs the PACS writes into DICOM JSON (RetrieveURL,
 * BulkDataURI) are rewritten to the EHR's base, so clients never need to reach the PACS directly.
 */
import express, { type Request, type Response } from 'express';
import type { TokenIssuer } from '../auth/tokens';
import { requireBearer } from '../http/bearer';
import { forbidden, HttpError, buildOutcome } from '../http/errors';
import { expiredTokenFault, slowDicomWebFault, type FaultSwitches } from '../http/faults';
import { buildRouter, type Route } from '../http/route-table';
import { accessOf, buildImagingAccess } from './dicomweb-router';
import { parseMultipartRelated, peekUids } from './stow';

export interface UpstreamRouterOptions {
  /** The PACS's DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web */
  upstreamUrl: string;
  /** The EHR's own DICOMweb base, which replaces the upstream URL in answers. */
  dicomWebUrl: string;
  tokens: TokenIssuer;
  faults: FaultSwitches;
  patientMrn: (patientId: string) => Promise<string | undefined>;
}

const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'content-location', 'etag', 'last-modified'];

export function buildUpstreamDicomWebRouter(options: UpstreamRouterOptions) {
  const upstream = options.upstreamUrl.replace(/\/+$/, '');
  const raw = express.raw({ type: () => true, limit: '512mb' });
  const routes: Route[] = [
    {
      method: 'get',
      path: '/studies',
      handler: async (req, res) => {
        const query = new URL(req.originalUrl, 'http://localhost').searchParams;
        const mrn = accessOf(res).restrictedToMrn;
        // A patient-level token searches its own patient's studies only, whatever it asked for.
        if (mrn !== undefined) query.set('PatientID', mrn);
        await forward(options, upstream, req, res, `/studies?${query.toString()}`);
      },
      spec: 'QIDO-RS studies, narrowed to the token patient',
    },
    {
      method: 'post',
      path: '/studies{/:study}',
      before: [raw],
      handler: async (req, res) => {
        const mrn = accessOf(res).restrictedToMrn;
        if (mrn !== undefined) {
          const body: unknown = req.body;
          const parts = parseMultipartRelated(
            req.headers['content-type'],
            Buffer.isBuffer(body) ? body : Buffer.alloc(0),
          );
          if (parts.some((part) => peekUids(part).patientId !== mrn)) {
            throw forbidden("STOW-RS: every instance must belong to the token's patient");
          }
        }
        await forward(options, upstream, req, res, req.url);
      },
      spec: 'STOW-RS, forwarded after the patient check',
    },
    {
      method: 'get',
      path: '/studies/:study{/*rest}',
      handler: async (req, res) => {
        await assertStudyVisible(upstream, String(req.params.study), res);
        await forward(options, upstream, req, res, req.url);
      },
      spec: 'QIDO-RS / WADO-RS inside one study, after the patient check',
    },
  ];
  return buildRouter(routes, [
    slowDicomWebFault(options.faults),
    expiredTokenFault(options.faults),
    requireBearer(options.tokens),
    buildImagingAccess(options),
  ]);
}

async function assertStudyVisible(upstream: string, studyUid: string, res: Response): Promise<void> {
  const mrn = accessOf(res).restrictedToMrn;
  if (mrn === undefined) return;
  const url = `${upstream}/studies?StudyInstanceUID=${encodeURIComponent(studyUid)}&includefield=00100020`;
  const response = await fetch(url, { headers: { Accept: 'application/dicom+json' } }).catch((error: unknown) => {
    throw upstreamDown(error);
  });
  const text = await response.text();
  const studies = response.ok && text !== '' ? (JSON.parse(text) as Record<string, { Value?: unknown[] }>[]) : [];
  const owner = studies[0]?.['00100020']?.Value?.[0];
  if (studies.length > 0 && owner !== mrn) {
    throw forbidden(`Study ${studyUid} belongs to another patient than the token's`);
  }
}

function upstreamDown(error: unknown): HttpError {
  return new HttpError(502, {
    kind: 'outcome',
    outcome: buildOutcome('transient', `The PACS behind DICOMWEB_URL is unreachable: ${(error as Error).message}`),
  });
}

/** Sends the request on with its Accept/Content-Type (never our bearer token) and relays status, headers, body. */
async function forward(
  options: UpstreamRouterOptions,
  upstream: string,
  req: Request,
  res: Response,
  pathAndQuery: string,
): Promise<void> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const body: unknown = req.body;
  let response: globalThis.Response;
  try {
    response = await fetch(`${upstream}${pathAndQuery}`, {
      method: req.method,
      headers,
      ...(req.method === 'POST' && Buffer.isBuffer(body) ? { body: new Uint8Array(body) } : {}),
    });
  } catch (error) {
    throw upstreamDown(error);
  }
  res.status(response.status);
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) res.set(name, value.replaceAll(upstream, options.dicomWebUrl));
  }
  const payload = Buffer.from(await response.arrayBuffer());
  const type = response.headers.get('content-type') ?? '';
  if (/json/.test(type)) res.send(payload.toString('utf8').replaceAll(upstream, options.dicomWebUrl));
  else res.send(payload);
}

/** Stores the seeded instances in the PACS with STOW-RS (one request per study). */
export async function stowToUpstream(upstreamUrl: string, parts: Uint8Array[]): Promise<void> {
  const upstream = upstreamUrl.replace(/\/+$/, '');
  const boundary = `ldh-mock-ehr-seed-${Date.now()}`;
  const chunks = parts.flatMap((part) => [
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    Buffer.from(part),
    Buffer.from('\r\n'),
  ]);
  const response = await fetch(`${upstream}/studies`, {
    method: 'POST',
    headers: {
      'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      Accept: 'application/dicom+json',
    },
    body: new Uint8Array(Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)])),
  });
  if (!response.ok) {
    throw new Error(
      `Seeding the PACS at ${upstream} failed: STOW-RS answered ${response.status} ${await response.text()}`,
    );
  }
}
