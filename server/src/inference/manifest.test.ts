import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadModelManifest, type ModelManifestInput } from './manifest';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * The default model's manifest with only its required fields (a plain whole-slice detector, as a site might export
 * one: no zoomed passes, corroboration, key-slice rule, classFrom or spanning share), edited, in a folder of its own.
 */
async function manifestWith(edit: (manifest: Record<string, unknown>) => void): Promise<string> {
  const shipped = JSON.parse(await readFile('models/msu-ldh/1.8.0/manifest.json', 'utf8')) as ModelManifestInput;
  const { id, version, name, intendedUse, file, input, output, classes, trainingData } = shipped;
  const thresholds = { confidence: shipped.thresholds.confidence, iou: shipped.thresholds.iou };
  const manifest: Record<string, unknown> = {
    id,
    version,
    name,
    intendedUse,
    file,
    input,
    output,
    classes,
    thresholds,
    trainingData,
  };
  edit(manifest);
  const dir = await mkdtemp(path.join(tmpdir(), 'ldh-manifest-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

describe('loadModelManifest', () => {
  it('when classFrom, refinement and thresholds.spanning are left out, then the classifier decides, there is no second pass and spanning is 0.75', async () => {
    const { manifest } = await loadModelManifest(await manifestWith(() => undefined));
    expect(manifest.classFrom).toBe('classifier');
    expect(manifest.refinement).toBeUndefined();
    expect(manifest.thresholds.spanning).toBe(0.75);
  });

  it('when classFrom is "geometry" but the model has no facet keypoints, then the manifest is refused and says why', async () => {
    const dir = await manifestWith((manifest) => {
      manifest.classFrom = 'geometry';
      (manifest.output as Record<string, unknown>).numKeypoints = 0;
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/classFrom "geometry" needs the two facet keypoints/);
  });

  it('when the refinement zoom is below 1, then the manifest is refused naming the field', async () => {
    const dir = await manifestWith((manifest) => {
      manifest.refinement = { file: 'refine.onnx', zoom: 0.5 };
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/Invalid model manifest .*refinement\.zoom/);
  });

  it('when verification is given, then it is kept with mirror off by default; a weight above 1 is refused naming the field', async () => {
    const verification = { file: 'verify.onnx', zoom: 4, candidateScore: 0.05, weight: 0.5 };
    const { manifest } = await loadModelManifest(
      await manifestWith((m) => {
        m.verification = verification;
      }),
    );
    expect(manifest.verification).toEqual({ ...verification, mirror: false });
    const dir = await manifestWith((m) => {
      m.verification = { ...verification, weight: 1.5 };
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/Invalid model manifest .*verification\.weight/);
  });
  it('when a zoomed pass names its own input size, then it is kept; a size of 0 is refused naming the field', async () => {
    const refinement = { file: 'refine.onnx', zoom: 4, mirror: true, classes: 'average', size: [256, 256] };
    const { manifest } = await loadModelManifest(
      await manifestWith((m) => {
        m.refinement = refinement;
      }),
    );
    expect(manifest.refinement).toEqual(refinement);
    const dir = await manifestWith((m) => {
      m.refinement = { ...refinement, size: [0, 256] };
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/Invalid model manifest .*refinement\.size/);
  });

  it('when a zoomed pass lists views, then a missing shift or zoom defaults to the centred crop; a shift beyond the box is refused naming the field', async () => {
    const refinement = { file: 'refine.onnx', zoom: 6, mirror: true, classes: 'average' };
    const { manifest } = await loadModelManifest(
      await manifestWith((m) => {
        m.refinement = { ...refinement, views: [{}, { shift: [0.1, -0.1] }, { zoom: 1.2 }] };
      }),
    );
    expect(manifest.refinement?.views).toEqual([
      { shift: [0, 0], zoom: 1 },
      { shift: [0.1, -0.1], zoom: 1 },
      { shift: [0, 0], zoom: 1.2 },
    ]);
    const dir = await manifestWith((m) => {
      m.refinement = { ...refinement, views: [{ shift: [1.5, 0] }] };
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/Invalid model manifest .*refinement\.views\.0\.shift/);
    const none = await manifestWith((m) => {
      m.refinement = { ...refinement, views: [] };
    });
    await expect(loadModelManifest(none)).rejects.toThrow(/Invalid model manifest .*refinement\.views/);
  });

  it('when a classification pass is given, then it is kept with its size; a zoom under 1 is refused naming the field', async () => {
    const classification = { file: 'classify.onnx', zoom: 4, mirror: true, size: [256, 256] as [number, number] };
    const { manifest } = await loadModelManifest(
      await manifestWith((m) => {
        m.classification = classification;
      }),
    );
    expect(manifest.classification).toEqual(classification);
    const dir = await manifestWith((m) => {
      m.classification = { ...classification, zoom: 0.5 };
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/Invalid model manifest .*classification\.zoom/);
  });

  it('when corroboration is given, then it is kept; zero slices are refused naming the field', async () => {
    const corroboration = { slices: 2, iou: 0.2 };
    const { manifest } = await loadModelManifest(
      await manifestWith((m) => {
        m.corroboration = corroboration;
      }),
    );
    expect(manifest.corroboration).toEqual(corroboration);
    const dir = await manifestWith((m) => {
      m.corroboration = { ...corroboration, slices: 0 };
    });
    await expect(loadModelManifest(dir)).rejects.toThrow(/Invalid model manifest .*corroboration\.slices/);
  });
});
