/**
 * A model folder for tests: an edited copy of `modelDir`'s manifest beside copies of its ONNX files, so a test can
 * run the same networks with one manifest field changed.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelManifestInput } from '../../server/src/inference/manifest';

export async function modelVariant(
  modelDir: string,
  dir: string,
  edit: (manifest: ModelManifestInput) => void,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as ModelManifestInput;
  edit(manifest);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  for (const file of await readdir(modelDir)) {
    if (file.endsWith('.onnx')) await copyFile(path.join(modelDir, file), path.join(dir, file));
  }
  return dir;
}
