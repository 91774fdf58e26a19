/**
 * The client side of the ldh-cds app server API (docs/architecture.md §Processes and URLs). Components call these
 * functions; they never build requests themselves. `fetch` is injectable so the module can be tested in node.
 */
import type { Findings, ReviewRequest, Signature } from '../../server/src/findings/findings';
import { errorBodyToMessage, requestReferenceOf } from './operation-outcome';

/** One version of the report in the EHR, as `GET /api/analyses` lists them once a clinician has signed. */
export interface ReportVersion {
  /** The report's `meta.versionId`. */
  versionId: string;
  /** DiagnosticReport.status of that version: `preliminary`, `final`, `amended`, … */
  status: string;
  /** Who made the version: a display name or a reference (the AI device for the first). */
  by?: string;
  /** FHIR instant. */
  at?: string;
}

/** Response of `POST /api/analyses` and of `GET /api/analyses?imagingStudy=…`. */
export interface AnalysisResult {
  findings: Findings;
  /** `DiagnosticReport/<id>` on the EHR's FHIR server. */
  diagnosticReport: string;
  /** `Observation/<id>`, one per level. */
  observations: string[];
  /** The report's status in the EHR (`preliminary` until a clinician signs it). */
  status?: string;
  /** When the analysis ran (FHIR instant). */
  issued?: string;
  /** POST only: false when the EHR already held this model version's analysis and it was not recomputed. */
  created?: boolean;
  /** POST only: the earlier AI report this analysis superseded. */
  superseded?: string;
  /** The report's `meta.versionId`: a review is signed against the version the clinician saw. */
  versionId?: string;
  /** The report's versions, newest first: the AI's, each signing and amendment. */
  history?: ReportVersion[];
  /** Where the DICOM SR of the analysis is (shape owned by the server; not shown yet). */
  structuredReport?: unknown;
}

/** What every API call needs from the SMART session. */
export interface ApiSession {
  accessToken: string;
  /** The FHIR base URL the token is for (`client.state.serverUrl`). */
  fhirServer: string;
}

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

/** A failed API call: HTTP status, the message to show, and the server's request id for support. */
export class ApiError extends Error {
  readonly status: number;
  /** The app server's id of the request (`X-Request-Id`): the user quotes it, support finds the log line. */
  readonly reference: string | undefined;
  constructor(status: number, message: string, reference?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reference = reference;
  }
  /** 401: the token is expired or was revoked — the user has to relaunch. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }
  /** 409: someone else changed the report since the user loaded it. */
  get isConflict(): boolean {
    return this.status === 409;
  }
}

/** Absolute paths on the app server's origin (the app server serves this client at `/`). */
export const ANALYSES_PATH = '/api/analyses';
export const REVIEW_PATH = '/api/analyses/review';

export function studyReference(studyId: string): string {
  return `ImagingStudy/${studyId}`;
}

export function buildApiHeaders(session: ApiSession, withBody: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Authorization: `Bearer ${session.accessToken}`,
    'X-FHIR-Server': session.fhirServer,
  };
  if (withBody) headers['Content-Type'] = 'application/json';
  return headers;
}

/** The wire shape, tolerant of a server that leaves out an empty `warnings`. */
type AnalysisResultBody = Omit<AnalysisResult, 'findings'> & {
  findings: Omit<Findings, 'warnings'> & { warnings?: string[] };
};

