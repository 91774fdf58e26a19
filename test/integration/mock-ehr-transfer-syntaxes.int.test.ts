/**
 * The imaging pipeline against the mock EHR's DICOMweb (with a real SMART access token), on seeded studies stored
 * in several transfer syntaxes: frames come back as stored and every study's findings equal its ground truth.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { startMockEhr } from '../../mock-ehr/src/app';
import { generatePhantomStudy, type GeneratedStudy } from '../../models/synthetic';
import { createDicomwebRetriever } from '../../server/src/dicomweb/dicomweb-retriever';
import { createDetectorSession, type DetectorSession } from '../../server/src/inference/detector-session';
import { levelFindingToReportLine, type Findings } from '../../server/src/findings/findings';
import { analyzeImages } from '../../server/src/pipeline/analyze-images';
import { findFreePort } from '../../server/src/cli/free-port';
import { launchAndAuthorize } from '../support/smart-launch';
import { transcodePart10, type TranscodableSyntax } from '../../models/synthetic/transcode';

const SYNTAXES: TranscodableSyntax[] = ['1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.5', '1.2.840.10008.1.2.4.90'];

let ehr: Awaited<ReturnType<typeof startMockEhr>>;
let dataDir: string;
let detector: DetectorSession;
const generated = new Map<string, { study: GeneratedStudy; syntax: TranscodableSyntax }>();

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-ehr-ts-'));
  const port = await findFreePort();
  let index = 0;
  [ehr, detector] = await Promise.all([
    startMockEhr({
      port,
      appBaseUrl: 'http://localhost:1',
      dataDir,
      logger: pino({ level: 'silent' }),
      patientCount: SYNTAXES.length,
      generateStudy: (options) => {
        const syntax = SYNTAXES[index++ % SYNTAXES.length] ?? '1.2.840.10008.1.2.5';
        const study = generatePhantomStudy(options);
        generated.set(study.studyInstanceUid, { study, syntax });
        return {
          ...study,
          instances: study.instances.map((i) => ({ ...i, part10: transcodePart10(i.part10, syntax) })),
        };
      },
    }),
    createDetectorSession('models/msu-ldh-phantom/0.1.0', undefined, { executionProvider: 'cpu' }),
  ]);
}, 120_000);

afterAll(async () => {
  await ehr.close();
  await rm(dataDir, { recursive: true, force: true });
});

const lines = (findings: Findings | undefined): string[] => (findings?.levels ?? []).map(levelFindingToReportLine);

describe('when the mock EHR stores studies compressed in several transfer syntaxes', () => {
  it('then each is retrieved as stored over DICOMweb and gives its ground-truth findings', async () => {
    expect(ehr.seed.patients).toHaveLength(SYNTAXES.length);
    const seen = new Set<string>();
    for (const patient of ehr.seed.patients) {
      const token = await launchAndAuthorize({
        fhirBaseUrl: ehr.fhirBaseUrl,
        launch: ehr.createLaunch(patient.patientId),
        clientId: SMART_CLIENT_ID,
        redirectUri: 'http://localhost:1/index.html',
        scope: SMART_SCOPE,
      });
      const entry = generated.get(patient.studyInstanceUid);
      if (!entry) throw new Error(`no generated study ${patient.studyInstanceUid}`);
      const retriever = createDicomwebRetriever(ehr.dicomWebUrl, { accessToken: token.access_token });
      const [frame] = await retriever.retrieveFrames(patient.studyInstanceUid, patient.seriesInstanceUid, [
        { sopInstanceUid: entry.study.instances[0]?.sopInstanceUid ?? '', frame: 1 },
      ]);
      expect(frame?.transferSyntaxUid).toBe(entry.syntax);
      seen.add(entry.syntax);
      const { findings } = await analyzeImages(retriever, patient.studyInstanceUid, detector);
      expect(lines(findings)).toEqual(lines(entry.study.groundTruth));
    }
    expect([...seen].sort()).toEqual([...SYNTAXES].sort());
  });
});
