/**
 * The imaging pipeline against a real PACS: Orthanc (Debian orthanc + orthanc-dicomweb) started by the test on
 * loopback with a bearer-token filter. Phantom studies are stored in several transfer syntaxes (DCMTK/GDCM
 * transcodes); each is retrieved as stored (`transfer-syntax=*`), decoded by us, and must give the ground
 * truth's findings — lossless transcodes change nothing. Wrong credentials and unknown series fail at once with
 * a message that says what is wrong.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { generatePhantomStudy, generateSyntheticStudy, type GeneratedStudy } from '../../models/synthetic';
import { createDecodePool } from '../../server/src/dicom/decode-pool';
import { createDicomwebRetriever } from '../../server/src/dicomweb/dicomweb-retriever';
import { createDetectorSession, type DetectorSession } from '../../server/src/inference/detector-session';
import { levelFindingToReportLine, type Findings } from '../../server/src/findings/findings';
import { analyzeImages } from '../../server/src/pipeline/analyze-images';
import { structuredReportOf } from '../../server/src/pipeline/structured-report';
import { structuredReportToFindings } from '../../server/src/sr/read-structured-report';
import { UpstreamRequestError } from '../../server/src/upstream/upstream-request-error';
import { startOrthanc, type RunningOrthanc } from '../../server/src/cli/orthanc';
import { transcodeMany, type TranscodableSyntax } from '../../models/synthetic/transcode';

const TOKEN = 'orthanc-test-token';
const SYNTAXES: (TranscodableSyntax | 'stored')[] = [
  'stored',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.70',
];

let dir: string;
let orthanc: RunningOrthanc;
let detector: DetectorSession;
const studies = new Map<string, GeneratedStudy>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-orthanc-'));
  [orthanc, detector] = await Promise.all([
    startOrthanc({ dir, bearerToken: TOKEN }),
    createDetectorSession('models/msu-ldh-phantom/0.1.0', undefined, { executionProvider: 'cpu' }),
  ]);
  for (const [i, syntax] of SYNTAXES.entries()) {
    // Seeds 3 and 4 have herniations; every syntax gets a different study so nothing is shared by accident.
    const study = generatePhantomStudy({ seed: 3 + i, patientId: `ORTHANC-${i}` });
    studies.set(syntax, study);
    const originals = study.instances.map((instance) => instance.part10);
    const files = syntax === 'stored' ? originals : await transcodeMany(originals, syntax);
    await Promise.all(files.map((file) => orthanc.upload(file)));
  }
});

afterAll(async () => {
  await orthanc.close();
  await rm(dir, { recursive: true, force: true });
});

/** The Part 10 file Orthanc holds for a SOP Instance UID (its REST API: /tools/lookup, /instances/{id}/file). */
async function downloadFromOrthanc(sopInstanceUid: string): Promise<Uint8Array> {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  const lookup = (await (
    await fetch(`${orthanc.restUrl}/tools/lookup`, { method: 'POST', headers, body: sopInstanceUid })
  ).json()) as { ID: string; Type: string }[];
  const id = lookup.find((item) => item.Type === 'Instance')?.ID;
  if (!id) throw new Error(`Orthanc holds no instance ${sopInstanceUid}`);
  return new Uint8Array(await (await fetch(`${orthanc.restUrl}/instances/${id}/file`, { headers })).arrayBuffer());
}

const reportLines = (findings: Findings | undefined): string[] =>
  (findings?.levels ?? []).map(levelFindingToReportLine);

describe('when phantom studies stored in Orthanc in several transfer syntaxes are analyzed over DICOMweb', () => {
  it.each(SYNTAXES)(
    'then the %s study gives the ground-truth findings, decoded from frames as stored',
    async (syntax) => {
      const study = studies.get(syntax);
      if (!study) throw new Error(`no study for ${syntax}`);
      const retriever = createDicomwebRetriever(orthanc.dicomWebUrl, { accessToken: TOKEN });
      const first = study.instances[0];
      const [frame] = await retriever.retrieveFrames(study.studyInstanceUid, study.seriesInstanceUid, [
        { sopInstanceUid: first?.sopInstanceUid ?? '', frame: 1 },
      ]);
      expect(frame?.transferSyntaxUid).toBe(syntax === 'stored' ? '1.2.840.10008.1.2.1' : syntax);

      const { findings } = await analyzeImages(retriever, study.studyInstanceUid, detector);
      expect(findings.seriesInstanceUid).toBe(study.seriesInstanceUid);
      expect(reportLines(findings)).toEqual(reportLines(study.groundTruth));
    },
  );
});

