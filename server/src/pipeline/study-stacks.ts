/**
 * The viewer's stacks (GET /api/stacks): the stored analysis names the analyzed series and each level's key slice;
 * that series' axial frames are grouped into stacks by the code the analysis grouped them with (dicom/stacks.ts),
 * and each stack is labelled with the level whose key slice it holds. Nothing is recomputed: a stack no key slice
 * falls in (one the analysis did not assess) and a level without a key slice are left out.
 *
 * The sagittal reference is the image the analysis located the stacks on — the series `chooseSagittalSeries` picks,
 * its middle frame as the level assignment takes it — with the line where each axial slice's plane cuts it
 * (dicom/reference-lines.ts).
 */
import type { DicomJson } from '../dicom/dicom-json';
import { getNumber, getString, requireString } from '../dicom/dicom-json';
import { dot, type Vec3 } from '../dicom/geometry';
import { referenceLine } from '../dicom/reference-lines';
import { isCandidateSeries, seriesFacts } from '../dicom/select-series';
import { groupIntoStacks } from '../dicom/stacks';
import type { LevelStack, SagittalReference, SliceLine, StudyStacks } from '../findings/viewer';
import { axialSlicesOf, type AxialSlice } from './analyze-images';
import { readAnalysis } from './analyze-study';
import { chooseSagittalSeries, midSagittalFrames } from './level-assignment';
import { toPipelineError } from './pipeline-error';
import type { ViewerCache } from './viewer-cache';
import { openViewerStudy, type ViewerDependencies, type ViewerRequest, type ViewerStudy } from './viewer-study';

/** Positions to the micrometre: more digits say nothing. */
const round = (value: number): number => Math.round(value * 1000) / 1000;

export async function readStudyStacks(
  request: ViewerRequest,
  deps: ViewerDependencies,
  cache: ViewerCache,
): Promise<StudyStacks> {
  const [study, stored] = await Promise.all([openViewerStudy(request, deps, cache), readAnalysis(request, deps)]);
  try {
    const { findings } = stored;
    const seriesUid = findings.seriesInstanceUid;
    const instances = await study.seriesMetadata(seriesUid);
    const stacks = groupIntoStacks(axialSlicesOf(instances).slices);
    const levels: { level: LevelStack; slices: AxialSlice[] }[] = [];
    for (const finding of findings.levels) {
      const key = finding.keySlice;
      if (!key) continue;
      const stack = stacks.find((candidate) =>
        candidate.slices.some((slice) => slice.sopInstanceUid === key.sopInstanceUid && slice.frame === key.frame),
      );
      if (!stack) continue;
      // The stack's own order (groupIntoStacks): along its normal turned to point superior, so positions increase.
      const normal = stack.slices[0]?.geometry.normal ?? ([0, 0, 1] as Vec3);
      const axis: Vec3 = normal[2] < 0 ? [-normal[0], -normal[1], -normal[2]] : normal;
      levels.push({
        level: {
          level: finding.level,
          slices: stack.slices.map((slice) => ({
            sopInstanceUid: slice.sopInstanceUid,
            frame: slice.frame,
            position: round(dot(slice.geometry.position, axis)),
          })),
        },
        slices: stack.slices,
      });
    }
    const sagittal = await sagittalReference(
      study,
      seriesUid,
      instances,
      levels.flatMap((level) => level.slices),
    );
    return {
      studyInstanceUid: study.studyInstanceUid,
      seriesInstanceUid: seriesUid,
      levels: levels.map(({ level }) => level),
      ...(sagittal ? { sagittal } : {}),
    };
  } catch (error) {
    throw toPipelineError(error);
  }
}

/** The analysis's sagittal image and the line of every axial slice on it; undefined when the study has none usable. */
async function sagittalReference(
  study: ViewerStudy,
  axialSeriesUid: string,
  axialInstances: DicomJson[],
  axialSlices: AxialSlice[],
): Promise<SagittalReference | undefined> {
  // As the analysis chose it (analyze-images.ts selectAxialSeries): among the other series, metadata of MR ones.
  const others = (await study.seriesList()).filter(
    (series) => getString(series, 'SeriesInstanceUID') !== axialSeriesUid,
  );
  const described = await Promise.all(
    others.map(async (series) => {
      const instances = isCandidateSeries(series)
        ? await study.seriesMetadata(requireString(series, 'SeriesInstanceUID'))
        : [];
      return { facts: seriesFacts(series, instances), instances };
    }),
  );
  const chosen = chooseSagittalSeries(
    described,
    axialInstances.map((meta) => getString(meta, 'FrameOfReferenceUID')).find(Boolean),
  );
  if (!chosen || 'unusable' in chosen) return undefined;
  const frames = midSagittalFrames(chosen);
  const middle = frames[Math.floor(frames.length / 2)];
  const width = middle && getNumber(middle.meta, 'Columns');
  const height = middle && getNumber(middle.meta, 'Rows');
  if (!middle || !width || !height) return undefined;
  const image = { geometry: middle.geometry, width, height };
  const lines: SliceLine[] = [];
  const seen = new Set<string>();
  for (const slice of axialSlices) {
    const id = `${slice.sopInstanceUid}\u0000${slice.frame}`;
    if (seen.has(id)) continue;
    seen.add(id);
    // A slice whose plane misses the sagittal image has no line to draw.
    const line = referenceLine({ normal: slice.geometry.normal, point: slice.geometry.position }, image);
    if (line) lines.push({ sopInstanceUid: slice.sopInstanceUid, frame: slice.frame, line });
  }
  return {
    seriesInstanceUid: chosen.facts.seriesInstanceUid,
    sopInstanceUid: middle.sopInstanceUid,
    frame: middle.frame,
    lines,
  };
}
