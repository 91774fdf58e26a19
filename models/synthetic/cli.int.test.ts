/**
 * `npm run synth` as a user meets it: `--help` prints the usage, an unknown option names itself beside the usage and
 * exits 2 (not a Node stack trace), and a valid call writes a study folder.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-synth-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const synthCli = (args: string[]) =>
  run(process.execPath, [path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), 'models/synthetic/cli.ts', ...args], {
    cwd: repoRoot,
  });

describe('npm run synth', () => {
  it('when asked for --help, then it prints the usage and exits 0', async () => {
    const { stdout } = await synthCli(['--help']);
    expect(stdout).toMatch(/^usage: npm run synth -- --out DIR --studies N --seed S/);
  });

  it('when given an unknown option, then it names the option beside the usage and exits 2', async () => {
    const failure = await synthCli(['--out', dir, '--studys', '3']).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain("Unknown option '--studys'");
    expect(failure?.stderr).toContain('usage: npm run synth');
    expect(failure?.stderr).not.toContain('    at ');
  });

  it('when the options are valid, then it writes the study folder', async () => {
    await synthCli(['--out', dir, '--studies', '1', '--seed', '978000', '--matrix', '256']);
    expect(await readdir(dir)).toEqual(['SYN-978000']);
  }, 60_000);
});
