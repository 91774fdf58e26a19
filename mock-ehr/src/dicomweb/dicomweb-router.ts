/**
 * DICOMweb at `{base}/dicom-web` (PS3.18): QIDO-RS searches and WADO-RS retrieval of metadata, frames, bulk data
 * and instances. Protected by the same SMART bearer token as FHIR (the EHR is one security domain).
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { hasNonPatientScope, isPermitted, splitScopes } from '../auth/scopes';
import type { TokenIssuer } from '../auth/tokens';
import { getAccessClaims, requireBearer } from '../http/bearer';
import { expiredTokenFault, slowDicomWebFault, type FaultSwitches } from '../http/faults';
import { badRequest, forbidden, notAcceptable } from '../http/errors';
import { buildRouter, type Route } from '../http/route-table';
import { datasetToDicomJson, concatBinary } from './dicom-json';
import {
  firstString,
  sortedInstances,
  TAG,
  type DicomStore,
  type StoredInstance,
  type StoredSeries,
  type StoredStudy,
} from './dicom-store';
import { negotiateFrames, parseAccept, parseFrameList } from './frames';
import { buildMultipartRelated } from './multipart';
import { parseQidoQuery, searchInstances, searchSeries, searchStudies } from './qido';
import { assertPngAccepted, renderFramePng } from './rendered';
import { buildStowResponse, FAILURE, parseMultipartRelated, peekUids, type StowItem } from './stow';

const DICOM_JSON = 'application/dicom+json';

export interface DicomWebRouterOptions {
  store: DicomStore;
  tokens: TokenIssuer;
  dicomWebUrl: string;
  faults: FaultSwitches;
  /** The MRN (DICOM PatientID) of a FHIR Patient id, for patient-level tokens. */
  patientMrn: (patientId: string) => Promise<string | undefined>;
  /** Called for each instance stored by STOW-RS (e.g. to update the chart). */
  onStored?: (instance: StoredInstance) => void | Promise<void>;
}

