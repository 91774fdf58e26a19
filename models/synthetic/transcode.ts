/**
 * Transcodes DICOM Part 10 files with DCMTK (dcmconv, dcmcrle, dcmcjpeg, dcmcjpls) and GDCM (gdcmconv, the
 * only JPEG 2000 encoder on Debian), so the generator (`npm run synth -- --transfer-syntax`), the bench
 * (`--syntax`) and the tests can store the same study in every transfer syntax of docs/architecture.md §DICOM and
 * DICOMweb facts. `bash test/ensure-system-deps.sh` installs both.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const TRANSCODINGS = {
  '1.2.840.10008.1.2': ['dcmconv', ['+ti']],
  '1.2.840.10008.1.2.1.99': ['dcmconv', ['+td']],
  '1.2.840.10008.1.2.2': ['dcmconv', ['+tb']],
  '1.2.840.10008.1.2.5': ['dcmcrle', []],
  '1.2.840.10008.1.2.4.50': ['dcmcjpeg', ['+eb']],
  // +un: keep the SOP Instance UID (dcmcjpeg gives lossy copies new ones), so tests can follow an instance through.
  '1.2.840.10008.1.2.4.51': ['dcmcjpeg', ['+ee', '+un']],
  '1.2.840.10008.1.2.4.57': ['dcmcjpeg', ['+el']],
  '1.2.840.10008.1.2.4.70': ['dcmcjpeg', ['+e1']],
  '1.2.840.10008.1.2.4.80': ['dcmcjpls', []],
  '1.2.840.10008.1.2.4.90': ['gdcmconv', ['--j2k']],
} as const satisfies Record<string, readonly [string, readonly string[]]>;

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
    const [tool, args] = TRANSCODINGS[syntax];
    execFileSync(tool, [...args, input, output], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(readFileSync(output));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Transcodes many files, `concurrency` tool processes at a time (the tools' start-up dominates). */
export async function transcodeMany(
  files: readonly Uint8Array[],
  syntax: TranscodableSyntax,
  concurrency = 4,
): Promise<Uint8Array[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-transcode-'));
  try {
    const [tool, args] = TRANSCODINGS[syntax];
    const out = new Array<Uint8Array>(files.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < files.length) {
          const i = next++;
          const input = path.join(dir, `${i}.in.dcm`);
          const output = path.join(dir, `${i}.out.dcm`);
          await writeFile(input, files[i] ?? new Uint8Array());
          await execFileAsync(tool, [...args, input, output]);
          out[i] = new Uint8Array(await readFile(output));
        }
      }),
    );
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
