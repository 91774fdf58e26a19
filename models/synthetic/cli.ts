/**
 * `npm run synth -- --out DIR --studies N --seed S [--matrix 256..512] [--field 1.5|3] [--snr low|medium|high]
 *   [--transfer-syntax NAME] [--dataset] [--phantom]`
 *
 * Writes each study to DIR/<study>/ (DICOM files, ground-truth.json, fhir.json), or with --dataset a training set
 * (DIR/images, DIR/labels in YOLO format, DIR/json, DIR/classes.txt). Prints the time per study and a summary of
 * levels × grade × zone at the end. --phantom writes the old fixed-geometry phantom instead.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DATASET_CLASSES, writeDatasetStudy } from './dataset';
import { axialSeriesToEnhancedMr, enhancedMrUid, truthForEnhancedMr } from './enhanced-mr';
import { generatePhantomStudy } from './phantom';
import { generateSyntheticStudy, type SnrLevel } from './study';
import { TRANSFER_SYNTAXES, isTransferSyntaxName, transcodeAll } from './transfer-syntax';

/** Not a transfer syntax but a layout: the axial series as one Enhanced MR multi-frame instance. */
const ENHANCED = 'enhanced-mr';
const USAGE = `usage: npm run synth -- --out DIR --studies N --seed S [--matrix 256..512] [--field 1.5|3] [--snr low|medium|high] [--transfer-syntax ${[...Object.keys(TRANSFER_SYNTAXES), ENHANCED].join('|')}] [--dataset] [--phantom]`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        out: { type: 'string' },
        studies: { type: 'string', default: '1' },
        seed: { type: 'string', default: '1' },
        matrix: { type: 'string' },
        field: { type: 'string' },
        snr: { type: 'string' },
        'transfer-syntax': { type: 'string', default: 'explicit-le' },
        dataset: { type: 'boolean', default: false },
        phantom: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    // An unknown or malformed option: say which, and how the command is used, not a stack trace.
    return fail(error instanceof Error ? error.message : String(error));
  }
}

const { values } = parseOptions();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const outDir = values.out ?? fail('--out is required');
const studies = Number(values.studies);
const firstSeed = Number(values.seed);
if (!Number.isInteger(studies) || studies < 1) fail(`--studies must be an integer ≥ 1, not ${values.studies}`);
if (!Number.isInteger(firstSeed)) fail(`--seed must be an integer, not ${values.seed}`);
const matrix = values.matrix === undefined ? undefined : Number(values.matrix);
if (matrix !== undefined && (!Number.isInteger(matrix) || matrix < 256 || matrix > 512))
  fail(`--matrix must be 256..512, not ${values.matrix}`);
const field = values.field === undefined ? undefined : Number(values.field);
if (field !== undefined && field !== 1.5 && field !== 3) fail(`--field must be 1.5 or 3, not ${values.field}`);
const snr = values.snr;
if (snr !== undefined && !['low', 'medium', 'high'].includes(snr))
  fail(`--snr must be low, medium or high, not ${snr}`);
const syntax = values['transfer-syntax'];
if (!isTransferSyntaxName(syntax) && syntax !== ENHANCED) fail(`unknown --transfer-syntax ${syntax}`);

const counts = new Map<string, number>();
let normalLevels = 0;
let totalMs = 0;
for (let seed = firstSeed; seed < firstSeed + studies; seed++) {
  const name = `SYN-${String(seed).padStart(5, '0')}`;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  if (values.phantom) {
    const study = generatePhantomStudy({ seed, patientId: name });
    const dir = path.join(outDir, name);
    await mkdir(dir, { recursive: true });
    for (const instance of study.instances)
      await writeFile(path.join(dir, `${String(instance.instanceNumber).padStart(3, '0')}.dcm`), instance.part10);
    await writeFile(path.join(dir, 'ground-truth.json'), `${JSON.stringify(study.groundTruth, null, 2)}\n`);
    for (const level of study.groundTruth.levels) {
      if (level.herniation)
        counts.set(
          `${level.level} ${level.grade}-${level.zone}`,
          (counts.get(`${level.level} ${level.grade}-${level.zone}`) ?? 0) + 1,
        );
      else normalLevels++;
    }
    console.log(`${dir}: phantom, ${study.instances.length} slices`);
    continue;
  }
  const study = generateSyntheticStudy({
    seed,
    patientId: name,
    ...(matrix !== undefined ? { matrix } : {}),
    ...(field !== undefined ? { field } : {}),
    ...(snr !== undefined ? { snr: snr as SnrLevel } : {}),
    ...(values.dataset ? { axialOnly: true } : {}),
  });
  const generatedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  totalMs += generatedMs;
  const axialCount = study.series[0]?.instances.length ?? 0;
  if (values.dataset) {
    await writeDatasetStudy(study, outDir, name);
  } else {
    const dir = path.join(outDir, name);
    await mkdir(dir, { recursive: true });
    const axial = study.series[0]?.instances ?? [];
    const sagittal = study.series[1]?.instances ?? [];
    let truth = study.groundTruth;
    if (syntax === ENHANCED) {
      // One multi-frame file for the axial series (frames in series order), single frames for the sagittal.
      const uids = axial.map((instance) => instance.sopInstanceUid);
      const enhanced = axialSeriesToEnhancedMr(
        axial.map((instance) => instance.part10),
        study.axialPixels.map((slice) => slice.level),
      );
      await writeFile(path.join(dir, 'ax-enhanced.dcm'), enhanced);
      truth = truthForEnhancedMr(study.groundTruth, uids, enhancedMrUid(study.seriesInstanceUid));
      for (const instance of sagittal)
        await writeFile(path.join(dir, `sag-${String(instance.instanceNumber).padStart(3, '0')}.dcm`), instance.part10);
    } else {
      const encoded = await transcodeAll(
        study.instances.map((instance) => instance.part10),
        syntax,
      );
      for (const [index, instance] of study.instances.entries()) {
        const prefix = instance.seriesInstanceUid === study.seriesInstanceUid ? 'ax' : 'sag';
        const bytes = encoded[index];
        if (bytes)
          await writeFile(path.join(dir, `${prefix}-${String(instance.instanceNumber).padStart(3, '0')}.dcm`), bytes);
      }
    }
    await writeFile(path.join(dir, 'ground-truth.json'), `${JSON.stringify(truth, null, 2)}\n`);
    await writeFile(path.join(dir, 'fhir.json'), `${JSON.stringify(study.fhir, null, 2)}\n`);
  }
  for (const level of study.groundTruth.levels) {
    if (level.herniation) {
      const key = `${level.level} ${level.grade}-${level.zone}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } else normalLevels++;
  }
  const { acquisition } = study;
  console.log(
    `generated 1 study (5 levels, ${axialCount} axial + ${study.instances.length - axialCount} sagittal slices, ${acquisition.matrix}², ${acquisition.field} T, SNR ${acquisition.snr}) in ${Math.round(generatedMs)} ms (CPU ${Math.round(cpuMs)} ms) → ${path.join(outDir, name)}`,
  );
}
if (values.dataset) await writeFile(path.join(outDir, 'classes.txt'), `${DATASET_CLASSES.join('\n')}\n`);
console.log(`\n${studies} studies in ${Math.round(totalMs)} ms; levels without herniation: ${normalLevels}`);
console.log('level   grade-zone  count');
for (const [key, count] of [...counts.entries()].sort()) {
  const [level, cls] = key.split(' ');
  console.log(`${(level ?? '').padEnd(8)}${(cls ?? '').padEnd(12)}${count}`);
}
