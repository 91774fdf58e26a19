/**
 * What the panel needs before it mounts a `LevelViewer`: the study's stacks (`/api/stacks`), loaded once per study
 * and session; and the model's identity (`/api/model`) that the viewer names beside its AI overlays.
 */
import { useEffect, useState } from 'react';
import type { StudyStacks } from '../../../server/src/findings/viewer';
import type { ApiSession } from '../api';
import { errorToMessage } from '../error-message';
import { getModelInfo, getStudyStacks, type ModelInfo } from './viewer-api';

export type Loadable<T> = { state: 'loading' } | { state: 'loaded'; value: T } | { state: 'error'; message: string };

const stacksRequests = new Map<string, Promise<StudyStacks>>();
const modelRequests = new Map<string, Promise<ModelInfo>>();

/** One request per key for the page's life; a failed one is forgotten so that the next mount retries. */
function once<T>(requests: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
  const existing = requests.get(key);
  if (existing) return existing;
  const request = start();
  requests.set(key, request);
  request.catch(() => requests.delete(key));
  return request;
}

function useLoadable<T>(key: string | undefined, load: () => Promise<T>, doing: string): Loadable<T> {
  const [result, setResult] = useState<{ key: string | undefined; loadable: Loadable<T> }>({
    key: undefined,
    loadable: { state: 'loading' },
  });
  useEffect(() => {
    if (key === undefined) return undefined;
    let live = true;
    load().then(
      (value) => {
        if (live) setResult({ key, loadable: { state: 'loaded', value } });
      },
      (error: unknown) => {
        if (live) setResult({ key, loadable: { state: 'error', message: errorToMessage(error, doing) } });
      },
    );
    return () => {
      live = false;
    };
    // `load` is a new closure each render; `key` names what it loads.
  }, [key]);
  return result.key === key ? result.loadable : { state: 'loading' };
}

/** `GET /api/stacks` for the study (pass the session once it is known). */
export function useStudyStacks(
  session: ApiSession | undefined,
  baseUrl: string,
  imagingStudyId: string,
): Loadable<StudyStacks> {
  const key = session ? `${new URL(baseUrl).origin}|${session.fhirServer}|${imagingStudyId}` : undefined;
  return useLoadable(
    key,
    () =>
      once(stacksRequests, key ?? '', () => {
        if (!session) return Promise.reject(new Error('no session'));
        return getStudyStacks(session, imagingStudyId, { baseUrl });
      }),
    'load the image stacks',
  );
}

/** `GET /api/model`, once per app server and EHR. */
export function useModelInfo(session: ApiSession | undefined, baseUrl: string): Loadable<ModelInfo> {
  const key = session ? `${new URL(baseUrl).origin}|${session.fhirServer}` : undefined;
  return useLoadable(
    key,
    () =>
      once(modelRequests, key ?? '', () => {
        if (!session) return Promise.reject(new Error('no session'));
        return getModelInfo(session, { baseUrl });
      }),
    'load the model',
  );
}
