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
  return toAnalysisResult(body);
}

/** The result as the panel shows it, whether a response or a job brought it. */
function toAnalysisResult(body: AnalysisResultBody): AnalysisResult {
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

/** The states of an analysis job (server/src/jobs/analysis-jobs.ts): the last three are never left. */
export const JOB_STATES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type FinishedJobState = Extract<JobState, 'completed' | 'failed' | 'cancelled'>;

export function isFinishedJobState(state: JobState): state is FinishedJobState {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}

/** How far a job has got: the stage (`finding-series`, `retrieving`, …), its count, and the clinician's line for it. */
export interface JobProgress {
  stage: string;
  done?: number;
  total?: number;
  /** "Retrieving images 12/40", "Writing the results to the EHR", "Cancelled: nothing was written", … */
  text: string;
}

/** An analysis job as the panel reads it (`GET /api/analyses/jobs/{id}`, the 202 of the POST, each event). */
export interface AnalysisJob {
  id: string;
  state: JobState;
  progress: JobProgress;
  /** `completed`: what a synchronous analysis answered. */
  result?: AnalysisResult;
  /** `failed`: the status and OperationOutcome a synchronous analysis would have answered. */
  error?: { status: number; outcome: unknown };
}

/** A job id as the server makes them (a UUID), and nothing that could change the path it goes into. */
const JOB_ID = /^[\w-]{1,100}$/;

export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID.test(value);
}

function countField(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** A job snapshot read field by field: undefined when it is not one (a proxy's page, another API's JSON). */
export function toAnalysisJob(body: unknown): AnalysisJob | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const raw = body as Record<string, unknown>;
  const state = JOB_STATES.find((known) => known === raw.state);
  if (!isJobId(raw.id) || !state) return undefined;
  const progress =
    typeof raw.progress === 'object' && raw.progress !== null ? (raw.progress as Record<string, unknown>) : {};
  const done = countField(progress.done);
  const total = countField(progress.total);
  const job: AnalysisJob = {
    id: raw.id,
    state,
    progress: {
      stage: typeof progress.stage === 'string' ? progress.stage : 'queued',
      ...(done !== undefined ? { done } : {}),
      ...(total !== undefined ? { total } : {}),
      text: typeof progress.text === 'string' ? progress.text : '',
    },
  };
  if (isAnalysisResult(raw.result)) job.result = toAnalysisResult(raw.result);
  if (typeof raw.error === 'object' && raw.error !== null) {
    const { status, outcome } = raw.error as { status?: unknown; outcome?: unknown };
    if (typeof status === 'number') job.error = { status, outcome };
  }
  return job;
}

export function analysisJobUrl(baseUrl: string, jobId: string, suffix: '' | '/events' = ''): string {
  return new URL(`${ANALYSES_PATH}/jobs/${encodeURIComponent(jobId)}${suffix}`, baseUrl).toString();
}

/** What Analyze gets: the EHR's stored analysis at once, or the job that computes it. */
export type AnalyzeAnswer = { kind: 'result'; result: AnalysisResult } | { kind: 'job'; job: AnalysisJob };

/**
 * `POST /api/analyses` — this model version's stored analysis when the EHR holds one (200), else the job that runs
 * the pipeline on the study and writes the results back to the EHR (202; joined when the study is already being
 * analyzed). No `Prefer: wait`: the panel follows the job (`job-follower.ts`).
 */
export async function postAnalysis(
  session: ApiSession,
  studyId: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalyzeAnswer> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(analysesUrl(options.baseUrl), {
    method: 'POST',
    headers: buildApiHeaders(session, true),
    body: JSON.stringify({ imagingStudy: studyReference(studyId) }),
    signal: options.signal,
  });
  if (response.status === 202) {
    // RFC 9110 §15.3.3: accepted, running; the body is the job.
    const job = toAnalysisJob(await readJson(response));
    if (!job) {
      throw new ApiError(202, 'The ldh-cds server started the analysis, but did not say how to follow it.');
    }
    return { kind: 'job', job };
  }
  return { kind: 'result', result: await responseToResult(response) };
}

/** `GET /api/analyses/jobs/{id}` — the job now, or `null` when the server does not know it for this session (404). */
export async function getAnalysisJob(
  session: ApiSession,
  jobId: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalysisJob | null> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(analysisJobUrl(options.baseUrl, jobId), {
    method: 'GET',
    headers: buildApiHeaders(session, false),
    signal: options.signal,
  });
  if (response.status === 404) return null;
  return responseToJob(response);
}

/**
 * `DELETE /api/analyses/jobs/{id}` — cancels the job: the job answered (202 while it stops, 200 once cancelled);
 * an ApiError 409 with the server's sentence when it is already writing its results or has finished.
 */
export async function cancelAnalysisJob(
  session: ApiSession,
  jobId: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalysisJob> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(analysisJobUrl(options.baseUrl, jobId), {
    method: 'DELETE',
    headers: buildApiHeaders(session, false),
    signal: options.signal,
  });
  return responseToJob(response);
}

async function responseToJob(response: Response): Promise<AnalysisJob> {
  const body = await readJson(response);
  if (!response.ok) {
    const message = errorBodyToMessage(body, response.status, response.statusText);
    throw new ApiError(response.status, message, requestReferenceOf(response.headers, body));
  }
  const job = toAnalysisJob(body);
  if (!job) throw new ApiError(response.status, 'The ldh-cds server answered, but not with an analysis job.');
  return job;
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
