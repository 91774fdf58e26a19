/**
 * Re-encodes generated Part 10 files in other transfer syntaxes (REFERENCE.md §6) with Debian's dcmtk and
 * libgdcm-tools (gdcmconv is the only JPEG 2000 encoder available here). All lossless.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `tool`: the encoder's command line (input and output files are appended); `debianPackage`: what installs it. */
export const TRANSFER_SYNTAXES = {
  'explicit-le': { uid: '1.2.840.10008.1.2.1', tool: undefined, debianPackage: undefined },
  'implicit-le': { uid: '1.2.840.10008.1.2', tool: ['dcmconv', '+ti'], debianPackage: 'dcmtk' },
  'big-endian': { uid: '1.2.840.10008.1.2.2', tool: ['dcmconv', '+tb'], debianPackage: 'dcmtk' },
  deflated: { uid: '1.2.840.10008.1.2.1.99', tool: ['dcmconv', '+td'], debianPackage: 'dcmtk' },
  rle: { uid: '1.2.840.10008.1.2.5', tool: ['dcmcrle'], debianPackage: 'dcmtk' },
  'jpeg-lossless': { uid: '1.2.840.10008.1.2.4.70', tool: ['dcmcjpeg', '+e1'], debianPackage: 'dcmtk' },
  'jpeg-ls': { uid: '1.2.840.10008.1.2.4.80', tool: ['dcmcjpls', '+el'], debianPackage: 'dcmtk' },
  jpeg2000: { uid: '1.2.840.10008.1.2.4.90', tool: ['gdcmconv', '--j2k'], debianPackage: 'libgdcm-tools' },
} as const satisfies Record<
  string,
  { uid: string; tool: readonly [string, ...string[]] | undefined; debianPackage: string | undefined }
>;

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
  const { tool, debianPackage } = TRANSFER_SYNTAXES[name];
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

/** Whether a command can be run. */
export type CommandLookup = (command: string) => Promise<boolean>;

/** Looks the command up on PATH, as execFile will when transcodeAll runs it. */
export async function isCommandOnPath(command: string, searchPath = process.env.PATH ?? ''): Promise<boolean> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    try {
      await access(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // Not in this directory: try the next one.
    }
  }
  return false;
}

/** One Debian package whose encoders are not installed, and the syntaxes that cannot be produced without it. */
export interface MissingEncoder {
  debianPackage: string;
  commands: string[];
  syntaxes: TransferSyntaxName[];
}

/**
 * The encoders that `names` need and that are not installed, grouped by Debian package: a caller can say once what
 * to install (`apt-get install libgdcm-tools`) instead of failing once per file.
 */
export async function findMissingEncoders(
  names: readonly TransferSyntaxName[],
  isInstalled: CommandLookup = isCommandOnPath,
): Promise<MissingEncoder[]> {
  const missing = new Map<string, MissingEncoder>();
  for (const name of new Set(names)) {
    const { tool, debianPackage } = TRANSFER_SYNTAXES[name];
    if (!tool || (await isInstalled(tool[0]))) continue;
    const entry = missing.get(debianPackage) ?? { debianPackage, commands: [], syntaxes: [] };
    if (!entry.commands.includes(tool[0])) entry.commands.push(tool[0]);
    entry.syntaxes.push(name);
    missing.set(debianPackage, entry);
  }
  return [...missing.values()];
}
