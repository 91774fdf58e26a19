/**
 * A folder of DICOM Part 10 files (any number of studies, any nesting) as StudySources, so the command line
 * analyzes local files through exactly the pipeline that analyzes a PACS study. Every file that cannot take part
 * is reported once, one line naming the file and the reason; the rest of the folder goes on.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { checkPixelModule, pixelModuleFromMetadata } from '../dicom/decode-frame';
import { getNumber, getString, TAGS, type DicomJson } from '../dicom/dicom-json';
import { readPart10File, type Part10Limits, type Part10Object } from '../dicom/part10';
import type { RetrievedFrame } from '../dicomweb/dicomweb-retriever';
import type { StudySource } from './analyze-images';

export interface FileProblem {
  file: string;
  reason: string;
}

export interface FolderStudy {
  studyInstanceUid: string;
  source: StudySource;
  files: number;
}

export interface LoadedFolder {
  studies: FolderStudy[];
  problems: FileProblem[];
  files: number;
}

export interface FolderLimits extends Part10Limits {
  /** Files looked at, at most (default 20,000). */
  maxFiles?: number;
}

async function listFiles(dir: string, maxFiles: number): Promise<string[]> {
  const found: string[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (found.length >= maxFiles) return;
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) found.push(full);
    }
  };
  await walk(dir);
  return found;
}

const element = (vr: string, value: unknown): DicomJson[string] => ({ vr, Value: [value] });

/** Why a parsed file cannot be part of an MR analysis, or undefined when it can. */
function refusalOf(object: Part10Object): string | undefined {
  const modality = getString(object.dataset, 'Modality')?.trim();
  if (modality !== 'MR') return `modality ${modality ?? 'missing'}: only MR images are analyzed`;
  try {
    checkPixelModule(pixelModuleFromMetadata(object.dataset));
  } catch (error) {
    return (error as Error).message;
  }
  if (!getString(object.dataset, 'StudyInstanceUID')) return 'lacks StudyInstanceUID (0020,000D)';
  if (!getString(object.dataset, 'SeriesInstanceUID')) return 'lacks SeriesInstanceUID (0020,000E)';
  if (!getString(object.dataset, 'SOPInstanceUID')) return 'lacks SOPInstanceUID (0008,0018)';
  return undefined;
}

/** A StudySource answering from Part 10 objects in memory (a folder, or a test's generated study). */
export function part10StudySource(objects: Part10Object[]): StudySource {
  const bySeries = new Map<string, Part10Object[]>();
  const bySop = new Map<string, Part10Object>();
  for (const object of objects) {
    const series = getString(object.dataset, 'SeriesInstanceUID') ?? '';
    bySeries.set(series, [...(bySeries.get(series) ?? []), object]);
    bySop.set(getString(object.dataset, 'SOPInstanceUID') ?? '', object);
  }
  return {
    searchForSeries: () =>
      Promise.resolve(
        [...bySeries.entries()].map(([uid, members]) => {
          const first = members[0]?.dataset ?? {};
          const series: DicomJson = {
            [TAGS.SeriesInstanceUID]: element('UI', uid),
            [TAGS.NumberOfSeriesRelatedInstances]: element('IS', members.length),
          };
          for (const key of ['Modality', 'SeriesDescription', 'SeriesNumber'] as const) {
            const value = first[TAGS[key]];
            if (value) series[TAGS[key]] = value;
          }
          return series;
        }),
      ),
    retrieveSeriesMetadata: (_study, seriesUid) =>
      Promise.resolve(
        (bySeries.get(seriesUid) ?? [])
          .map((o) => o.dataset)
          .sort((a, b) => (getNumber(a, 'InstanceNumber') ?? 0) - (getNumber(b, 'InstanceNumber') ?? 0)),
      ),
    retrieveFrames: (_study, _series, frames) =>
      Promise.resolve(
        frames.map(({ sopInstanceUid, frame }): RetrievedFrame => {
          const object = bySop.get(sopInstanceUid);
          const bytes = object?.frames[frame - 1];
          if (!object || !bytes) throw new Error(`frame ${frame} of ${sopInstanceUid} is not in the folder`);
          return {
            sopInstanceUid,
            frame,
            bytes,
            transferSyntaxUid: object.transferSyntaxUid,
            contentType: 'application/octet-stream',
          };
        }),
      ),
  };
}

export async function loadDicomFolder(dir: string, limits: FolderLimits = {}): Promise<LoadedFolder> {
  const files = await listFiles(dir, limits.maxFiles ?? 20_000);
  const problems: FileProblem[] = [];
  const byStudy = new Map<string, Part10Object[]>();
  for (const file of files) {
    try {
      const object = await readPart10File(file, limits);
      const refusal = refusalOf(object);
      if (refusal) {
        problems.push({ file, reason: refusal });
        continue;
      }
      const study = getString(object.dataset, 'StudyInstanceUID') ?? '';
      byStudy.set(study, [...(byStudy.get(study) ?? []), object]);
    } catch (error) {
      problems.push({ file, reason: ((error as Error).message.split('\n')[0] ?? '').slice(0, 300) });
    }
  }
  return {
    studies: [...byStudy.entries()].map(([studyInstanceUid, objects]) => ({
      studyInstanceUid,
      source: part10StudySource(objects),
      files: objects.length,
    })),
    problems,
    files: files.length,
  };
}