export function buildDicomWebRouter(options: DicomWebRouterOptions) {
  const { dicomWebUrl: base } = options;
  const store = options.store;
  const S = '/studies/:study';
  const SE = `${S}/series/:series`;
  const I = `${SE}/instances/:instance`;
  const routes: Route[] = [
    {
      method: 'get',
      path: '/studies',
      handler: (req, res) => {
        sendJson(
          res,
          searchStudies(
            store.listStudies().filter((study) => isStudyVisible(study, res)),
            parseQidoQuery(query(req), ['study']),
            base,
          ),
        );
      },
      spec: 'QIDO-RS SearchForStudies (PS3.18 §10.6)',
    },
    {
      method: 'get',
      path: `${S}/series`,
      handler: (req, res) => {
        sendJson(res, searchSeries(visibleStudy(store, req, res), parseQidoQuery(query(req), ['series']), base));
      },
      spec: 'QIDO-RS SearchForSeries',
    },
    {
      method: 'get',
      path: `${S}/instances`,
      handler: (req, res) => {
        const study = visibleStudy(store, req, res);
        sendJson(
          res,
          searchInstances(study, [...study.series.values()], parseQidoQuery(query(req), ['series', 'instance']), base),
        );
      },
      spec: 'QIDO-RS SearchForInstances (study level)',
    },
    {
      method: 'get',
      path: `${SE}/instances`,
      handler: (req, res) => {
        sendJson(
          res,
          searchInstances(
            visibleStudy(store, req, res),
            [visibleSeries(store, req, res)],
            parseQidoQuery(query(req), ['instance']),
            base,
          ),
        );
      },
      spec: 'QIDO-RS SearchForInstances (series level)',
    },
    {
      method: 'get',
      path: `${S}/metadata`,
      handler: (req, res) => {
        sendJson(
          res,
          [...visibleStudy(store, req, res).series.values()].flatMap((series) =>
            sortedInstances(series).map((i) => metadataOf(i, base)),
          ),
        );
      },
      spec: 'WADO-RS RetrieveStudyMetadata (PS3.18 §10.4)',
    },
    {
      method: 'get',
      path: `${SE}/metadata`,
      handler: (req, res) => {
        sendJson(
          res,
          sortedInstances(visibleSeries(store, req, res)).map((i) => metadataOf(i, base)),
        );
      },
      spec: 'WADO-RS RetrieveSeriesMetadata',
    },
    {
      method: 'get',
      path: `${I}/metadata`,
      handler: (req, res) => {
        sendJson(res, [metadataOf(instanceOf(store, req, res), base)]);
      },
      spec: 'WADO-RS RetrieveInstanceMetadata',
    },
    {
      method: 'get',
      path: `${I}/frames/:frames`,
      handler: (req, res) => {
        handleFrames(store, req, res, base);
      },
      spec: 'WADO-RS RetrieveFrames (PS3.18 §8.7.3.5)',
    },
    {
      method: 'get',
      path: `${I}/rendered`,
      handler: (req, res) => {
        assertPngAccepted(req.headers.accept);
        res.type('image/png').send(renderFramePng(instanceOf(store, req, res), 1));
      },
      spec: 'WADO-RS RetrieveRenderedInstance (PS3.18 §10.4.1.1.3): first frame as PNG',
    },
    {
      method: 'get',
      path: `${I}/frames/:frames/rendered`,
      handler: (req, res) => {
        assertPngAccepted(req.headers.accept);
        const [frame, ...more] = parseFrameList(p(req, 'frames'));
        if (frame === undefined || more.length > 0) throw badRequest('Rendered frames: name exactly one frame');
        res.type('image/png').send(renderFramePng(instanceOf(store, req, res), frame));
      },
      spec: 'WADO-RS RetrieveRenderedFrames: one frame as PNG',
    },
    {
      method: 'post',
      path: '/studies',
      before: [rawMultipart],
      handler: (req, res) => handleStow(options, req, res, undefined),
      spec: 'STOW-RS Store Instances (PS3.18 §10.5)',
    },
    {
      method: 'post',
      path: S,
      before: [rawMultipart],
      handler: (req, res) => handleStow(options, req, res, p(req, 'study')),
      spec: 'STOW-RS Store Instances into one study',
    },
    {
      method: 'get',
      path: `${I}/bulkdata/:tag`,
      handler: (req, res) => {
        handleBulkData(store, req, res);
      },
      spec: 'WADO-RS RetrieveBulkdata for the BulkDataURI in metadata',
    },
    {
      method: 'get',
      path: I,
      handler: (req, res) => {
        sendInstances(req, res, [instanceOf(store, req, res)], base);
      },
      spec: 'WADO-RS RetrieveInstance (multipart application/dicom)',
    },
    {
      method: 'get',
      path: SE,
      handler: (req, res) => {
        sendInstances(req, res, sortedInstances(visibleSeries(store, req, res)), base);
      },
      spec: 'WADO-RS RetrieveSeries',
    },
    {
      method: 'get',
      path: S,
      handler: (req, res) => {
        sendInstances(req, res, [...visibleStudy(store, req, res).series.values()].flatMap(sortedInstances), base);
      },
      spec: 'WADO-RS RetrieveStudy',
    },
  ];
  return buildRouter(routes, [
    slowDicomWebFault(options.faults),
    expiredTokenFault(options.faults),
    requireBearer(options.tokens),
    buildImagingAccess(options),
  ]);
}

const rawMultipart = express.raw({ type: () => true, limit: '512mb' });

/**
 * SMART imaging access: reading DICOMweb needs a scope that reads ImagingStudy, storing needs one that creates
 * ImagingStudy (or DiagnosticReport, for result write-back such as a DICOM SR). A patient-level token reaches only
 * studies whose PatientID is its patient's MRN — the DICOMweb twin of the FHIR compartment rule.
 */
