/**
 * `npm run analyze -- --dir DIR | --dicomweb URL --study UID [--json] [--out DIR] [--fhir-bundle FILE] [--sr FILE]
 *   [--model DIR] [--ep auto|cpu|webgpu|cuda]`
 *
 * For site imaging teams: analyzes a folder of DICOM files (any number of studies) or one study on a DICOMweb
 * server with the same pipeline the app uses. Prints one line per disc level; `--json` prints only the
 * findings JSON (a list when the folder holds several studies); `--out` writes the key slices as PNGs with
 * the findings drawn on them. Problems go to stderr, one line each, never a stack trace. Exit 0 when at
 * least one study was analyzed. DICOMweb credentials: DICOMWEB_TOKEN (bearer) or DICOMWEB_USER/DICOMWEB_PASSWORD.
 * `--fhir-bundle` and `--sr` write the FHIR transaction the app would send and the DICOM SR it would store
 * (pipeline/results-package.ts), for integration engineers to inspect; with several studies, each study's files
 * get its Study Instance UID before the extension.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { createDicomwebRetriever } from '../dicomweb/dicomweb-retriever';
import { EXECUTION_PROVIDERS, type ExecutionProviderSetting } from '../inference/execution-provider';
import { createDetectorSession } from '../inference/detector-session';
import { levelFindingToReportLine, type Findings, type LevelFinding } from '../findings/findings';
import { analyzeImages, type ImageAnalysis, type StudySource } from '../pipeline/analyze-images';
import { decoderFor, pipelineOptionsFromConfig } from '../pipeline/analyze-study';
import { loadDicomFolder } from '../pipeline/folder-source';
import { resultsPackage } from '../pipeline/results-package';
import { keySliceToPng } from './key-slice-png';

const USAGE =
  'usage: npm run analyze -- (--dir DIR | --dicomweb URL --study UID) [--json] [--out DIR] [--fhir-bundle FILE] [--sr FILE] [--model DIR] [--ep auto|cpu|webgpu|cuda]';

class UsageError extends Error {}

const oneLine = (error: unknown): string =>
  ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').slice(0, 500);

function describeLevel(finding: LevelFinding): string {
  const confidence = `confidence ${finding.confidence.toFixed(2)}`;
  return `  ${levelFindingToReportLine(finding)} (${confidence})`;
}

async function writeKeySlices(outDir: string, analysis: ImageAnalysis): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const finding of analysis.findings.levels) {
    const key = analysis.keySlices.find(
      (k) => k.ref.sopInstanceUid === finding.keySlice?.sopInstanceUid && k.ref.frame === finding.keySlice.frame,
    );
    if (!key) continue;
    const file = path.join(outDir, `${analysis.findings.studyInstanceUid}_${finding.level}.png`);
    await writeFile(file, keySliceToPng(key.image, finding));
    written.push(file);
  }
  return written;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      dicomweb: { type: 'string' },
      study: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      'fhir-bundle': { type: 'string' },
      sr: { type: 'string' },
      model: { type: 'string' },
      ep: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (Boolean(values.dir) === Boolean(values.dicomweb)) throw new UsageError('give either --dir or --dicomweb');
  if (values.dicomweb && !values.study) throw new UsageError('--dicomweb needs --study <StudyInstanceUID>');
  const config = loadConfig();
  const ep = (values.ep ?? config.INFERENCE_EP) as ExecutionProviderSetting;
  if (!EXECUTION_PROVIDERS.includes(ep)) throw new UsageError(`--ep must be one of ${EXECUTION_PROVIDERS.join(', ')}`);
  const info = (line: string): void => {
    if (!values.json) console.log(line);
  };

  const sources: { studyInstanceUid: string; source: StudySource }[] = [];
  if (values.dir) {
    const folder = await loadDicomFolder(values.dir, { maxFileBytes: config.MAX_DICOM_FILE_BYTES });
    for (const problem of folder.problems) console.error(`skipped ${problem.file}: ${problem.reason}`);
    info(`${folder.files} file(s) read, ${folder.problems.length} skipped, ${folder.studies.length} MR study(ies)`);
    sources.push(...folder.studies);
  } else if (values.dicomweb && values.study) {
    const token = process.env.DICOMWEB_TOKEN;
    const user = process.env.DICOMWEB_USER;
    sources.push({
      studyInstanceUid: values.study,
      source: createDicomwebRetriever(values.dicomweb, {
        ...(token ? { accessToken: token } : {}),
        ...(!token && user ? { basicAuth: { username: user, password: process.env.DICOMWEB_PASSWORD ?? '' } } : {}),
        timeoutMs: config.DICOMWEB_TIMEOUT_MS,
        concurrency: config.DICOMWEB_CONCURRENCY,
        retries: config.DICOMWEB_RETRIES,
      }),
    });
  }
  if (sources.length === 0) {
    console.error('error: no MR study to analyze');
    return 2;
  }

  const detector = await createDetectorSession(values.model ?? config.MODEL_DIR, undefined, {
    executionProvider: ep,
    batchSize: config.INFERENCE_BATCH,
  });
  info(`model ${detector.manifest.id} ${detector.manifest.version}, execution provider ${detector.executionProvider}`);

  const decoder = decoderFor(pipelineOptionsFromConfig(config).decode);
  const results: Findings[] = [];
  const model = {
    id: detector.manifest.id,
    version: detector.manifest.version,
    name: detector.manifest.name,
    intendedUse: detector.manifest.intendedUse,
    digest: detector.digest,
  };
  const perStudy = (file: string, studyInstanceUid: string): string => {
    if (sources.length === 1) return file;
    const { dir, name, ext } = path.parse(file);
    return path.join(dir, `${name}.${studyInstanceUid}${ext}`);
  };
  for (const { studyInstanceUid, source } of sources) {
    try {
      const started = performance.now();
      const analysis = await analyzeImages(source, studyInstanceUid, detector, {
        keepKeySlices: Boolean(values.out),
        decoder,
      });
      results.push(analysis.findings);
      info(
        `study ${studyInstanceUid}: series ${analysis.findings.seriesInstanceUid}, ${analysis.slices} slices, ${Math.round(performance.now() - started)} ms`,
      );
      for (const level of analysis.findings.levels) info(describeLevel(level));
      if (analysis.findings.levelAssignment) info(`  levels: ${analysis.findings.levelAssignment.description}`);
      for (const warning of analysis.findings.warnings) info(`  warning: ${warning}`);
      if (values.out) {
        const written = await writeKeySlices(values.out, analysis);
        info(`  ${written.length} key slice PNG(s) in ${values.out}`);
      }
      const bundleFile = values['fhir-bundle'];
      if (bundleFile || values.sr) {
        const results = resultsPackage(analysis.findings, analysis.instances, model, new Date());
        if (bundleFile) {
          const file = perStudy(bundleFile, studyInstanceUid);
          await writeFile(file, `${JSON.stringify(results.bundle, null, 2)}\n`);
          info(`  FHIR transaction Bundle in ${file}`);
        }
        if (values.sr && results.structuredReport) {
          const file = perStudy(values.sr, studyInstanceUid);
          await writeFile(file, results.structuredReport.part10);
          info(`  DICOM SR in ${file}`);
        }
      }
    } catch (error) {
      console.error(`study ${studyInstanceUid} not analyzed: ${oneLine(error)}`);
    }
  }
  await detector.release?.();
  await decoder.close();
  if (values.json && results.length > 0) {
    const single = values.dicomweb !== undefined || (results.length === 1 && sources.length === 1);
    console.log(JSON.stringify(single ? results[0] : results, null, 2));
  }
  return results.length > 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${oneLine(error)}`);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(USAGE);
    }
    process.exitCode = 2;
  },
);
