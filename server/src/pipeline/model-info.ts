/**
 * What the panel says about the model (GET /api/model, GET /api/model/card): the manifest's identity and intended
 * use, the digest the FHIR Device carries, whether it is the repository's bundled demo model, and its model card.
 * No PHI, no token.
 *
 * `bundled` — the panel then says "not for clinical use — synthetic-trained demo model" — when MODEL_DIR lies in the
 * repository's `models/` folder, when its digest is that of a model shipped there (a copy elsewhere), or when its
 * manifest says of itself that it is a synthetic-trained demo model.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { loadModelManifest } from '../inference/manifest';
import { PipelineError } from './pipeline-error';

export interface ModelInfo {
  id: string;
  version: string;
  name: string;
  intendedUse: string;
  /** `sha256:…` of the manifest and networks (the FHIR Device's version). */
  digest: string;
  bundled: boolean;
}

/** The repository's models folder (server/src/pipeline → models). */
const REPOSITORY_MODELS_DIR = path.resolve(import.meta.dirname, '..', '..', '..', 'models');
const DEMO_MODEL_PHRASE = /synthetic-trained demo model/i;

const infoByDir = new Map<string, Promise<ModelInfo>>();

/** The model of MODEL_DIR; read and hashed once per folder. */
export function readModelInfo(modelDir: string): Promise<ModelInfo> {
  const resolved = path.resolve(modelDir);
  let info = infoByDir.get(resolved);
  if (!info) {
    info = describeModel(resolved);
    infoByDir.set(resolved, info);
    // A folder that could not be read is read again next time (it may be being copied in).
    info.catch(() => infoByDir.delete(resolved));
  }
  return info;
}

async function describeModel(modelDir: string): Promise<ModelInfo> {
  const { manifest, digest } = await loadModelManifest(modelDir);
  const bundled =
    (await isInside(modelDir, REPOSITORY_MODELS_DIR)) ||
    DEMO_MODEL_PHRASE.test(manifest.intendedUse) ||
    (await shippedDigests()).has(digest);
  return {
    id: manifest.id,
    version: manifest.version,
    name: manifest.name,
    intendedUse: manifest.intendedUse,
    digest,
    bundled,
  };
}

async function isInside(dir: string, parent: string): Promise<boolean> {
  const [real, realParent] = await Promise.all([realpath(dir).catch(() => dir), realpath(parent).catch(() => parent)]);
  const relative = path.relative(realParent, real);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

let shipped: Promise<Set<string>> | undefined;

/** Digests of the models in the repository's `models/<id>/<version>/` folders (none when it is not there). */
function shippedDigests(): Promise<Set<string>> {
  shipped ??= (async () => {
    const digests = new Set<string>();
    const ids = await readdir(REPOSITORY_MODELS_DIR, { withFileTypes: true }).catch(() => []);
    for (const id of ids.filter((entry) => entry.isDirectory())) {
      const versions = await readdir(path.join(REPOSITORY_MODELS_DIR, id.name), { withFileTypes: true });
      for (const version of versions.filter((entry) => entry.isDirectory())) {
        const loaded = await loadModelManifest(path.join(REPOSITORY_MODELS_DIR, id.name, version.name)).catch(
          () => undefined,
        );
        if (loaded) digests.add(loaded.digest);
      }
    }
    return digests;
  })();
  return shipped;
}

/** MODEL_CARD.md of the model folder; not-found when the folder has none. */
export async function readModelCard(modelDir: string): Promise<string> {
  try {
    return await readFile(path.join(modelDir, 'MODEL_CARD.md'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new PipelineError('not-found', 'The model in use has no model card (MODEL_CARD.md in its folder).');
    throw error;
  }
}
