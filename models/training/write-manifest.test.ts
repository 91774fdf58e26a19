/**
 * The committed manifests are what `write-manifest.ts` makes of the training facts beside them, so `npm run train`
 * reproduces them. (1.4.0 predates corroboration, which the script now always writes beside a verifier; 1.0.0–1.2.0
 * predate the refiner's facts.)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildManifest, KEY_SLICE, readTrainingFacts, REFINE_VIEWS } from './write-manifest';

const MODELS = path.resolve(import.meta.dirname, '../msu-ldh');

describe('write-manifest', () => {
  it.each(['1.3.0', '1.4.1', '1.5.0', '1.6.0', '1.7.0', '1.8.0', '1.9.0'])(
    'when msu-ldh %s is rebuilt from its training facts, then it is the committed manifest',
    async (version) => {
      const folder = path.join(MODELS, version);
      const committed = JSON.parse(await readFile(path.join(folder, 'manifest.json'), 'utf8')) as {
        classFrom: 'classifier';
        keySlice?: unknown;
        refinement?: { views?: unknown };
      };
      const { facts, passes } = await readTrainingFacts(folder);
      const keySlice = committed.keySlice ? 'largest' : 'strongest';
      const views = committed.refinement?.views ? 'augmented' : 'centred';
      const rebuilt: unknown = JSON.parse(
        JSON.stringify(buildManifest(version, facts, passes, committed.classFrom, keySlice, views)),
      );
      expect(rebuilt).toEqual(committed);
    },
  );

  it('when the manifest is written at its defaults beside a refiner, then it carries the key-slice rule; without one, not', async () => {
    const { facts, passes } = await readTrainingFacts(path.join(MODELS, '1.8.0'));
    expect(buildManifest('1.8.0', facts, passes).keySlice).toEqual(KEY_SLICE);
    expect(buildManifest('1.8.0', facts, passes, 'classifier', 'strongest').keySlice).toBeUndefined();
    expect(buildManifest('1.8.0', facts, { ...passes, refiner: undefined }).keySlice).toBeUndefined();
  });

  it('when the manifest is written at its defaults, then the refiner cuts one centred crop; augmented, REFINE_VIEWS', async () => {
    const { facts, passes } = await readTrainingFacts(path.join(MODELS, '1.8.0'));
    expect(buildManifest('1.8.0', facts, passes).refinement?.views).toBeUndefined();
    const augmented = buildManifest('1.9.0', facts, passes, 'classifier', 'largest', 'augmented');
    expect(augmented.refinement?.views).toEqual(REFINE_VIEWS);
    // The other zoomed passes keep one centred crop.
    expect(augmented.classification?.views).toBeUndefined();
  });

  it('when the refiner saw more studies than the detector and weighted its edges, then trainingData says so', async () => {
    const { facts, passes } = await readTrainingFacts(path.join(MODELS, '1.7.0'));
    const manifest = buildManifest('1.7.0', facts, passes);
    expect(manifest.trainingData).toContain(
      'Box refiner: 3235 herniation crops of 800 studies at zoom 6, box-edge loss weights 1/1/1/2, 30 epochs',
    );
    const { facts: older, passes: olderPasses } = await readTrainingFacts(path.join(MODELS, '1.6.0'));
    expect(buildManifest('1.6.0', older, olderPasses).trainingData).toContain(
      'Box refiner: 1550 herniation crops at zoom 6, 60 epochs',
    );
  });
});