export function buildImagingAccess(options: Pick<DicomWebRouterOptions, 'patientMrn'>): RequestHandler {
  return async (req, res, next) => {
    const claims = getAccessClaims(req);
    const scopes = splitScopes(claims.scope);
    if (req.method === 'POST') {
      if (!isPermitted(scopes, 'ImagingStudy', 'c') && !isPermitted(scopes, 'DiagnosticReport', 'c')) {
        throw forbidden('STOW-RS needs a scope that creates ImagingStudy or DiagnosticReport');
      }
    } else if (!isPermitted(scopes, 'ImagingStudy', 'r')) {
      throw forbidden('DICOMweb needs a scope that reads ImagingStudy (e.g. patient/ImagingStudy.rs)');
    }
    const access: ImagingAccess = hasNonPatientScope(scopes, 'ImagingStudy')
      ? { restrictedToMrn: undefined }
      : { restrictedToMrn: (claims.patient && (await options.patientMrn(claims.patient))) || NO_PATIENT };
    res.locals.imagingAccess = access;
    next();
  };
}

export interface ImagingAccess {
  /** The MRN a patient-level token is held to; undefined for user/system tokens. */
  restrictedToMrn: string | undefined;
}

/** Matches no PatientID: a patient-level token whose patient has no MRN sees nothing. */
const NO_PATIENT = '\u0000';

export function accessOf(res: Response): ImagingAccess {
  return (res.locals.imagingAccess as ImagingAccess | undefined) ?? { restrictedToMrn: NO_PATIENT };
}

function patientIdOfStudy(study: StoredStudy): string | undefined {
  for (const series of study.series.values()) {
    for (const instance of series.instances.values()) return firstString(instance.dataset[TAG.PatientID]);
  }
  return undefined;
}

function isStudyVisible(study: StoredStudy, res: Response): boolean {
  const mrn = accessOf(res).restrictedToMrn;
  return mrn === undefined || patientIdOfStudy(study) === mrn;
}

function visibleStudy(store: DicomStore, req: Request, res: Response): StoredStudy {
  const study = store.getStudy(p(req, 'study'));
  if (!isStudyVisible(study, res))
    throw forbidden(`Study ${study.studyInstanceUid} belongs to another patient than the token's`);
  return study;
}

function visibleSeries(store: DicomStore, req: Request, res: Response): StoredSeries {
  visibleStudy(store, req, res);
  return store.getSeries(p(req, 'study'), p(req, 'series'));
}

async function handleStow(
  options: DicomWebRouterOptions,
  req: Request,
  res: Response,
  targetStudy: string | undefined,
): Promise<void> {
  const body: unknown = req.body;
  const parts = parseMultipartRelated(req.headers['content-type'], Buffer.isBuffer(body) ? body : Buffer.alloc(0));
  const mrn = accessOf(res).restrictedToMrn;
  const stored: StowItem[] = [];
  const failed: StowItem[] = [];
  const studies = new Set<string>();
  for (const part of parts) {
    const uids = peekUids(part);
    const fail = (failureReason: number): void => {
      failed.push({ sopClassUid: uids.sopClass, sopInstanceUid: uids.sopInstance, failureReason });
    };
    if (uids.study === undefined || uids.sopInstance === undefined) fail(FAILURE.cannotUnderstand);
    else if (targetStudy !== undefined && uids.study !== targetStudy) fail(FAILURE.studyMismatch);
    else if (mrn !== undefined && uids.patientId !== mrn) fail(FAILURE.refused);
    else {
      try {
        const instance = options.store.add(new Uint8Array(part));
        studies.add(instance.studyInstanceUid);
        stored.push({
          sopClassUid: instance.sopClassUid,
          sopInstanceUid: instance.sopInstanceUid,
          retrieveUrl: instanceUrl(options.dicomWebUrl, instance),
        });
        await options.onStored?.(instance);
      } catch {
        fail(FAILURE.cannotUnderstand);
      }
    }
  }
  const [onlyStudy] = studies;
  const studyUrl =
    studies.size === 1 && onlyStudy !== undefined ? `${options.dicomWebUrl}/studies/${onlyStudy}` : undefined;
  const status = failed.length === 0 ? 200 : stored.length === 0 ? 409 : 202;
  res.status(status);
  sendJson(res, buildStowResponse(studyUrl, stored, failed));
}

