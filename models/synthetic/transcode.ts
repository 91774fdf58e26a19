/**
 * Transcodes DICOM Part 10 files with DCMTK (dcmconv, dcmcrle, dcmcjpeg, dcmcjpls) and GDCM (gdcmconv, the
 * only JPEG 2000 encoder on Debian), so the generator (`npm run synth -- --transfer-syntax`, the mock EHR's seed),
 * the bench (`--syntax`) and the tests can store the same study in every transfer syntax of docs/architecture.md
 * §DICOM and DICOMweb facts. The one table of encoders; `bash test/ensure-system-deps.sh` installs both packages.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Each syntax's encoder: its command line (input and output files are appended) and the Debian package with it. */
export const TRANSCODINGS = {
  '1.2.840.10008.1.2': { tool: ['dcmconv', '+ti'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.1.99': { tool: ['dcmconv', '+td'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.2': { tool: ['dcmconv', '+tb'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.5': { tool: ['dcmcrle'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.4.50': { tool: ['dcmcjpeg', '+eb'], debianPackage: 'dcmtk' },
  // +un: keep the SOP Instance UID (dcmcjpeg gives lossy copies new ones), so tests can follow an instance through.
  '1.2.840.10008.1.2.4.51': { tool: ['dcmcjpeg', '+ee', '+un'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.4.57': { tool: ['dcmcjpeg', '+el'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.4.70': { tool: ['dcmcjpeg', '+e1'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.4.80': { tool: ['dcmcjpls', '+el'], debianPackage: 'dcmtk' },
  '1.2.840.10008.1.2.4.90': { tool: ['gdcmconv', '--j2k'], debianPackage: 'libgdcm-tools' },
} as const satisfies Record<string, { tool: readonly [string, ...string[]]; debianPackage: string }>;

export type TranscodableSyntax = keyof typeof TRANSCODINGS;

export const LOSSLESS_TRANSCODINGS: TranscodableSyntax[] = [
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.90',
];

/** Decompresses to Explicit VR Little Endian with DCMTK's own decoders (dcmdjpeg), as an independent reference. */
export function decompressWithDcmtk(part10: Uint8Array): Uint8Array {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ldh-transcode-'));
  try {
    const input = path.join(dir, 'in.dcm');
    const output = path.join(dir, 'out.dcm');
    writeFileSync(input, part10);
    execFileSync('dcmdjpeg', [input, output], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(output));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Returns the Part 10 bytes re-encoded in `syntax`. Throws with the tool's message when it refuses. */
export function transcodePart10(part10: Uint8Array, syntax: TranscodableSyntax): Uint8Array {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ldh-transcode-'));
  try {
    const input = path.join(dir, 'in.dcm');
    const output = path.join(dir, 'out.dcm');
    writeFileSync(input, part10);
    const [command, ...args] = TRANSCODINGS[syntax].tool;
    execFileSync(command, [...args, input, output], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(output));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TranscodeManyOptions {
  /** Encoder processes at a time (default 4: the tools' start-up dominates). */
  concurrency?: number;
  /** The syntax as the caller named it, for error messages (default its UID). */
  name?: string;
}

/**
 * Re-encodes each file in `syntax`, `concurrency` encoders at a time. A missing encoder fails with the Debian
 * package to install; an encoder that refuses fails with its message.
 */
export async function transcodeMany(
  files: readonly Uint8Array[],
  syntax: TranscodableSyntax,
  { concurrency = 4, name = syntax }: TranscodeManyOptions = {},
): Promise<Uint8Array[]> {
  const { tool, debianPackage } = TRANSCODINGS[syntax];
  const [command, ...args] = tool;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-transcode-'));
  try {
    const out = new Array<Uint8Array>(files.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const index = next++;
        const file = files[index];
        if (!file) continue;
        const input = path.join(dir, `${index}.in.dcm`);
        const output = path.join(dir, `${index}.out.dcm`);
        await writeFile(input, file);
        try {
          await execFileAsync(command, [...args, input, output]);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            throw new Error(
              `${command} is not installed, so nothing is encoded in ${name}: apt-get install ${debianPackage}`,
            );
          }
          throw new Error(
            `${command} could not encode ${name}: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
        out[index] = new Uint8Array(await readFile(output));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
