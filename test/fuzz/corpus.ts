/**
 * The files the fuzzer mutates, written into a scratch folder one study per sub-folder (the pipeline stage puts a
 * mutated file back among the rest of its study):
 *
 * - the phantom study (models/synthetic `generatePhantomStudy`, seeded) in every transfer syntax DCMTK and GDCM encode
 *   here (models/synthetic/transcode.ts): Implicit and Explicit VR Little Endian, Deflated, Big Endian, RLE, JPEG
 *   baseline and 12-bit extended, JPEG lossless (processes 14 and 14 SV1), JPEG-LS, JPEG 2000;
 * - a realistic synthetic study (`generateSyntheticStudy`: axial and sagittal T2), and its axial series as one
 *   Enhanced MR multi-frame instance beside the sagittal series;
 * - the real-world samples of ../shared/data/dicom-samples when present (pydicom's test files), else dicomweb-client's
 *   bundled testData/, each a study of its own.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generatePhantomStudy, generateSyntheticStudy } from '../../models/synthetic';
import { axialSeriesToEnhancedMr } from '../../models/synthetic/enhanced-mr';
import { TRANSCODINGS, transcodeMany, type TranscodableSyntax } from '../../models/synthetic/transcode';

export interface BaseFile {
  /** `phantom-1.2.840.10008.1.2.5/0007.dcm`, `sample/MR_small.dcm`. */
  name: string;
  bytes: Uint8Array;
  fileName: string;
  /** The folder of its study (other files included), or undefined for a file alone. */
  studyDir: string | undefined;
  /** How often it is drawn, relative to the others. */
  weight: number;
}

export interface Corpus {
  files: BaseFile[];
  /** What could not be built (a missing encoder), one line each. */
  notes: string[];
  sampleDir: string;
  ms: number;
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

export function sampleDirectory(): string {
  const shared = path.resolve(repoRoot, '../shared/data/dicom-samples');
  return existsSync(shared) ? shared : path.resolve(repoRoot, 'node_modules/dicomweb-client/testData');
}

async function writeStudy(dir: string, files: { fileName: string; bytes: Uint8Array }[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all(files.map((file) => writeFile(path.join(dir, file.fileName), file.bytes)));
}

const numbered = (i: number): string => `${String(i + 1).padStart(4, '0')}.dcm`;

/** Builds the corpus under `dir` (which must be empty or absent). */
export async function buildCorpus(
  dir: string,
  { seed, realistic = true, syntaxes }: { seed: number; realistic?: boolean; syntaxes?: TranscodableSyntax[] },
): Promise<Corpus> {
  const started = performance.now();
  const files: BaseFile[] = [];
  const notes: string[] = [];
  const addStudy = async (name: string, study: { fileName: string; bytes: Uint8Array }[], weight: number) => {
    const studyDir = path.join(dir, name);
    await writeStudy(studyDir, study);
    for (const file of study)
      files.push({ name: `${name}/${file.fileName}`, bytes: file.bytes, fileName: file.fileName, studyDir, weight });
  };

  const phantom = generatePhantomStudy({ seed, patientId: `FUZZ${seed}` }).instances.map((instance) => instance.part10);
  const wanted = syntaxes ?? (Object.keys(TRANSCODINGS) as TranscodableSyntax[]);
  const encoded: [string, Uint8Array[]][] = [['1.2.840.10008.1.2.1', phantom]];
  for (const syntax of wanted) {
    try {
      encoded.push([syntax, await transcodeMany(phantom, syntax)]);
    } catch (error) {
      notes.push(`phantom in ${syntax}: ${(error as Error).message.split('\n')[0] ?? ''}`);
    }
  }
  // The phantom draws 60% of the cases, shared evenly between its syntaxes.
  for (const [syntax, study] of encoded) {
    await addStudy(
      `phantom-${syntax}`,
      study.map((bytes, i) => ({ fileName: numbered(i), bytes })),
      60 / encoded.length / study.length,
    );
  }

  if (realistic) {
    const study = generateSyntheticStudy({
      seed,
      patientId: `FUZZR${seed}`,
      matrix: 256,
      slicesPerLevel: 3,
      motion: false,
    });
    const all = study.instances.map((instance) => instance.part10);
    await addStudy(
      'realistic',
      all.map((bytes, i) => ({ fileName: numbered(i), bytes })),
      15 / all.length,
    );
    const [axial, ...others] = study.series;
    if (axial) {
      const enhanced = axialSeriesToEnhancedMr(
        axial.instances.map((instance) => instance.part10),
        axial.instances.map((_, i) => String(Math.floor(i / 3))),
      );
      const sagittal = others.flatMap((series) => series.instances.map((instance) => instance.part10));
      const studyFiles = [
        { fileName: 'enhanced.dcm', bytes: enhanced },
        ...sagittal.map((bytes, i) => ({ fileName: numbered(i), bytes })),
      ];
      await addStudy('enhanced', studyFiles, 0);
      // The Enhanced MR instance draws 10%, its sagittal companions none.
      const enhancedFile = files.find((file) => file.name === 'enhanced/enhanced.dcm');
      if (enhancedFile) enhancedFile.weight = 10;
    }
  }

  const sampleDir = sampleDirectory();
  const samples = (await readdir(sampleDir)).filter((name) => name.endsWith('.dcm')).sort();
  for (const name of samples) {
    const bytes = new Uint8Array(await readFile(path.join(sampleDir, name)));
    files.push({ name: `sample/${name}`, bytes, fileName: name, studyDir: undefined, weight: 15 / samples.length });
  }
  return { files, notes, sampleDir, ms: performance.now() - started };
}