describe('when an analysis stores its DICOM SR in the PACS (STOW-RS)', () => {
  it('then QIDO finds the SR series in the study, and the SR read back holds the findings', async () => {
    const study = studies.get('stored');
    if (!study) throw new Error('no stored study');
    const retriever = createDicomwebRetriever(orthanc.dicomWebUrl, { accessToken: TOKEN });
    const { findings, instances } = await analyzeImages(retriever, study.studyInstanceUid, detector);
    const sr = structuredReportOf(findings, instances, new Date());
    await retriever.storeInstances?.(study.studyInstanceUid, [sr.part10]);
    // Stored twice (a retried analysis): the PACS still holds one SR, the UIDs being the analysis's own.
    await retriever.storeInstances?.(study.studyInstanceUid, [
      structuredReportOf(findings, instances, new Date()).part10,
    ]);
    const series = await retriever.searchForSeries(study.studyInstanceUid);
    const srSeries = series.filter((item) => item['00080060']?.Value?.[0] === 'SR');
    expect(srSeries.map((item) => item['0020000E']?.Value?.[0])).toEqual([sr.seriesInstanceUid]);
    const [metadata] = await retriever.retrieveSeriesMetadata(study.studyInstanceUid, sr.seriesInstanceUid);
    expect(metadata?.['00080018']?.Value?.[0]).toBe(sr.sopInstanceUid);
    const stored = await downloadFromOrthanc(sr.sopInstanceUid);
    expect(structuredReportToFindings(stored).levels.map(levelFindingToReportLine)).toEqual(reportLines(findings));
  });
});

describe('when a realistic study in 12-bit lossy JPEG, whose axial series stops above L5-S1, is analyzed over DICOMweb', () => {
  it('then its frames are decoded in the worker pool and its levels are found on the sagittal series', async () => {
    const study = generateSyntheticStudy({ seed: 1, patientId: 'ORTHANC-SAG' });
    const l5s1 = new Set(study.groundTruth.levels.find((level) => level.level === 'L5-S1')?.sopInstanceUids);
    const kept = study.instances.filter((instance) => !l5s1.has(instance.sopInstanceUid));
    const files = await transcodeMany(
      kept.map((instance) => instance.part10),
      '1.2.840.10008.1.2.4.51',
    );
    await Promise.all(files.map((file) => orthanc.upload(file)));
    const retriever = createDicomwebRetriever(orthanc.dicomWebUrl, { accessToken: TOKEN });
    const decoder = createDecodePool({ threads: 2 });
    try {
      const [frame] = await retriever.retrieveFrames(study.studyInstanceUid, study.seriesInstanceUid, [
        { sopInstanceUid: kept[0]?.sopInstanceUid ?? '', frame: 1 },
      ]);
      expect(frame?.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.51');
      const { findings } = await analyzeImages(retriever, study.studyInstanceUid, detector, { decoder });
      expect(findings.levels.map((level) => level.level)).toEqual(['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5']);
      expect(findings.levelAssignment?.method).toBe('sagittal-cross-reference');
      const truthKeySlices = new Map(study.groundTruth.levels.map((level) => [level.level, level.sopInstanceUids]));
      for (const level of findings.levels)
        expect(truthKeySlices.get(level.level)).toContain(level.keySlice?.sopInstanceUid);
    } finally {
      await decoder.close();
    }
  });
});

describe('when an imaging team runs the command line against the PACS', () => {
  it('then `analyze --dicomweb URL --study UID --json` prints the study findings', async () => {
    const study = studies.get('1.2.840.10008.1.2.4.80');
    const { stdout } = await promisify(execFile)(
      path.resolve('node_modules/.bin/tsx'),
      [
        'server/src/cli/analyze-cli.ts',
        '--dicomweb',
        orthanc.dicomWebUrl,
        '--study',
        study?.studyInstanceUid ?? '',
        '--json',
      ],
      { env: { ...process.env, DICOMWEB_TOKEN: TOKEN, INFERENCE_EP: 'cpu', MODEL_DIR: TINY_MODEL_DIR } },
    );
    expect(reportLines(JSON.parse(stdout) as Findings)).toEqual(reportLines(study?.groundTruth));
  });
});

describe('when the DICOMweb request is refused', () => {
  it('then a wrong token fails at once with HTTP 403 and says the credentials are not allowed', async () => {
    const retriever = createDicomwebRetriever(orthanc.dicomWebUrl, { accessToken: 'wrong', retries: 3 });
    const study = studies.get('stored');
    const started = Date.now();
    const error = await retriever.searchForSeries(study?.studyInstanceUid ?? '').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamRequestError);
    expect((error as UpstreamRequestError).status).toBe(403);
    expect((error as Error).message).toMatch(/HTTP 403 \(the credentials are not allowed/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('then an unknown series fails with HTTP 404 naming what is missing', async () => {
    const retriever = createDicomwebRetriever(orthanc.dicomWebUrl, { accessToken: TOKEN });
    const study = studies.get('stored');
    const error = await retriever
      .retrieveSeriesMetadata(study?.studyInstanceUid ?? '', '1.2.3.4.5.404')
      .catch((e: unknown) => e);
    expect((error as UpstreamRequestError).status).toBe(404);
    expect((error as Error).message).toMatch(
      /metadata of series 1\.2\.3\.4\.5\.404 failed with HTTP 404 \(.*does not exist/,
    );
  });
});
