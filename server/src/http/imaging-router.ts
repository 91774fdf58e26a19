/**
 * The viewer API, one table of routes (docs/architecture.md §Viewer API):
 *   GET /api/stacks?imagingStudy=ImagingStudy/<id>     the analyzed series' stacks by level, and the sagittal
 *                                                      reference lines (StudyStacks, findings/viewer.ts)
 *   GET /api/frames?imagingStudy=…&series=…&instance=…&frame=…   one frame: little-endian Float32 modality values,
 *                                                      row by row, with FRAME_HEADERS
 *   GET /api/model                                     the model in use (ModelInfo + its card's URL)
 *   GET /api/model/card                                its MODEL_CARD.md
 * Stacks and frames need `Authorization: Bearer <SMART access token>` and `X-FHIR-Server: <trusted FHIR base>`: the
 * images come through us with the user's token because PACSs rarely allow browser CORS; the token is verified first,
 * and a patient-scoped token sees its own patient's studies only. The model routes carry no PHI and need neither.
 */
import { Router, type RequestHandler } from 'express';
import { FRAME_HEADERS } from '../findings/viewer';
import { parseImagingStudyReference } from '../pipeline/imaging-study';
import { readModelCard, readModelInfo } from '../pipeline/model-info';
import { openFrame, parseFrameParameter, parseUidParameter } from '../pipeline/study-frames';
import { readStudyStacks } from '../pipeline/study-stacks';
import { createViewerCache, type ViewerCache } from '../pipeline/viewer-cache';
import type { ViewerDependencies } from '../pipeline/viewer-study';
import { imagingOriginsOf, type TrustedEhr } from '../trusted-ehrs';
import { verifiedCaller } from './analyses-router';
import { patientRestrictionOf } from './smart-user';
import type { TokenVerifier } from './token-verifier';

export interface ImagingRouterOptions {
  trustedFhirBaseUrls: readonly string[];
  /** Each trusted FHIR base with its imaging origins: the DICOMweb servers that may get the caller's token. */
  ehrs: readonly TrustedEhr[];
  modelDir: string;
  /** Verifies the caller's token at its EHR before any work (introspection or JWKS, per EHR). */
  tokens: TokenVerifier;
  deps: ViewerDependencies;
  /** The decoded-frame and metadata cache (default: 256 MiB of frames, 64 MiB of metadata). */
  cache?: ViewerCache;
}

export const MODEL_CARD_PATH = '/api/model/card';

/** A frame never changes under its UIDs: the browser keeps it for the session's hour, for this user only. */
const FRAME_CACHE_CONTROL = 'private, max-age=3600';

export function imagingRouter(options: ImagingRouterOptions): Router {
  const cache = options.cache ?? createViewerCache();

  const handleGetStacks: RequestHandler = async (req, res) => {
    const { caller, user } = await verifiedCaller(req, res, options);
    const imagingStudy = parseImagingStudyReference(req.query.imagingStudy);
    const imagingOrigins = imagingOriginsOf(options.ehrs, caller.fhirBaseUrl);
    const patientRestriction = patientRestrictionOf(user);
    res.json(
      await readStudyStacks({ ...caller, imagingStudy, imagingOrigins, patientRestriction }, options.deps, cache),
    );
  };

  const handleGetFrame: RequestHandler = async (req, res) => {
    const { caller, user } = await verifiedCaller(req, res, options);
    const imagingStudy = parseImagingStudyReference(req.query.imagingStudy);
    const seriesInstanceUid = parseUidParameter('series', req.query.series);
    const sopInstanceUid = parseUidParameter('instance', req.query.instance);
    const frameNumber = parseFrameParameter(req.query.frame);
    const imagingOrigins = imagingOriginsOf(options.ehrs, caller.fhirBaseUrl);
    const frame = await openFrame(
      {
        ...caller,
        imagingStudy,
        imagingOrigins,
        patientRestriction: patientRestrictionOf(user),
        seriesInstanceUid,
        sopInstanceUid,
        frame: frameNumber,
      },
      options.deps,
      cache,
    );
    res.set({
      ETag: frame.etag,
      'Cache-Control': FRAME_CACHE_CONTROL,
      // Another user of the same browser profile sends another token: not this response.
      Vary: 'Authorization, X-FHIR-Server',
    });
    // RFC 9110 §13.1.2: a matching If-None-Match is answered 304 without fetching the frame. (Express's req.fresh
    // would not: it treats a request's `Cache-Control: no-cache`, which fetch() adds to conditional requests, as a
    // reload.)
    if (ifNoneMatchMatches(req.get('if-none-match'), frame.etag)) {
      res.status(304).end();
      return;
    }
    const image = await frame.read();
    res.set({
      'Content-Type': 'application/octet-stream',
      [FRAME_HEADERS.columns]: String(image.columns),
      [FRAME_HEADERS.rows]: String(image.rows),
      [FRAME_HEADERS.windowCenter]: String(image.windowCenter),
      [FRAME_HEADERS.windowWidth]: String(image.windowWidth),
      ...(image.pixelSpacing ? { [FRAME_HEADERS.pixelSpacing]: image.pixelSpacing.join(',') } : {}),
    });
    res.send(Buffer.from(image.body.buffer, image.body.byteOffset, image.body.byteLength));
  };

  const handleGetModel: RequestHandler = async (_req, res) => {
    res.json({ ...(await readModelInfo(options.modelDir)), card: MODEL_CARD_PATH });
  };

  const handleGetModelCard: RequestHandler = async (_req, res) => {
    res.type('text/markdown; charset=utf-8').send(await readModelCard(options.modelDir));
  };

  const router = Router();
  router.get('/api/stacks', handleGetStacks);
  router.get('/api/frames', handleGetFrame);
  router.get('/api/model', handleGetModel);
  router.get(MODEL_CARD_PATH, handleGetModelCard);
  return router;
}

/** RFC 9110 §13.1.2: `*`, or any listed entity tag equal to ours under the weak comparison (W/ ignored). */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}
