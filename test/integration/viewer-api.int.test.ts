/**
 * The viewer API (GET /api/stacks, /api/frames, /api/model, /api/model/card) against the real mock EHR (SMART tokens,
 * medplum FHIR, DICOMweb) and the real app server: two phantom studies analyzed with the phantom model, and one
 * realistic 512² study with its sagittal series analyzed with the default model. The viewer's app server counts its
 * DICOMweb requests through the retriever seam, to see what the cache saves and that another study's data never
 * leaves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { OperationOutcome } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy, generateSyntheticStudy, type GeneratedStudy } from '../../models/synthetic';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { startAppServer, type RunningServer } from '../../server/src/app';
import { findFreePort } from '../../server/src/cli/free-port';
import { loadConfig } from '../../server/src/config';
import { decodeFrame, pixelModuleFromMetadata } from '../../server/src/dicom/decode-frame';
import { getString } from '../../server/src/dicom/dicom-json';
import { createDicomwebRetriever, type DicomwebRetriever } from '../../server/src/dicomweb/dicomweb-retriever';
import type { Findings } from '../../server/src/findings/findings';
import { FRAME_HEADERS, type StudyStacks } from '../../server/src/findings/viewer';
import { modelVariant } from '../support/model-variant';
import { appTokenFor, seededPatient, startSandbox, type Sandbox } from '../support/sandbox';

let sandbox: Sandbox;
/** The viewer's app server: the default model, DICOMweb requests counted. */
let viewer: RunningServer;
let variantDir: string;
let variantApp: RunningServer;
const generated = new Map<string, GeneratedStudy>();
let realisticStudyUid = '';

/** WADO-RS requests the viewer's app server made, by `series` (metadata) and `sop/frame` (frames). */
const metadataRequests = new Map<string, number>();
const frameRequests = new Map<string, number>();

function countingRetriever(baseUrl: string, accessToken: string): DicomwebRetriever {
  const inner = createDicomwebRetriever(baseUrl, { accessToken });
  return {
    ...inner,
    retrieveSeriesMetadata(study, series) {
      metadataRequests.set(series, (metadataRequests.get(series) ?? 0) + 1);
      return inner.retrieveSeriesMetadata(study, series);
    },
    retrieveFrames(study, series, frames, transferSyntax) {
      for (const { sopInstanceUid, frame } of frames) {
        const key = `${sopInstanceUid}/${frame}`;
        frameRequests.set(key, (frameRequests.get(key) ?? 0) + 1);
      }
      return inner.retrieveFrames(study, series, frames, transferSyntax);
    },
  };
}

beforeAll(async () => {
  let seeded = 0;
  sandbox = await startSandbox({
    patientCount: 3,
    // Patients 1 and 2: phantoms (the phantom model finds their herniations exactly, fast); patient 3: a realistic
    // 512² study with a sagittal series, for the reference lines.
    generateStudy: (options) => {
      const study = seeded++ < 2 ? generatePhantomStudy(options) : generateSyntheticStudy({ ...options, matrix: 512 });
      if (seeded === 3) realisticStudyUid = study.studyInstanceUid;
      generated.set(study.studyInstanceUid, study);
      return study;
    },
    appEnv: { MODEL_DIR: TINY_MODEL_DIR, LOG_LEVEL: 'silent' },
  });
  viewer = await startAppServer(
    loadConfig({
      APP_PORT: String(await findFreePort()),
      FHIR_BASE_URLS: sandbox.ehr.fhirBaseUrl,
      LOG_LEVEL: 'silent',
      CDS_CLIENTS_FILE: '/nonexistent',
      CLIENT_DIST_DIR: '/nonexistent',
    }),
    { deps: { dicomweb: countingRetriever } },
  );
  // A site's model: the phantom networks under another manifest, outside the repository, without a model card.
  variantDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-site-model-'));
  await modelVariant(TINY_MODEL_DIR, variantDir, (manifest) => {
    manifest.id = 'site-ldh';
    manifest.version = '2.0.0';
    manifest.intendedUse = 'Grading of lumbar disc herniation, validated at the site.';
  });
  variantApp = await startAppServer(
    loadConfig({
      APP_PORT: String(await findFreePort()),
      FHIR_BASE_URLS: sandbox.ehr.fhirBaseUrl,
      MODEL_DIR: variantDir,
      LOG_LEVEL: 'silent',
      CDS_CLIENTS_FILE: '/nonexistent',
      CLIENT_DIST_DIR: '/nonexistent',
    }),
  );
}, 180_000);

