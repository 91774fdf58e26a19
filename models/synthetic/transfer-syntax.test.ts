import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findMissingEncoders, isCommandOnPath, transcodeAll } from './transfer-syntax';

describe('findMissingEncoders', () => {
  it('when DCMTK is missing, then its commands and syntaxes are reported under one package', async () => {
    const gdcmOnly = (command: string) => Promise.resolve(command === 'gdcmconv');
    const missing = await findMissingEncoders(
      ['explicit-le', 'implicit-le', 'rle', 'jpeg2000', 'big-endian'],
      gdcmOnly,
    );
    expect(missing).toEqual([
      { debianPackage: 'dcmtk', commands: ['dcmconv', 'dcmcrle'], syntaxes: ['implicit-le', 'rle', 'big-endian'] },
    ]);
  });

  it('when every encoder is installed, then nothing is reported', async () => {
    expect(await findMissingEncoders(['jpeg-ls', 'jpeg2000'], () => Promise.resolve(true))).toEqual([]);
  });
});

describe('isCommandOnPath', () => {
  it('when PATH lacks the directory of a command, then it is not found', async () => {
    expect(await isCommandOnPath(path.basename(process.execPath), path.dirname(process.execPath))).toBe(true);
    expect(await isCommandOnPath('node', '/nonexistent-dir')).toBe(false);
  });
});

describe('transcodeAll', () => {
  it('when the encoder is not on PATH, then the error names the package to install', async () => {
    const searchPath = process.env.PATH;
    process.env.PATH = '/nonexistent-dir';
    try {
      await expect(transcodeAll([new Uint8Array(8)], 'jpeg2000')).rejects.toThrow(
        'gdcmconv is not installed, so nothing is encoded in jpeg2000: apt-get install libgdcm-tools',
      );
    } finally {
      process.env.PATH = searchPath;
    }
  });
});
