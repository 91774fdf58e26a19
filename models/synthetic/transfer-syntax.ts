/**
 * The transfer syntaxes the generator writes, by the names its command line and the mock EHR's config use
 * (`--transfer-syntax jpeg-ls`, MOCK_EHR_TRANSFER_SYNTAXES), each mapped to its UID; the encoding itself is
 * transcode.ts's, the one table of DCMTK/GDCM encoders. All lossless.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { TRANSCODINGS, transcodeMany, type TranscodableSyntax } from './transcode';

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

export const TRANSFER_SYNTAXES = {
  'explicit-le': { uid: EXPLICIT_VR_LITTLE_ENDIAN },
  'implicit-le': { uid: '1.2.840.10008.1.2' },
  'big-endian': { uid: '1.2.840.10008.1.2.2' },
  deflated: { uid: '1.2.840.10008.1.2.1.99' },
  rle: { uid: '1.2.840.10008.1.2.5' },
  'jpeg-lossless': { uid: '1.2.840.10008.1.2.4.70' },
  'jpeg-ls': { uid: '1.2.840.10008.1.2.4.80' },
  jpeg2000: { uid: '1.2.840.10008.1.2.4.90' },
} as const satisfies Record<string, { uid: TranscodableSyntax | typeof EXPLICIT_VR_LITTLE_ENDIAN }>;

export type TransferSyntaxName = keyof typeof TRANSFER_SYNTAXES;

export function isTransferSyntaxName(name: string): name is TransferSyntaxName {
  return Object.hasOwn(TRANSFER_SYNTAXES, name);
}

/** The syntax's encoder (transcode.ts); none for explicit LE, which the generator writes itself. */
function encoderOf(name: TransferSyntaxName): (typeof TRANSCODINGS)[TranscodableSyntax] | undefined {
  const { uid } = TRANSFER_SYNTAXES[name];
  return uid === EXPLICIT_VR_LITTLE_ENDIAN ? undefined : TRANSCODINGS[uid];
}

/** Re-encodes each file; explicit LE is returned unchanged. Runs `concurrency` encoders at a time. */
export async function transcodeAll(
  files: Uint8Array[],
  name: TransferSyntaxName,
  concurrency = 4,
): Promise<Uint8Array[]> {
  const { uid } = TRANSFER_SYNTAXES[name];
  if (uid === EXPLICIT_VR_LITTLE_ENDIAN) return files;
  return transcodeMany(files, uid, { concurrency, name });
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
    const encoder = encoderOf(name);
    if (!encoder || (await isInstalled(encoder.tool[0]))) continue;
    const { tool, debianPackage } = encoder;
    const entry = missing.get(debianPackage) ?? { debianPackage, commands: [], syntaxes: [] };
    if (!entry.commands.includes(tool[0])) entry.commands.push(tool[0]);
    entry.syntaxes.push(name);
    missing.set(debianPackage, entry);
  }
  return [...missing.values()];
}
