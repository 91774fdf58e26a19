/**
 * Generated files in every transfer syntax must read in dcmtk's dcmdump and pass dicom3tools' dciodvfy without
 * errors (issue 3 "Done when"). The tools come from test/ensure-system-deps.sh.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dciodvfy } from '../../test/support/dicom-tools';
import { axialSeriesToEnhancedMr } from './enhanced-mr';
import { generateSyntheticStudy } from './study';
import { TRANSFER_SYNTAXES, transcodeAll, type TransferSyntaxName } from './transfer-syntax';

const run = promisify(execFile);
let dir = '';

let samples: Uint8Array[] = [];
let enhanced: Uint8Array = new Uint8Array();
let frameCount = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ldh-dicom-validation-'));
  const study = generateSyntheticStudy({ seed: 3, patientId: 'VAL-3', matrix: 256, slicesPerLevel: 3 });
  // An axial slice from the first and last stack, and a sagittal slice.
  const axial = study.series[0]?.instances ?? [];
  const sagittal = study.series[1]?.instances ?? [];
  enhanced = axialSeriesToEnhancedMr(
    axial.map((instance) => instance.part10),
    study.axialPixels.map((slice) => slice.level),
  );
  frameCount = axial.length;
  samples = [axial[1], axial[axial.length - 1], sagittal[0]].map((instance) => {
    if (!instance) throw new Error('missing instance');
    return instance.part10;
  });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('generated DICOM', () => {
  it.each(Object.keys(TRANSFER_SYNTAXES) as TransferSyntaxName[])(
    'when written as %s, then dcmdump reads it with that transfer syntax and dciodvfy reports no errors',
    async (name) => {
      const files = await transcodeAll(samples, name);
      for (const [index, bytes] of files.entries()) {
        const file = path.join(dir, `${name}-${index}.dcm`);
        await writeFile(file, bytes);
        // dcmdump reads the whole file, pixel data included (-M would skip long elements), and names the syntax.
        const dump = await run('dcmdump', ['-Un', file]); // -Un: UIDs as numbers, not names
        expect(dump.stderr).not.toMatch(/^E:/m);
        expect(dump.stdout).toMatch(
          new RegExp(`\\(0002,0010\\) UI \\[${TRANSFER_SYNTAXES[name].uid.replaceAll('.', '\\.')}\\]`),
        );
        expect(dump.stdout).toMatch(/\(7fe0,0010\)/);
        // dicom3tools cannot inflate deflated files: verify the same dataset after dcmconv re-encodes it losslessly.
        let target = file;
        if (name === 'deflated') {
          target = path.join(dir, `${name}-${index}.inflated.dcm`);
          await run('dcmconv', ['+te', file, target]);
        }
        // dciodvfy reports on stderr and may exit non-zero on warnings: collect both streams.
        const report = await dciodvfy(target);
        expect(report).toMatch(/MRImage/);
        expect(report.split('\n').filter((line) => line.startsWith('Error'))).toEqual([]);
      }
    },
  );

  it('when the axial series is written as one Enhanced MR instance, then dcmdump reads every frame and dciodvfy reports no errors', async () => {
    const file = path.join(dir, 'enhanced.dcm');
    await writeFile(file, enhanced);
    const dump = await run('dcmdump', ['-Un', file]); // -Un: UIDs as numbers, not names
    expect(dump.stdout).toContain('[1.2.840.10008.5.1.4.1.1.4.1]');
    expect(dump.stdout).toMatch(new RegExp(`\\(0028,0008\\) IS \\[${frameCount}\\]`));
    expect(dump.stdout.match(/\(0020,9113\) SQ/g)).toHaveLength(frameCount); // a Plane Position per frame
    const report = await dciodvfy(file);
    expect(report).toMatch(/EnhancedMRImage/);
    expect(report.split('\n').filter((line) => line.startsWith('Error'))).toEqual([]);
  });
});
