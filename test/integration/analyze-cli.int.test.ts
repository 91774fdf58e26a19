/**
 * `npm run analyze -- --dir` as an imaging team runs it: a folder with three phantom studies in different
 * transfer syntaxes (one uncompressed, one RLE, one JPEG 2000 lossless) and files that cannot be analyzed.
 * The JSON findings equal the ground truth; each bad file gets one stderr line naming it and the reason; the
 * key slices are written as PNGs; a folder with nothing to analyze exits non-zero with a clear message.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Bundle, DiagnosticReport } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL_DIR } from '../../models/tiny/tiny-model';
import { generatePhantomStudy, type GeneratedStudy } from '../../models/synthetic';
import { levelFindingToReportLine, type Findings } from '../../server/src/findings/findings';
import { transcodeMany, type TranscodableSyntax } from '../../models/synthetic/transcode';
import { structuredReportToFindings } from '../../server/src/sr/read-structured-report';
import { validateFhir } from '../support/fhir-validation';

const run = promisify(execFile);
const TSX = path.resolve('node_modules/.bin/tsx');
const CLI = path.resolve('server/src/cli/analyze-cli.ts');
const SHARED_CT = path.resolve('../shared/data/dicom-samples/CT_small.dcm');

let dir: string;
const studies: GeneratedStudy[] = [];
const layouts: (TranscodableSyntax | undefined)[] = [undefined, '1.2.840.10008.1.2.5', '1.2.840.10008.1.2.4.90'];

async function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(TSX, [CLI, ...args], {
    env: { ...process.env, INFERENCE_EP: 'cpu', MODEL_DIR: TINY_MODEL_DIR },
    maxBuffer: 10_000_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: unknown) => error as { code: number; stdout: string; stderr: string },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cli-'));
  for (const [i, syntax] of layouts.entries()) {
    const study = generatePhantomStudy({ seed: 3 + i, patientId: `CLI-${i}` });
    studies.push(study);
    const studyDir = path.join(dir, 'in', `study-${i}`);
    await mkdir(studyDir, { recursive: true });
    const originals = study.instances.map((instance) => instance.part10);
    const files = syntax ? await transcodeMany(originals, syntax) : originals;
    await Promise.all(
      study.instances.map((instance, j) =>
        writeFile(path.join(studyDir, `${instance.instanceNumber}.dcm`), files[j] ?? new Uint8Array()),
      ),
    );
  }
  const junk = path.join(dir, 'in', 'junk');
  await mkdir(junk, { recursive: true });
  await writeFile(path.join(junk, 'notes.txt'), 'not an image');
  const slice = studies[0]?.instances[0]?.part10 ?? new Uint8Array();
  await writeFile(path.join(junk, 'truncated.dcm'), slice.subarray(0, Math.floor(slice.byteLength / 2)));
  if (existsSync(SHARED_CT)) await copyFile(SHARED_CT, path.join(junk, 'ct.dcm'));
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = (findings: Findings | undefined): string[] => (findings?.levels ?? []).map(levelFindingToReportLine);

describe('when a folder holds three studies in different transfer syntaxes and some bad files', () => {
  it('then --json prints the findings of every study, equal to ground truth, and names each bad file once', async () => {
    const out = path.join(dir, 'png');
    const { code, stdout, stderr } = await analyze(['--dir', path.join(dir, 'in'), '--json', '--out', out]);
    expect(code, stderr).toBe(0);
    const results = JSON.parse(stdout) as Findings[];
    expect(results).toHaveLength(3);
    for (const study of studies) {
      const found = results.find((f) => f.studyInstanceUid === study.studyInstanceUid);
      expect(lines(found)).toEqual(lines(study.groundTruth));
    }
    const problems = stderr.trim().split('\n');
    expect(problems).toContainEqual(expect.stringMatching(/^skipped .*notes\.txt: not a DICOM Part 10 file/));
    expect(problems).toContainEqual(expect.stringMatching(/^skipped .*truncated\.dcm: .*truncated/));
    if (existsSync(SHARED_CT))
      expect(problems).toContainEqual(expect.stringMatching(/^skipped .*ct\.dcm: modality CT: only MR/));
    expect(stderr).not.toMatch(/^\s+at /m);
    expect((await readdir(out)).filter((f) => f.endsWith('.png'))).toHaveLength(15);
  });
});

describe('when an integration engineer asks for the FHIR Bundle and the SR', () => {
  it('then each study gets a valid transaction Bundle naming its patient by Patient ID and an SR of its findings', async () => {
    const out = path.join(dir, 'results');
    await mkdir(out, { recursive: true });
    const bundleFile = path.join(out, 'bundle.json');
    const srFile = path.join(out, 'sr.dcm');
    const { code, stderr } = await analyze([
      '--dir',
      path.join(dir, 'in'),
      '--fhir-bundle',
      bundleFile,
      '--sr',
      srFile,
    ]);
    expect(code, stderr).toBe(0);
    for (const [index, study] of studies.entries()) {
      const bundle = JSON.parse(
        await readFile(path.join(out, `bundle.${study.studyInstanceUid}.json`), 'utf8'),
      ) as Bundle;
      expect(validateFhir(bundle)).toEqual([]);
      const report = bundle.entry?.find((entry) => entry.resource?.resourceType === 'DiagnosticReport')
        ?.resource as DiagnosticReport;
      expect(report.subject).toEqual({ reference: `Patient?identifier=CLI-${index}` });
      expect(report.imagingStudy?.[0]?.reference).toBe(
        `ImagingStudy?identifier=${encodeURIComponent(`urn:dicom:uid|urn:oid:${study.studyInstanceUid}`)}`,
      );
      const sr = structuredReportToFindings(await readFile(path.join(out, `sr.${study.studyInstanceUid}.dcm`)));
      expect(sr.studyInstanceUid).toBe(study.studyInstanceUid);
      expect(sr.levels.map(levelFindingToReportLine).sort()).toEqual(lines(study.groundTruth).sort());
    }
  });
});

describe('when the folder holds nothing to analyze', () => {
  it('then the exit code is non-zero and the message says so', async () => {
    const { code, stderr } = await analyze(['--dir', path.join(dir, 'in', 'junk')]);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/no MR study to analyze/);
  });

  it('then bad arguments print the usage, not a stack trace', async () => {
    const { code, stderr } = await analyze(['--dicomweb', 'http://127.0.0.1:9/dicom-web']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--dicomweb needs --study/);
    expect(stderr).toMatch(/usage: npm run analyze/);
  });
});
