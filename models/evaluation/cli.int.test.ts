/**
 * `npm run eval` end to end: phantom studies written as the generator writes them (DICOM + ground-truth.json per
 * study), the real pipeline with the bundled phantom detector, the `--json` report of issue 5.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy } from '../synthetic';
import { TINY_MODEL_DIR } from '../tiny/tiny-model';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-eval-'));
  for (const seed of [41, 42, 43]) {
    const study = generatePhantomStudy({
      seed,
      patientId: `EVAL-${seed}`,
      herniations: { 'L4-L5': { grade: 2, zone: 'AB', side: 'left' }, 'L5-S1': { grade: 1, zone: 'B', side: 'right' } },
    });
    const studyDir = path.join(dir, `study-${seed}`);
    await mkdir(studyDir);
    for (const instance of study.instances) {
      await writeFile(path.join(studyDir, `${instance.instanceNumber}.dcm`), instance.part10);
    }
    await writeFile(path.join(studyDir, 'ground-truth.json'), JSON.stringify(study.groundTruth));
  }
  await writeFile(path.join(dir, 'ratings.csv'), 'surgeon1,surgeon2\n2-A,2-A\n1-B,2-B\n2-A,2-A\n3-C,3-C\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const evalCli = (args: string[]) =>
  run(process.execPath, [path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'models/evaluation/cli.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'silent', MODEL_DIR: TINY_MODEL_DIR },
  });

describe('npm run eval', () => {
  it('when run on a labelled folder, then it prints both tasks beside the paper and writes the --json report', async () => {
    const jsonFile = path.join(dir, 'report.json');
    const { stdout } = await evalCli(['--data', dir, '--json', jsonFile]);
    expect(stdout).toContain('GRADING (15 disc levels)');
    expect(stdout).toContain('LOCALIZATION (15 disc levels)');
    expect(stdout).toMatch(/SIDE BY SIDE with Xu et al\. 2024/);
    const report = JSON.parse(await readFile(jsonFile, 'utf8')) as Record<string, Record<string, { value: number }>>;
    for (const task of ['grading', 'localization']) {
      expect(Object.keys(report[task] ?? {}).sort()).toEqual(
        [
          'ac1',
          'kappa',
          'meanIoU',
          'recall',
          'sensitivity',
          'specificity',
          // The class-aware variant (detection.ts), beside the six.
          'meanIoUClassAware',
          'recallClassAware',
        ].sort(),
      );
      // The phantom detector finds the phantom's herniations exactly.
      expect(report[task]?.recall?.value).toBe(1);
      expect(report[task]?.ac1?.value).toBe(1);
    }
    expect(typeof report.inferenceMsPerSlice).toBe('number');
    // Six herniated levels in three studies, each found on the phantom's key slice.
    expect(stdout).toMatch(/key slice: the truth's .* for 6 of the 6 herniated levels found: 100\.0%/);
    expect(report.keySlice?.value).toBe(1);
  });

  it('when given --ratings, then it prints AC1, kappa and agreement for the two columns', async () => {
    const { stdout } = await evalCli(['--ratings', path.join(dir, 'ratings.csv')]);
    expect(stdout).toContain('surgeon1 vs surgeon2: 4 items');
    expect(stdout).toMatch(/percent agreement\s+75\.0%/);
  });

  it('when the folder has no ground truth, then it says so and exits non-zero', async () => {
    await expect(evalCli(['--data', path.join(dir, 'study-41', 'missing')])).rejects.toMatchObject({ code: 1 });
  });
});
