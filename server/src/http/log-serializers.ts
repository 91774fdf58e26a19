/**
 * What pino-http writes about each request: method, path and status, nothing else. Headers carry the bearer token
 * and cookies; the query string can carry launch parameters, patient ids or an `access_token` (RFC 6750 §2.3);
 * bodies carry PHI; DICOMweb paths carry Study, Series and SOP Instance UIDs, which are written as `{uid}`. Shared by
 * the app server and the mock EHR, so neither logs a token or a UID by writing its own.
 *
 * `LOG_REDACT_PATHS` is the second line of defence: pino's redaction of the fields a careless log call could pass
 * (a token, a UID, a patient's identifiers). The first is that no log call passes them (docs/security.md §Logs).
 */
import type { Logger } from 'pino';

/**
 * pino-http hands its serializers pino-std-serializers' request object (`url` is Express's originalUrl); the raw
 * IncomingMessage also fits this shape.
 */
export interface LoggableRequest {
  id?: unknown;
  method?: string | undefined;
  url?: string | undefined;
}

export interface LoggableResponse {
  statusCode: number;
}

/** A DICOM UID (PS3.5 §9: digits in dot-separated components), as a whole path segment. */
const UID_SEGMENT = /^[0-9]+(?:\.[0-9]+)+$/;
/**
 * A DICOM UID inside free text: three or more components and at least 10 characters, so that version numbers
 * (`1.8.0`) and IPv4 addresses stay readable.
 */
const UID_IN_TEXT = /(?<![\w.])[0-9]+(?:\.[0-9]+){2,}(?![\w])/g;

/** The path with every segment that is a DICOM UID written as `{uid}`. */
export function pathToLogPath(path: string): string {
  return path
    .split('/')
    .map((segment) => (UID_SEGMENT.test(segment) ? '{uid}' : segment))
    .join('/');
}

/** `text` with every DICOM UID in it written as `{uid}`: for the few log lines that keep a library's words. */
export function scrubUids(text: string): string {
  return text.replace(UID_IN_TEXT, (uid) => (uid.length >= 10 ? '{uid}' : uid));
}

/**
 * An error's stack frames without its first line, which is the message: where a failure happened, for the log,
 * without what it said (a message can name a UID, an upstream URL or a patient).
 */
export function stackFramesOf(error: unknown): string[] {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  return stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .map((line) => line.trim());
}

export function requestToLogFields(req: LoggableRequest): { id: unknown; method: string | undefined; path: string } {
  return { id: req.id, method: req.method, path: pathToLogPath((req.url ?? '').split('?')[0] ?? '') };
}

export function responseToLogFields(res: LoggableResponse): { statusCode: number } {
  return { statusCode: res.statusCode };
}

/** For pino-http's `serializers` option. */
export const httpLogSerializers = { req: requestToLogFields, res: responseToLogFields };

/** Field names whose values never reach a log line, at the top level and one level down (pino `redact`). */
const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'accessToken',
  'access_token',
  'idToken',
  'id_token',
  'refreshToken',
  'refresh_token',
  'token',
  'password',
  'client_assertion',
  'studyInstanceUid',
  'seriesInstanceUid',
  'sopInstanceUid',
  'StudyInstanceUID',
  'SeriesInstanceUID',
  'SOPInstanceUID',
  'patientName',
  'PatientName',
  'PatientID',
  'mrn',
  'birthDate',
  'PatientBirthDate',
];

export const LOG_REDACT_PATHS: string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
];

/** `logger` with `LOG_REDACT_PATHS` redacted in every line it and its children write. */
export function withLogRedaction(logger: Logger): Logger {
  return logger.child({}, { redact: LOG_REDACT_PATHS });
}