function p(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function query(req: Request): URLSearchParams {
  return new URL(req.originalUrl, 'http://localhost').searchParams;
}

function instanceOf(store: DicomStore, req: Request, res: Response): StoredInstance {
  visibleStudy(store, req, res);
  return store.getInstance(p(req, 'study'), p(req, 'series'), p(req, 'instance'));
}

function instanceUrl(base: string, instance: StoredInstance): string {
  return `${base}/studies/${instance.studyInstanceUid}/series/${instance.seriesInstanceUid}/instances/${instance.sopInstanceUid}`;
}

function metadataOf(instance: StoredInstance, base: string) {
  return datasetToDicomJson(instance.dataset, instanceUrl(base, instance));
}

function sendJson(res: Response, body: unknown): void {
  res.type(DICOM_JSON).send(JSON.stringify(body));
}

function handleFrames(store: DicomStore, req: Request, res: Response, base: string): void {
  const instance = instanceOf(store, req, res);
  const frameNumbers = parseFrameList(p(req, 'frames'));
  const payload = negotiateFrames(instance, req.headers.accept, frameNumbers);
  const partType = `${payload.mediaType}; transfer-syntax=${payload.transferSyntaxUid}`;
  const multipart = buildMultipartRelated(
    payload.mediaType,
    payload.frames.map((body, index) => ({
      contentType: partType,
      body,
      contentLocation: `${instanceUrl(base, instance)}/frames/${frameNumbers[index] ?? ''}`,
    })),
    payload.transferSyntaxUid,
  );
  res.type(multipart.contentType).send(multipart.body);
}

function handleBulkData(store: DicomStore, req: Request, res: Response): void {
  const instance = instanceOf(store, req, res);
  const tag = p(req, 'tag').toUpperCase();
  const element = instance.dataset[tag];
  if (!element?.Value) throw notAcceptable(`Instance ${instance.sopInstanceUid} has no bulk data at ${tag}`);
  const multipart = buildMultipartRelated('application/octet-stream', [
    {
      contentType: `application/octet-stream; transfer-syntax=${instance.transferSyntaxUid}`,
      body: concatBinary(element.Value),
    },
  ]);
  res.type(multipart.contentType).send(multipart.body);
}

/** PS3.18 §10.4.1.1.1: instances as stored; a request for another transfer syntax gets 406 (we do not transcode). */
function sendInstances(req: Request, res: Response, instances: StoredInstance[], base: string): void {
  const accepted = parseAccept(req.headers.accept);
  for (const instance of instances) {
    const ok =
      accepted.length === 0 ||
      accepted.some(
        ({ mediaType, transferSyntax }) =>
          (mediaType === 'application/dicom' || mediaType === '*/*') &&
          (transferSyntax === undefined || transferSyntax === '*' || transferSyntax === instance.transferSyntaxUid),
      );
    if (!ok) {
      throw notAcceptable(
        `Instance ${instance.sopInstanceUid} is stored as ${instance.transferSyntaxUid}; this mock does not transcode`,
      );
    }
  }
  const multipart = buildMultipartRelated(
    'application/dicom',
    instances.map((instance) => ({
      contentType: `application/dicom; transfer-syntax=${instance.transferSyntaxUid}`,
      body: instance.part10,
      contentLocation: instanceUrl(base, instance),
    })),
  );
  res.type(multipart.contentType).send(multipart.body);
}
