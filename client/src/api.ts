/**
 * The client side of the ldh-cds app server API (docs/architecture.md §Processes and URLs). Components call these
 * functions; they never build requests themselves. `fetch` is injectable so the module can be tested in node.
 */
import type { Findings } from '../../server/src/findings/findings';
import { errorBodyToMessage } from './operation-outcome';

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
}

/** What every API call needs from the SMART session. */
export interface ApiSession {
  accessToken: string;
  /** The FHIR base URL the token is for (`client.state.serverUrl`). */
  fhirServer: string;
}

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

/** A failed API call: HTTP status and the message to show. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
  /** 401: the token is expired or was revoked — the user has to relaunch. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }
}

/** Absolute path on the app server's origin (the app server serves this client at `/`). */
export const ANALYSES_PATH = '/api/analyses';

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
  if (!response.ok) throw new ApiError(response.status, errorBodyToMessage(body, response.status, response.statusText));
  if (!isAnalysisResult(body)) {
    throw new ApiError(response.status, 'The ldh-cds server answered, but not with findings the app can read.');
  }
  return { ...body, findings: { ...body.findings, warnings: body.findings.warnings ?? [] } };
}

/** The URL of the analyses endpoint, resolved against the page (the app server serves the client). */
export function analysesUrl(baseUrl: string, studyId?: string): string {
  const url = new URL(ANALYSES_PATH, baseUrl);
  if (studyId !== undefined) url.searchParams.set('imagingStudy', studyReference(studyId));
  return url.toString();
}

/** `POST /api/analyses` — runs the pipeline on the study and writes the results back to the EHR. */
export async function postAnalysis(
  session: ApiSession,
  studyId: string,
  options: { baseUrl: string; fetch?: FetchFn; signal?: AbortSignal },
): Promise<AnalysisResult> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(analysesUrl(options.baseUrl), {
    method: 'POST',
    headers: buildApiHeaders(session, true),
    body: JSON.stringify({ imagingStudy: studyReference(studyId) }),
    signal: options.signal,
  });
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
