/**
 * What the panel keeps in the tab's sessionStorage so a lost session costs the clinician nothing: the review draft
 * of a report version (until it is signed), and the EHR launch URL (to re-authorize in the same window). The storage
 * is a parameter so the tests use a Map; the panel passes `window.sessionStorage`.
 */

export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const PENDING_REVIEW_PREFIX = 'ldh-cds:pending-review:';
const LAUNCH_URL_KEY = 'ldh-cds:launch-url';
const SELECTED_STUDY_KEY = 'ldh-cds:selected-study';

/** One draft per report version: a draft made against version 3 is never offered for version 4. */
export function pendingReviewKey(diagnosticReport: string, versionId: string): string {
  return `${PENDING_REVIEW_PREFIX}${diagnosticReport}@${versionId}`;
}

/** Storage can be full or switched off (private mode); the panel then works without it. */
function attempt<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch {
    return undefined;
  }
}

export function savePendingReview(storage: KeyValueStorage, key: string, draft: unknown): void {
  attempt(() => {
    storage.setItem(key, JSON.stringify(draft));
  });
}

/** The stored draft as parsed JSON (the caller checks it field by field), or undefined. */
export function loadPendingReview(storage: KeyValueStorage, key: string): unknown {
  const text = attempt(() => storage.getItem(key));
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function clearPendingReview(storage: KeyValueStorage, key: string): void {
  attempt(() => {
    storage.removeItem(key);
  });
}

/**
 * Kept by launch.html: the EHR's launch URL (`launch.html?iss=…&launch=…`) of this tab's session. A launch other than
 * the one the tab remembers is a new context — another patient, or the study a CDS card opens the app at — so the
 * study the tab had open is forgotten; the same launch again (Re-authorize) keeps it.
 */
export function rememberLaunchUrl(storage: KeyValueStorage, href: string): void {
  attempt(() => {
    if (storage.getItem(LAUNCH_URL_KEY) !== href) storage.removeItem(SELECTED_STUDY_KEY);
    storage.setItem(LAUNCH_URL_KEY, href);
  });
}

/** The launch URL to re-run the SMART launch with, when launch.html stored one for this app's origin. */
export function rememberedLaunchUrl(storage: KeyValueStorage, appOrigin: string): string | undefined {
  const href = attempt(() => storage.getItem(LAUNCH_URL_KEY));
  if (!href) return undefined;
  try {
    const url = new URL(href);
    if (url.origin !== appOrigin || !url.searchParams.get('iss') || !url.searchParams.get('launch')) return undefined;
    return url.toString();
  } catch {
    return undefined;
  }
}

/** A storage that forgets everything: where the browser refuses sessionStorage (a sandboxed frame, a policy). */
const NO_STORAGE: KeyValueStorage = { getItem: () => null, setItem: () => undefined, removeItem: () => undefined };

/** The tab's sessionStorage, or a storage that keeps nothing when the browser refuses access to it. */
export function tabStorage(): KeyValueStorage {
  try {
    return window.sessionStorage;
  } catch {
    return NO_STORAGE;
  }
}

/** The study the panel has open, so that it is open again after a re-authorization brings the tab back. */
export function rememberSelectedStudy(storage: KeyValueStorage, studyId: string): void {
  attempt(() => {
    storage.setItem(SELECTED_STUDY_KEY, studyId);
  });
}

export function rememberedSelectedStudy(storage: KeyValueStorage): string | undefined {
  return attempt(() => storage.getItem(SELECTED_STUDY_KEY)) ?? undefined;
}

const ANALYSIS_JOB_PREFIX = 'ldh-cds:analysis-job:';

/**
 * The running analysis job of a study, kept so that a reload or a re-launch of the same study reconnects to it: one
 * per FHIR base and ImagingStudy. Only the job's id is kept — never the token (the job answers only the user who
 * started or joined it, with their current token).
 */
export function analysisJobKey(fhirBaseUrl: string, studyId: string): string {
  return `${ANALYSIS_JOB_PREFIX}${fhirBaseUrl}|ImagingStudy/${studyId}`;
}

export function rememberAnalysisJob(storage: KeyValueStorage, key: string, jobId: string): void {
  attempt(() => {
    storage.setItem(key, jobId);
  });
}

/** The remembered job id, when it looks like one (a UUID-like word: it goes into a URL path). */
export function rememberedAnalysisJob(storage: KeyValueStorage, key: string): string | undefined {
  const jobId = attempt(() => storage.getItem(key));
  return jobId && /^[\w-]{1,100}$/.test(jobId) ? jobId : undefined;
}

export function forgetAnalysisJob(storage: KeyValueStorage, key: string): void {
  attempt(() => {
    storage.removeItem(key);
  });
}
