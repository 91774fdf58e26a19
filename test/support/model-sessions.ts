/**
 * Detector sessions for tests that run one model beside edited copies of its manifest (`modelVariant`): each named
 * session is opened on the CPU, the edited copies live in one scratch folder, and `release()` closes every session
 * and removes the folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDetectorSession, type DetectorSession } from '../../server/src/inference/detector-session';
import type { ModelManifestInput } from '../../server/src/inference/manifest';
import { modelVariant } from './model-variant';

export interface SessionSpec {
  /** The model folder. */
  model: string;
  /** An edit of its manifest; without one, the folder itself is opened. */
  edit?: (manifest: ModelManifestInput) => void;
}

export interface ModelSessions<Name extends string> {
  sessions: Record<Name, DetectorSession>;
  /** Where the edited copies are; a test may write further variants here, and they go with `release()`. */
  scratch: string;
  release(): Promise<void>;
}

export async function openModelSessions<Name extends string>(
  label: string,
  specs: Record<Name, SessionSpec>,
): Promise<ModelSessions<Name>> {
  const scratch = await mkdtemp(path.join(tmpdir(), `ldh-${label}-`));
  const opened: DetectorSession[] = [];
  const release = async (): Promise<void> => {
    for (const session of opened) await session.release?.();
    await rm(scratch, { recursive: true, force: true });
  };
  // Settled, not raced: every session that did open is known before any is released.
  const settled = await Promise.allSettled(
    (Object.entries(specs) as [Name, SessionSpec][]).map(async ([name, { model, edit }]) => {
      const dir = edit ? await modelVariant(model, path.join(scratch, name), edit) : model;
      const session = await createDetectorSession(dir, undefined, { executionProvider: 'cpu' });
      opened.push(session);
      return [name, session] as const;
    }),
  );
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    // A session that fails to open (or an edit's own expectation) must not leave the others' native memory behind.
    await release();
    throw failed.reason;
  }
  const entries = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  return { sessions: Object.fromEntries(entries) as Record<Name, DetectorSession>, scratch, release };
}
