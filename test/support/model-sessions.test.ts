import { access, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelSessions } from './model-sessions';

const MODEL_DIR = 'models/msu-ldh/1.8.0';

describe('openModelSessions', () => {
  it('when every spec opens, then each name has its session and release() removes the edited copies', async () => {
    const models = await openModelSessions('sessions-test', {
      asShipped: { model: MODEL_DIR },
      withoutRefiner: {
        model: MODEL_DIR,
        edit: (manifest) => {
          delete manifest.refinement;
        },
      },
    });
    expect(models.sessions.asShipped.manifest.refinement).toMatchObject({ file: 'refine.onnx' });
    expect(models.sessions.withoutRefiner.manifest.refinement).toBeUndefined();
    await access(path.join(models.scratch, 'withoutRefiner', 'manifest.json'));
    await models.release();
    await expect(access(models.scratch)).rejects.toThrow(/ENOENT/);
  });

  it('when one spec fails to open, then the error is the loader’s and the scratch folder is gone', async () => {
    const label = `sessions-failing-${process.pid}`;
    const opening = openModelSessions(label, {
      asShipped: { model: MODEL_DIR },
      broken: {
        model: MODEL_DIR,
        edit: (manifest) => {
          if (manifest.refinement) manifest.refinement.file = 'no-such-refiner.onnx';
        },
      },
    });
    await expect(opening).rejects.toThrow(/no-such-refiner\.onnx/);
    // The scratch folder's name is not returned on failure: no folder of this run's label may be left behind.
    const left = (await readdir(tmpdir())).filter((name) => name.startsWith(`ldh-${label}-`));
    expect(left).toEqual([]);
  });
});
