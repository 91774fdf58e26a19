/**
 * `npm run synth -- <outDir> [--seed N] [--count N]`: writes phantom studies as Part 10 files
 * (`<outDir>/<patientId>/<instanceNumber>.dcm`) with `ground-truth.json` (Findings) beside them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generatePhantomStudy } from './phantom';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seed: { type: 'string', default: '1' }, count: { type: 'string', default: '1' } },
});
const outDir = positionals[0];
const firstSeed = Number(values.seed);
const count = Number(values.count);
if (!outDir || !Number.isInteger(firstSeed) || !Number.isInteger(count) || count < 1) {
  console.error('usage: npm run synth -- <outDir> [--seed <integer>] [--count <integer ≥ 1>]');
  process.exit(2);
}

for (let seed = firstSeed; seed < firstSeed + count; seed++) {
  const patientId = `SYN-${String(seed).padStart(4, '0')}`;
  const study = generatePhantomStudy({ seed, patientId });
  const dir = path.join(outDir, patientId);
  await mkdir(dir, { recursive: true });
  for (const instance of study.instances) {
    await writeFile(path.join(dir, `${String(instance.instanceNumber).padStart(2, '0')}.dcm`), instance.part10);
  }
  await writeFile(path.join(dir, 'ground-truth.json'), `${JSON.stringify(study.groundTruth, null, 2)}\n`);
  const herniated = study.groundTruth.levels.filter((l) => l.herniation).map((l) => l.level);
  console.log(`${dir}: ${study.instances.length} slices, herniated: ${herniated.join(', ') || 'none'}`);
}
