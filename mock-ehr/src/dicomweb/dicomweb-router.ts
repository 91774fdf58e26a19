/**
 * DICOMweb at `{base}/dicom-web` (PS3.18): QIDO-RS searches and WADO-RS retrieval of metadata, frames, bulk data
 * and instances. Protected by the same SMART bearer token as FHIR (the EHR is one security domain).
 */
import type { Request, Response } from 'express';
import type { TokenIssuer } from '../auth/tokens';
import { requireBearer } from '../http/bearer';
import { notAcceptable } from '../http/errors';
import { buildRouter, type Route } from '../http/route-table';
import { datasetToDicomJson, concatBinary } from './dicom-json';
import { sortedInstances, type DicomStore, type StoredInstance } from './dicom-store';
import { negotiateFrames, parseAccept, parseFrameList } from './frames';
import { buildMultipartRelated } from './multipart';
import { parseQidoQuery, searchInstances, searchSeries, searchStudies } from './qido';

const DICOM_JSON = 'application/dicom+json';

export interface DicomWebRouterOptions {
  store: DicomStore;
  tokens: TokenIssuer;
  dicomWebUrl: string;
}

export function buildDicomWebRouter(options: DicomWebRouterOptions) {
  const { store, dicomWebUrl: base } = options;
  const S = '/studies/:study';
  const SE = `${S}/series/:series`;
  const I = `${SE}/instances/:instance`;
  const routes: Route[] = [
    {
      method: 'get',
      path: '/studies',
      handler: (req, res) => {
        sendJson(res, searchStudies(store.listStudies(), parseQidoQuery(query(req), ['study']), base));
      },
      spec: 'QIDO-RS SearchForStudies (PS3.18 §10.6)',
    },
    {
      method: 'get',
      path: `${S}/series`,
      handler: (req, res) => {
        sendJson(res, searchSeries(store.getStudy(p(req, 'study')), parseQidoQuery(query(req), ['series']), base));
      },
      spec: 'QIDO-RS SearchForSeries',
    },
    {
      method: 'get',
      path: `${S}/instances`,
      handler: (req, res) => {
        const study = store.getStudy(p(req, 'study'));
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
            store.getStudy(p(req, 'study')),
            [store.getSeries(p(req, 'study'), p(req, 'series'))],
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
          [...store.getStudy(p(req, 'study')).series.values()].flatMap((series) =>
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
          sortedInstances(store.getSeries(p(req, 'study'), p(req, 'series'))).map((i) => metadataOf(i, base)),
        );
      },
      spec: 'WADO-RS RetrieveSeriesMetadata',
    },
    {
      method: 'get',
      path: `${I}/metadata`,
      handler: (req, res) => {
        sendJson(res, [metadataOf(instanceOf(store, req), base)]);
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
        sendInstances(req, res, [instanceOf(store, req)], base);
      },
      spec: 'WADO-RS RetrieveInstance (multipart application/dicom)',
    },
    {
      method: 'get',
      path: SE,
      handler: (req, res) => {
        sendInstances(req, res, sortedInstances(store.getSeries(p(req, 'study'), p(req, 'series'))), base);
      },
      spec: 'WADO-RS RetrieveSeries',
    },
    {
      method: 'get',
      path: S,
      handler: (req, res) => {
        sendInstances(req, res, [...store.getStudy(p(req, 'study')).series.values()].flatMap(sortedInstances), base);
      },
      spec: 'WADO-RS RetrieveStudy',
    },
  ];
  return buildRouter(routes, [requireBearer(options.tokens)]);
}

function p(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function query(req: Request): URLSearchParams {
  return new URL(req.originalUrl, 'http://localhost').searchParams;
}

function instanceOf(store: DicomStore, req: Request): StoredInstance {
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
  const instance = instanceOf(store, req);
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
  const instance = instanceOf(store, req);
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
