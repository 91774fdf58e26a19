/**
 * Re-encodes generated Part 10 files in other transfer syntaxes (docs/architecture.md §DICOM and DICOMweb facts) with
 * Debian's dcmtk and libgdcm-tools (gdcmconv is the only JPEG 2000 encoder available here). All lossless.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TRANSFER_SYNTAXES = {
  'explicit-le': { uid: '1.2.840.10008.1.2.1', tool: undefined },
  'implicit-le': { uid: '1.2.840.10008.1.2', tool: ['dcmconv', '+ti'] },
  'big-endian': { uid: '1.2.840.10008.1.2.2', tool: ['dcmconv', '+tb'] },
  deflated: { uid: '1.2.840.10008.1.2.1.99', tool: ['dcmconv', '+td'] },
  rle: { uid: '1.2.840.10008.1.2.5', tool: ['dcmcrle'] },
  'jpeg-lossless': { uid: '1.2.840.10008.1.2.4.70', tool: ['dcmcjpeg', '+e1'] },
  'jpeg-ls': { uid: '1.2.840.10008.1.2.4.80', tool: ['dcmcjpls', '+el'] },
  jpeg2000: { uid: '1.2.840.10008.1.2.4.90', tool: ['gdcmconv', '--j2k'] },
} as const satisfies Record<string, { uid: string; tool: readonly string[] | undefined }>;

export type TransferSyntaxName = keyof typeof TRANSFER_SYNTAXES;

export function isTransferSyntaxName(name: string): name is TransferSyntaxName {
  return Object.hasOwn(TRANSFER_SYNTAXES, name);
}

/** Re-encodes each file; explicit LE is returned unchanged. Runs `concurrency` encoders at a time. */
export async function transcodeAll(
  files: Uint8Array[],
  name: TransferSyntaxName,
  concurrency = 4,
): Promise<Uint8Array[]> {
  const { tool } = TRANSFER_SYNTAXES[name];
  if (!tool) return files;
  const dir = await mkdtemp(path.join(tmpdir(), 'ldh-synth-'));
  try {
    const out: Uint8Array[] = new Array<Uint8Array>(files.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const index = next++;
        const file = files[index];
        if (!file) continue;
        const input = path.join(dir, `${index}.in.dcm`);
        const output = path.join(dir, `${index}.out.dcm`);
        await writeFile(input, file);
        const [command, ...args] = tool;
        try {
          await run(command, [...args, input, output]);
        } catch (error) {
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
