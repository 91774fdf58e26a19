/**
 * DICOM command-line validators the tests run on what we write (dicom3tools; test/ensure-system-deps.sh installs it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** dciodvfy's whole report: it writes to stderr and may exit non-zero on warnings alone, so a failed run still reports. */
export async function dciodvfy(file: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('dciodvfy', [file]);
    return stdout + stderr;
  } catch (error: unknown) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    return stdout + stderr;
  }
}
