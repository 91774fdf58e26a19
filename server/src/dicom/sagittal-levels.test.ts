/**
 * Levels from the sagittal series, on realistic synthetic studies whose axial series cover the lumbar spine in
 * the ways sites actually scan it: all five discs, the lower three only, L1-L2 to L4-L5 without L5-S1, and with a
 * level skipped. Counting up from the lowest stack gets the last two wrong or refuses them.
 */
import { describe, expect, it } from 'vitest';
import { generateSyntheticStudy, type SyntheticStudy } from '../../../models/synthetic';
import { DISC_LEVELS, type DiscLevel } from '../findings/findings';
import { decodeFrame, pixelModuleFromMetadata } from './decode-frame';
import { frameGeometries, type SliceGeometry } from './geometry';
import { readPart10 } from './part10';
import { assignLevelsFromSagittal, SagittalCrossReferenceError, type SagittalImage } from './sagittal-levels';
import { groupIntoStacks } from './stacks';

interface TruthSlice {
  geometry: SliceGeometry;
  truth: DiscLevel;
}

function axialSlices(study: SyntheticStudy, keep: readonly DiscLevel[]): TruthSlice[] {
  const levelOf = new Map<string, DiscLevel>();
  for (const level of study.groundTruth.levels) for (const uid of level.sopInstanceUids) levelOf.set(uid, level.level);
  return (study.series[0]?.instances ?? []).flatMap((instance) => {
    const truth = levelOf.get(instance.sopInstanceUid);
    const geometry = frameGeometries(readPart10(instance.part10).dataset)[0];
    return truth && geometry && keep.includes(truth) ? [{ geometry, truth }] : [];
  });
}

async function midSagittal(study: SyntheticStudy): Promise<SagittalImage> {
  const instances = study.series[1]?.instances ?? [];
  const slab = instances.slice(Math.floor(instances.length / 2) - 1, Math.floor(instances.length / 2) + 2);
  const decoded = await Promise.all(
    slab.map((instance) => {
      const object = readPart10(instance.part10);
      return decodeFrame(
        object.frames[0] ?? new Uint8Array(),
        pixelModuleFromMetadata(object.dataset),
        object.transferSyntaxUid,
      );
    }),
  );
  const first = decoded[0];
  const middle = slab[1];
  if (!first || !middle) throw new Error('the study has no sagittal series');
  const pixels = new Float32Array(first.pixels.length);
  for (const image of decoded)
    image.pixels.forEach((value, i) => (pixels[i] = (pixels[i] ?? 0) + value / decoded.length));
  const geometry = frameGeometries(readPart10(middle.part10).dataset)[0];
  if (!geometry) throw new Error('sagittal slice without geometry');
  return { width: first.width, height: first.height, pixels, geometry, label: "series 2 'SAG T2 TSE'" };
}

const COVERAGES: { name: string; keep: DiscLevel[] }[] = [
  { name: 'all five discs', keep: [...DISC_LEVELS] },
  { name: 'L3-L4 to L5-S1 only', keep: ['L3-L4', 'L4-L5', 'L5-S1'] },
  { name: 'L1-L2 to L4-L5, no L5-S1', keep: ['L1-L2', 'L2-L3', 'L3-L4', 'L4-L5'] },
  { name: 'L3-L4 skipped', keep: ['L1-L2', 'L2-L3', 'L4-L5', 'L5-S1'] },
];

describe.each([1, 3])('when the axial stacks of synthetic study %i are located on its sagittal series', (seed) => {
  const study = generateSyntheticStudy({ seed, patientId: `sagittal-${seed}` });
  const sagittal = midSagittal(study);

  it.each(COVERAGES)('then with $name every stack gets its own level, without doubt', async ({ keep }) => {
    const slices = axialSlices(study, keep);
    const result = assignLevelsFromSagittal(groupIntoStacks(slices), await sagittal);
    expect(result.stacks.map((stack) => stack.level).sort()).toEqual([...keep].sort());
    for (const stack of result.stacks) for (const slice of stack.slices) expect(slice.truth).toBe(stack.level);
    expect(result.warnings).toEqual([]);
    expect(result.assignment.method).toBe('sagittal-cross-reference');
    expect(result.assignment.description).toContain("series 2 'SAG T2 TSE'");
  });
});

describe('when the sacrum below the lowest stack looks partly like a disc (synthetic study 966010)', () => {
  // Counting it as a sixth disc put every stack one level up: L5-S1 read as L4-L5, L1-L2 dropped as "above L1-L2".
  it('then it is not counted, the five stacks keep their levels, and the doubt is reported', async () => {
    const study = generateSyntheticStudy({
      seed: 966010,
      patientId: 'sagittal-966010',
      field: 1.5,
      snr: 'high',
      matrix: 384,
    });
    const result = assignLevelsFromSagittal(groupIntoStacks(axialSlices(study, DISC_LEVELS)), await midSagittal(study));
    expect(result.stacks.map((stack) => stack.level).sort()).toEqual([...DISC_LEVELS].sort());
    for (const stack of result.stacks) for (const slice of stack.slices) expect(slice.truth).toBe(stack.level);
    expect(result.warnings.join(' ')).toMatch(
      /Disc levels are uncertain: .*not counted, as counting them would put an axial stack above L1-L2/,
    );
  });
});

describe('when the sagittal image does not show the spine', () => {
  it('then cross-referencing is refused with the reason, for the caller to fall back to counting', async () => {
    const study = generateSyntheticStudy({ seed: 1, patientId: 'sagittal-noise' });
    const image = await midSagittal(study);
    let state = 12345;
    const noise = image.pixels.map(() => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return (state / 2 ** 31) * 1000;
    });
    expect(() =>
      assignLevelsFromSagittal(groupIntoStacks(axialSlices(study, DISC_LEVELS)), { ...image, pixels: noise }),
    ).toThrow(SagittalCrossReferenceError);
  });
});