afterAll(async () => {
  await variantApp.close();
  await viewer.close();
  await sandbox.close();
  await rm(variantDir, { recursive: true, force: true });
});

const patient = (index: number) => seededPatient(sandbox, index);
const tokenFor = (patientId: string): Promise<string> => appTokenFor(sandbox, patientId);

const headersFor = (token: string): Record<string, string> => ({
  Authorization: `Bearer ${token}`,
  'X-FHIR-Server': sandbox.ehr.fhirBaseUrl,
});

async function analyze(appUrl: string, imagingStudyId: string, token: string): Promise<Findings> {
  const response = await fetch(`${appUrl}/api/analyses`, {
    method: 'POST',
    // Answered when the analysis is done (RFC 7240), as before analyses became jobs.
    headers: { ...headersFor(token), 'Content-Type': 'application/json', Prefer: 'wait=600' },
    body: JSON.stringify({ imagingStudy: `ImagingStudy/${imagingStudyId}` }),
  });
  expect([200, 201], await response.clone().text()).toContain(response.status);
  return ((await response.json()) as { findings: Findings }).findings;
}

async function stacksOf(imagingStudyId: string, token: string): Promise<StudyStacks> {
  const response = await fetch(`${viewer.url}/api/stacks?imagingStudy=ImagingStudy/${imagingStudyId}`, {
    headers: headersFor(token),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as StudyStacks;
}

interface FrameQuery {
  imagingStudy: string;
  series: string;
  instance: string;
  frame: string | number;
}

const frameUrl = (query: Partial<FrameQuery>): string =>
  `${viewer.url}/api/frames?${new URLSearchParams(
    Object.entries(query).map(([key, value]) => [key, String(value)]),
  ).toString()}`;

async function diagnosticsOf(response: Response): Promise<string> {
  const outcome = (await response.json()) as OperationOutcome;
  return outcome.issue[0]?.diagnostics ?? '';
}

describe('when a phantom study has been analyzed', () => {
  let token: string;
  let findings: Findings;
  let stacks: StudyStacks;

  beforeAll(async () => {
    token = await tokenFor(patient(0).patientId);
    findings = await analyze(sandbox.app.url, patient(0).imagingStudyId, token);
    stacks = await stacksOf(patient(0).imagingStudyId, token);
  });

  it('then GET /api/stacks has a stack for every assessed level, each holding its key slice, in position order', () => {
    expect(stacks.studyInstanceUid).toBe(patient(0).studyInstanceUid);
    expect(stacks.seriesInstanceUid).toBe(findings.seriesInstanceUid);
    expect(stacks.levels.map((level) => level.level)).toEqual(findings.levels.map((level) => level.level));
    const axial = generated.get(patient(0).studyInstanceUid)?.instances.map((instance) => instance.sopInstanceUid);
    for (const level of stacks.levels) {
      const key = findings.levels.find((finding) => finding.level === level.level)?.keySlice;
      expect(level.slices.some((s) => s.sopInstanceUid === key?.sopInstanceUid && s.frame === key.frame)).toBe(true);
      expect(level.slices.length).toBeGreaterThan(1);
      for (const slice of level.slices) expect(axial).toContain(slice.sopInstanceUid);
      const positions = level.slices.map((slice) => slice.position);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(new Set(positions).size).toBe(positions.length);
    }
    // The phantom's slices lie 4 mm apart inside a stack.
    const first = stacks.levels[0]?.slices ?? [];
    expect((first[1]?.position ?? 0) - (first[0]?.position ?? 0)).toBeCloseTo(4, 3);
  });

  it('then a key slice frame decodes to the size and values of the pipeline decoding the WADO-RS frame itself', async () => {
    const key = findings.levels[0]?.keySlice;
    if (!key) throw new Error('no key slice');
    const response = await fetch(
      frameUrl({
        imagingStudy: `ImagingStudy/${patient(0).imagingStudyId}`,
        series: stacks.seriesInstanceUid,
        instance: key.sopInstanceUid,
        frame: key.frame,
      }),
      { headers: headersFor(token) },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('cache-control')).toBe('private, max-age=3600');
    expect(response.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const columns = Number(response.headers.get(FRAME_HEADERS.columns));
    const rows = Number(response.headers.get(FRAME_HEADERS.rows));
    const values = new Float32Array(await response.arrayBuffer());

    const direct = createDicomwebRetriever(sandbox.ehr.dicomWebUrl, { accessToken: token });
    const metadata = await direct.retrieveSeriesMetadata(stacks.studyInstanceUid, stacks.seriesInstanceUid);
    const meta = metadata.find((instance) => getString(instance, 'SOPInstanceUID') === key.sopInstanceUid);
    if (!meta) throw new Error('key slice not in the series metadata');
    const [frame] = await direct.retrieveFrames(stacks.studyInstanceUid, stacks.seriesInstanceUid, [key]);
    if (!frame) throw new Error('no frame');
    const expected = await decodeFrame(frame.bytes, pixelModuleFromMetadata(meta), frame.transferSyntaxUid);

    expect([columns, rows]).toEqual([expected.width, expected.height]);
    expect(values.length).toBe(expected.width * expected.height);
    let different = 0;
    for (let i = 0; i < values.length; i++) if (values[i] !== expected.pixels[i]) different++;
    expect(different).toBe(0);
    expect(response.headers.get(FRAME_HEADERS.pixelSpacing)).toMatch(/^[0-9.]+,[0-9.]+$/);
    const center = Number(response.headers.get(FRAME_HEADERS.windowCenter));
    const width = Number(response.headers.get(FRAME_HEADERS.windowWidth));
    expect(Number.isFinite(center)).toBe(true);
    expect(width).toBeGreaterThan(0);
  });

  it('then a second request for the frame is answered from the cache, and one with its ETag is 304', async () => {
    const slice = stacks.levels[1]?.slices[0];
    if (!slice) throw new Error('no slice');
    const url = frameUrl({
      imagingStudy: `ImagingStudy/${patient(0).imagingStudyId}`,
      series: stacks.seriesInstanceUid,
      instance: slice.sopInstanceUid,
      frame: slice.frame,
    });
    const key = `${slice.sopInstanceUid}/${slice.frame}`;
    const before = frameRequests.get(key) ?? 0;
    const first = await fetch(url, { headers: headersFor(token) });
    const firstBytes = new Uint8Array(await first.arrayBuffer());
    const second = await fetch(url, { headers: headersFor(token) });
    const secondBytes = new Uint8Array(await second.arrayBuffer());
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(Buffer.compare(firstBytes, secondBytes)).toBe(0);
    expect((frameRequests.get(key) ?? 0) - before).toBe(1);
    const etag = first.headers.get('etag') ?? '';
    const revalidated = await fetch(url, { headers: { ...headersFor(token), 'If-None-Match': etag } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect((frameRequests.get(key) ?? 0) - before).toBe(1);
  });

  it('then a stack prefetched in parallel, twice, fetches each frame and the series metadata once', async () => {
    const level = stacks.levels[2];
    if (!level) throw new Error('no third stack');
    const metadataBefore = metadataRequests.get(stacks.seriesInstanceUid) ?? 0;
    const fetchAll = () =>
      Promise.all(
        level.slices.map(async (slice) => {
          const response = await fetch(
            frameUrl({
              imagingStudy: `ImagingStudy/${patient(0).imagingStudyId}`,
              series: stacks.seriesInstanceUid,
              instance: slice.sopInstanceUid,
              frame: slice.frame,
            }),
            { headers: headersFor(token) },
          );
          expect(response.status).toBe(200);
          return (await response.arrayBuffer()).byteLength;
        }),
      );
    const before = level.slices.map((slice) => frameRequests.get(`${slice.sopInstanceUid}/${slice.frame}`) ?? 0);
    await Promise.all([fetchAll(), fetchAll()]);
    const after = level.slices.map((slice) => frameRequests.get(`${slice.sopInstanceUid}/${slice.frame}`) ?? 0);
    expect(after.map((count, i) => count - (before[i] ?? 0))).toEqual(level.slices.map(() => 1));
    // GET /api/stacks already read the series metadata with this token: no frame request reads it again.
    expect((metadataRequests.get(stacks.seriesInstanceUid) ?? 0) - metadataBefore).toBe(0);
  });

  it("then a frame of another patient's study is refused and nothing of that study is fetched", async () => {
    const other = patient(1);
    const otherInstance = generated.get(other.studyInstanceUid)?.instances[0];
    if (!otherInstance) throw new Error('no other study');
    const otherKey = `${otherInstance.sopInstanceUid}/1`;
    // The other study's series named under this patient's study.
    const smuggled = await fetch(
      frameUrl({
        imagingStudy: `ImagingStudy/${patient(0).imagingStudyId}`,
        series: other.seriesInstanceUid,
        instance: otherInstance.sopInstanceUid,
        frame: 1,
      }),
      { headers: headersFor(token) },
    );
    expect(smuggled.status).toBe(404);
    expect(smuggled.headers.get('content-type')).toContain('application/fhir+json');
    expect(await diagnosticsOf(smuggled)).toContain(`Series ${other.seriesInstanceUid} is not part of`);
    // The other study itself, which this patient's token cannot read.
    const direct = await fetch(
      frameUrl({
        imagingStudy: `ImagingStudy/${other.imagingStudyId}`,
        series: other.seriesInstanceUid,
        instance: otherInstance.sopInstanceUid,
        frame: 1,
      }),
      { headers: headersFor(token) },
    );
    expect([403, 404]).toContain(direct.status);
    expect(direct.headers.get('content-type')).toContain('application/fhir+json');
    expect(frameRequests.get(otherKey)).toBeUndefined();
    expect(metadataRequests.get(other.seriesInstanceUid)).toBeUndefined();
  });

  it('then every bad parameter is a 400 that names it', async () => {
    const good: FrameQuery = {
      imagingStudy: `ImagingStudy/${patient(0).imagingStudyId}`,
      series: stacks.seriesInstanceUid,
      instance: stacks.levels[0]?.slices[0]?.sopInstanceUid ?? '',
      frame: 1,
    };
    const cases: [Partial<FrameQuery>, string][] = [
      [{ ...good, imagingStudy: 'Patient/1' }, '"imagingStudy"'],
      [{ ...good, series: '1.2.abc' }, '"series"'],
      [{ ...good, series: `1.${'2'.repeat(64)}` }, '"series"'],
      [{ ...good, instance: '1..2' }, '"instance"'],
      [{ imagingStudy: good.imagingStudy, series: good.series, frame: 1 }, '"instance"'],
      [{ ...good, frame: 0 }, '"frame"'],
      [{ ...good, frame: '1.5' }, '"frame"'],
      [{ ...good, frame: 'first' }, '"frame"'],
      [{ ...good, frame: 2 }, '"frame"'],
    ];
    for (const [query, named] of cases) {
      const response = await fetch(frameUrl(query), { headers: headersFor(token) });
      expect(response.status, JSON.stringify(query)).toBe(400);
      expect(await diagnosticsOf(response)).toContain(named);
    }
    const stacksResponse = await fetch(`${viewer.url}/api/stacks?imagingStudy=nonsense`, {
      headers: headersFor(token),
    });
    expect(stacksResponse.status).toBe(400);
    expect(await diagnosticsOf(stacksResponse)).toContain('"imagingStudy"');
  });

  it('then a request without a token is 401 and one from an untrusted FHIR server 403', async () => {
    const study = `ImagingStudy/${patient(0).imagingStudyId}`;
    for (const url of [
      `${viewer.url}/api/stacks?imagingStudy=${study}`,
      frameUrl({ imagingStudy: study, series: stacks.seriesInstanceUid, instance: '1.2.3', frame: 1 }),
    ]) {
      const anonymous = await fetch(url, { headers: { 'X-FHIR-Server': sandbox.ehr.fhirBaseUrl } });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      const untrusted = await fetch(url, {
        headers: { ...headersFor(token), 'X-FHIR-Server': 'https://elsewhere.example/fhir' },
      });
      expect(untrusted.status).toBe(403);
    }
  });
});

describe('when a study has no stored analysis', () => {
  it('then GET /api/stacks is 404 with a sentence', async () => {
    const token = await tokenFor(patient(1).patientId);
    const response = await fetch(`${viewer.url}/api/stacks?imagingStudy=ImagingStudy/${patient(1).imagingStudyId}`, {
      headers: headersFor(token),
    });
    expect(response.status).toBe(404);
    expect(await diagnosticsOf(response)).toBe(
      `No ldh-cds analysis is stored for ImagingStudy/${patient(1).imagingStudyId}`,
    );
  });
});

describe('when a realistic study with a sagittal series has been analyzed with the default model', () => {
  let token: string;
  let stacks: StudyStacks;
  let findings: Findings;
  let imagingStudyId: string;

  beforeAll(async () => {
    const realistic = sandbox.ehr.seed.patients.find((p) => p.studyInstanceUid === realisticStudyUid);
    if (!realistic) throw new Error('no realistic study seeded');
    imagingStudyId = realistic.imagingStudyId;
    token = await tokenFor(realistic.patientId);
    findings = await analyze(viewer.url, imagingStudyId, token);
    stacks = await stacksOf(imagingStudyId, token);
  }, 300_000);

  it('then every assessed level has its stack and the sagittal image has one line per axial slice, inside it', async () => {
    expect(stacks.levels.map((level) => level.level)).toEqual(
      findings.levels.filter((level) => level.keySlice).map((level) => level.level),
    );
    const sagittal = stacks.sagittal;
    if (!sagittal) throw new Error('no sagittal reference');
    const response = await fetch(
      frameUrl({
        imagingStudy: `ImagingStudy/${imagingStudyId}`,
        series: sagittal.seriesInstanceUid,
        instance: sagittal.sopInstanceUid,
        frame: sagittal.frame,
      }),
      { headers: headersFor(token) },
    );
    expect(response.status).toBe(200);
    const width = Number(response.headers.get(FRAME_HEADERS.columns));
    const height = Number(response.headers.get(FRAME_HEADERS.rows));
    expect((await response.arrayBuffer()).byteLength).toBe(width * height * 4);
    const slices = stacks.levels.flatMap((level) => level.slices);
    expect(sagittal.lines.map((line) => `${line.sopInstanceUid}/${line.frame}`)).toEqual(
      slices.map((slice) => `${slice.sopInstanceUid}/${slice.frame}`),
    );
    for (const { line } of sagittal.lines) {
      for (const [column, row] of line) {
        expect(column).toBeGreaterThanOrEqual(0);
        expect(column).toBeLessThanOrEqual(width);
        expect(row).toBeGreaterThanOrEqual(0);
        expect(row).toBeLessThanOrEqual(height);
      }
      // Across the spine, not a point.
      expect(Math.hypot(line[1][0] - line[0][0], line[1][1] - line[0][1])).toBeGreaterThan(width / 4);
    }
  });

  it('then the lines are ordered like the stack positions: up the image as the slices go superior', () => {
    const lineOf = new Map(stacks.sagittal?.lines.map((line) => [`${line.sopInstanceUid}/${line.frame}`, line.line]));
    /** The line's mean row: its height on the image. */
    const midRow = (key: string): number => {
      const line = lineOf.get(key);
      if (!line) throw new Error(`no line for ${key}`);
      return (line[0][1] + line[1][1]) / 2;
    };
    const levelRows: number[] = [];
    for (const level of stacks.levels) {
      const rows = level.slices.map((slice) => midRow(`${slice.sopInstanceUid}/${slice.frame}`));
      // Positions increase superior; the sagittal image's rows run inferior (LPS, column cosine −z).
      for (let i = 1; i < rows.length; i++) expect(rows[i]).toBeLessThan(rows[i - 1] ?? Infinity);
      levelRows.push(rows.reduce((sum, row) => sum + row, 0) / rows.length);
    }
    // L1-L2 … L5-S1: each level lower on the image than the one above.
    for (let i = 1; i < levelRows.length; i++) expect(levelRows[i]).toBeGreaterThan(levelRows[i - 1] ?? Infinity);
  });
});

describe('when the panel asks about the model', () => {
  it('then GET /api/model names the bundled demo model and GET /api/model/card serves its card', async () => {
    const model = await fetch(`${viewer.url}/api/model`);
    expect(model.status).toBe(200);
    const info = (await model.json()) as Record<string, unknown>;
    expect(info).toMatchObject({ id: 'msu-ldh', version: '1.8.0', bundled: true, card: '/api/model/card' });
    expect(info.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(info.intendedUse).toContain('not for clinical use');
    const card = await fetch(`${viewer.url}/api/model/card`);
    expect(card.status).toBe(200);
    expect(card.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(await card.text()).toContain('# msu-ldh 1.8.0: model card');
  });

  it("then a site's model outside the repository is not bundled, and its missing card is a 404 with a sentence", async () => {
    const info = (await (await fetch(`${variantApp.url}/api/model`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ id: 'site-ldh', version: '2.0.0', bundled: false });
    const card = await fetch(`${variantApp.url}/api/model/card`);
    expect(card.status).toBe(404);
    expect(await diagnosticsOf(card)).toBe('The model in use has no model card (MODEL_CARD.md in its folder).');
  });
});