export function isAnalysisResult(body: unknown): body is AnalysisResultBody {
  if (typeof body !== 'object' || body === null) return false;
  const { findings, diagnosticReport, observations } = body as Record<string, unknown>;
  if (typeof diagnosticReport !== 'string' || !Array.isArray(observations)) return false;
  if (typeof findings !== 'object' || findings === null) return false;
  const { levels, model, warnings } = findings as Record<string, unknown>;
  return (
    Array.isArray(levels) &&
    typeof model === 'object' &&
    model !== null &&
    (warnings === undefined || Array.isArray(warnings))
  );
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function responseToResult(response: Response): Promise<AnalysisResult> {
  const body = await readJson(response);
  if (!response.ok) {
    const message = errorBodyToMessage(body, response.status, response.statusText);
    throw new ApiError(response.status, message, requestReferenceOf(response.headers, body));
  }
  if (!isAnalysisResult(body)) {
    throw new ApiError(response.status, 'The ldh-cds server answered, but not with findings the app can read.');
  }
  const history = historyOf((body as { history?: unknown }).history);
  return {
    ...body,
    findings: { ...body.findings, warnings: body.findings.warnings ?? [] },
    ...(history ? { history } : {}),
  };
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() ? value : undefined;
}

/** The history as the panel reads it: entries without a versionId or status are dropped, not shown half. */
export function historyOf(value: unknown): ReportVersion[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((entry: unknown): ReportVersion[] => {
    if (typeof entry !== 'object' || entry === null) return [];
    const raw = entry as Record<string, unknown>;
    const versionId = stringField(raw.versionId);
    const status = stringField(raw.status);
    if (!versionId || !status) return [];
    const signature = raw.signature as Partial<Signature> | undefined;
    const by = stringField(raw.display) ?? stringField(raw.by) ?? stringField(signature?.display);
    const at = stringField(raw.at) ?? stringField(raw.lastUpdated) ?? stringField(signature?.at);
    return [{ versionId, status, ...(by ? { by } : {}), ...(at ? { at } : {}) }];
  });
}

/** The URL of the analyses endpoint, resolved against the page (the app server serves the client). */
export function analysesUrl(baseUrl: string, studyId?: string): string {
  const url = new URL(ANALYSES_PATH, baseUrl);
  if (studyId !== undefined) url.searchParams.set('imagingStudy', studyReference(studyId));
  return url.toString();
}

/**
 * How long the panel waits for an analysis to answer (RFC 7240 `Prefer: wait`, seconds; the server's longest): the
 * analysis runs as a job on the server, and until the panel follows its progress it asks for the synchronous answer.
 */
export const ANALYSIS_WAIT_SECONDS = 600;

/** `POST /api/analyses` — runs the pipeline on the study and writes the results back to the EHR. */
export async function postAnalysis(
  session: ApiSession,
  studyId: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalysisResult> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(analysesUrl(options.baseUrl), {
    method: 'POST',
    headers: { ...buildApiHeaders(session, true), Prefer: `wait=${ANALYSIS_WAIT_SECONDS}` },
    body: JSON.stringify({ imagingStudy: studyReference(studyId) }),
    signal: options.signal,
  });
  if (response.status === 202) {
    // Still running when the wait was over (RFC 9110 §15.3.3): it goes on, and its results reach the EHR.
    throw new ApiError(
      202,
      'The analysis is taking longer than usual; it goes on on the server. Reopen the study in a few minutes to see its result.',
      requestReferenceOf(response.headers, undefined),
    );
  }
  return responseToResult(response);
}

/** `GET /api/analyses?imagingStudy=ImagingStudy/<id>` — the stored analysis, or `null` when there is none (404). */
export async function getStoredAnalysis(
  session: ApiSession,
  studyId: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalysisResult | null> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(analysesUrl(options.baseUrl, studyId), {
    method: 'GET',
    headers: buildApiHeaders(session, false),
    signal: options.signal,
  });
  if (response.status === 404) return null;
  return responseToResult(response);
}

/** `POST /api/analyses/review` — signs the analysis version the clinician saw; answers the stored analysis. */
export async function postReview(
  session: ApiSession,
  request: ReviewRequest,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalysisResult> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(new URL(REVIEW_PATH, options.baseUrl).toString(), {
    method: 'POST',
    headers: buildApiHeaders(session, true),
    body: JSON.stringify(request),
    signal: options.signal,
  });
  return responseToResult(response);
}

/** The model card's markdown text (same-origin only: the token never goes elsewhere). */
export async function getModelCard(
  session: ApiSession,
  cardUrl: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<string> {
  const url = new URL(cardUrl, options.baseUrl);
  if (url.origin !== new URL(options.baseUrl).origin) {
    throw new ApiError(0, 'The model card is on another server; the app does not send your session there.');
  }
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(url.toString(), {
    method: 'GET',
    headers: { ...buildApiHeaders(session, false), Accept: 'text/markdown, text/plain;q=0.9' },
    signal: options.signal,
  });
  if (!response.ok) {
    throw new ApiError(
      response.status,
      errorBodyToMessage(await readJson(response), response.status, response.statusText),
    );
  }
  return response.text();
}
