/**
 * The FHIR R4 REST client of ldh-cds: fetch with the user's SMART bearer token, made to survive a real EHR.
 * - every attempt has a timeout (`timeoutMs`, default 30 s);
 * - requests safe to repeat — GET, and the transaction of conditional creates (R4 http.html#ccreate) —
 *   are repeated on 429, 502, 503, 504, a timeout or a network error, at most `retries` times (default 3), after an
 *   exponential backoff with jitter or the server's Retry-After (RFC 9110 §10.2.3) when it asks for at most 30 s; a
 *   longer Retry-After fails at once with a message that says when to try again. A PUT is repeated after a 5xx or no
 *   answer only with If-Match (a repeat then answers 412 at worst); any request is repeated after a 429, which the
 *   server did not process (RFC 6585 §4). Other 4xx are never repeated;
 * - the token goes only to this client's base URL: an absolute reference or a paging link elsewhere is refused
 *   before any request, and redirects are not followed (a 3xx is an error that names the target's origin only);
 * - a failure is an UpstreamRequestError that keeps the status and parsed body and whose message a clinician can read
 *   (built from the server's OperationOutcome; no URL, no id of ours, no token).
 *
 * Why not @medplum/core's MedplumClient (a dependency already)? It takes a plain bearer token (setAccessToken), but
 * (4.5) it repeats every method — PUT and POST creates too — on any 5xx, 429 or network error, ignores Retry-After,
 * stops repeating, without a word, once its backoff would pass 2 s, has no timeout, follows redirects, adds Medplum's own
 * headers, and turns a 401 into its own refresh attempt and a generic OperationOutcome. We forward the user's SMART
 * token to any R4 server and must decide exactly which requests are repeated, so this stays a small client over fetch.
 */
import type { Bundle, FhirResource, OperationOutcome } from 'fhir/r4';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { noteFhirWrite } from './write-generation';

export interface FhirClient {
  readonly baseUrl: string;
  /** GET of a relative reference (`Endpoint/1`), or an absolute one under `baseUrl`; anything else is refused. */
  read<T extends FhirResource>(reference: string): Promise<T>;
  /** The matches on the first page of a search (includes left out). */
  search<T extends FhirResource>(resourceType: T['resourceType'], params: Record<string, string>): Promise<T[]>;
  /**
   * One page of a search and its Bundle.link `next` (on baseUrl's origin), for a caller that handles a long answer page
   * by page; `pageUrl`, a `next` this method gave, reads that page instead of starting the search.
   */
  searchPage<T extends FhirResource>(
    resourceType: T['resourceType'],
    params: Record<string, string>,
    options?: { pageUrl?: string },
  ): Promise<{ resources: T[]; next?: string }>;
  /** The matches on every page, following Bundle.link `next` on baseUrl's origin, at most `maxPages` (default 20). */
  searchAll<T extends FhirResource>(
    resourceType: T['resourceType'],
    params: Record<string, string>,
    options?: { maxPages?: number },
  ): Promise<T[]>;
  /**
   * searchAll, and the resources the server added to those pages for the search's `_include` (R4 search.html#include:
   * entries with `search.mode` `include`); a server that ignores `_include` adds none.
   */
  searchAllIncluding<T extends FhirResource>(
    resourceType: T['resourceType'],
    params: Record<string, string>,
    options?: { maxPages?: number },
  ): Promise<{ matches: T[]; included: FhirResource[] }>;
  /**
   * Every version of one resource (R4 http.html#history, `GET <type>/<id>/_history`), following `next` links like
   * searchAll; deleted versions (entries without a resource) are left out. Servers list the newest first, but not all
   * keep to it: sort by `meta.lastUpdated` where order matters.
   */
  history<T extends FhirResource>(reference: string, options?: { maxPages?: number }): Promise<T[]>;
  /** POST of a transaction Bundle to the base (R4 http.html#transaction); repeated when it fails in a way that allows it. */
  transaction(bundle: Bundle): Promise<Bundle>;
  /**
   * PUT of the resource (R4 http.html#update); `ifMatch` is the versionId read, sent as `If-Match: W/"<versionId>"`
   * (http.html#concurrency): a 412 then means someone else changed it meanwhile.
   */
  update<T extends FhirResource>(resource: T & { id: string }, options?: { ifMatch?: string }): Promise<T>;
}

export interface FhirClientOptions {
  /** Time for one attempt, headers and body (default 30 s). */
  timeoutMs?: number;
  /** Repeats after the first attempt, for requests safe to repeat (default 3). */
  retries?: number;
  /** First backoff; doubles per repeat, with jitter (default 250 ms) … */
  backoffMs?: number;
  /** … up to this (default 5 s). */
  maxBackoffMs?: number;
  /** The longest Retry-After waited for (default 30 s); a longer one fails at once, saying when to try again. */
  maxRetryAfterSeconds?: number;
  fetch?: typeof fetch;
  /** How a backoff waits; tests inject one that records the delay and returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** The clock an HTTP-date Retry-After is read against (default Date.now). */
  now?: () => number;
}

export type FhirRequestRefusal = 'other-server' | 'not-a-reference' | 'too-many-pages';

/** ldh-cds refused to send a request (it would have carried the token elsewhere, or read without end): no upstream failure. */
export class FhirRequestRefusedError extends Error {
  readonly reason: FhirRequestRefusal;
  constructor(reason: FhirRequestRefusal, message: string) {
    super(message);
    this.name = 'FhirRequestRefusedError';
    this.reason = reason;
  }
}

const FHIR_JSON = 'application/fhir+json';
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
/** R4 datatypes.html#id: up to 64 letters, digits, '-' and '.'. */
const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Safe to send again after no answer or a 502/503/504. */
  repeatable: boolean;
  /** It writes: the message then says whether anything was saved. */
  writes: boolean;
  /** For messages: "reading ImagingStudy". */
  doing: string;
  resourceType?: string;
}

type Attempt =
  { kind: 'answer'; response: Response; body: unknown } | { kind: 'no-answer'; timedOut: boolean; detail: string };

interface Failure {
  status?: number;
  timedOut?: boolean;
  malformed?: boolean;
  redirectOrigin?: string;
  attempts: number;
  retryAfterSeconds?: number;
  waitTooLong?: boolean;
  body?: unknown;
}

export function createFhirClient(baseUrl: string, accessToken: string, options: FhirClientOptions = {}): FhirClient {
  const base = baseUrl.replace(/\/+$/, '');
  const baseOrigin = new URL(base).origin;
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? 30;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;

  async function attemptOnce(spec: RequestSpec): Promise<Attempt> {
    try {
      const response = await fetchImpl(spec.url, {
        method: spec.method,
        headers: {
          Accept: FHIR_JSON,
          Authorization: `Bearer ${accessToken}`,
          ...(spec.body === undefined ? {} : { 'Content-Type': FHIR_JSON }),
          ...spec.headers,
        },
        ...(spec.body === undefined ? {} : { body: JSON.stringify(spec.body) }),
        // The token must not follow a redirect to wherever it points: a 3xx comes back as an answer.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { kind: 'answer', response, body: parseBody(await response.text()) };
    } catch (error) {
      const name = (error as Error | undefined)?.name;
      return {
        kind: 'no-answer',
        timedOut: name === 'TimeoutError' || name === 'AbortError',
        detail: (error as Error | undefined)?.message ?? String(error),
      };
    }
  }

  function backoff(repeat: number): number {
    const ceiling = Math.min(maxBackoffMs, backoffMs * 2 ** (repeat - 1));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  async function request(spec: RequestSpec): Promise<{ response: Response; body: unknown; attempts: number }> {
    try {
      return await send(spec);
    } finally {
      // Answered or not (a lost answer may hide an applied write): what was read from this EHR before may be stale.
      if (spec.writes) noteFhirWrite(base);
    }
  }

  async function send(spec: RequestSpec): Promise<{ response: Response; body: unknown; attempts: number }> {
    for (let attempt = 1; ; attempt++) {
      const result = await attemptOnce(spec);
      if (result.kind === 'answer') {
        const { response, body } = result;
        if (response.ok) return { response, body, attempts: attempt };
        if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
          throw failureError(spec, {
            status: response.status || 302,
            redirectOrigin: redirectOrigin(response.headers.get('Location'), spec.url),
            attempts: attempt,
            body,
          });
        }
      }
      const status = result.kind === 'answer' ? result.response.status : undefined;
      const retryAfterSeconds =
        result.kind === 'answer' && status !== undefined && RETRY_STATUSES.has(status)
          ? parseRetryAfter(result.response.headers.get('Retry-After'), now())
          : undefined;
      const failure: Failure = {
        ...(status === undefined ? {} : { status }),
        ...(result.kind === 'no-answer' ? { timedOut: result.timedOut } : {}),
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
        attempts: attempt,
        body: result.kind === 'answer' ? result.body : undefined,
      };
      const repeatable = status === 429 || (spec.repeatable && (status === undefined || RETRY_STATUSES.has(status)));
      if (!repeatable || attempt > retries) throw failureError(spec, failure);
      if (retryAfterSeconds !== undefined && retryAfterSeconds > maxRetryAfterSeconds) {
        throw failureError(spec, { ...failure, waitTooLong: true });
      }
      await sleep(retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : backoff(attempt));
    }
  }

  function failureError(spec: RequestSpec, failure: Failure): UpstreamRequestError {
    return new UpstreamRequestError(
      'FHIR',
      describeFailure(spec, failure, { timeoutMs, accessToken }),
      failure.status,
      failure.body,
      {
        attempts: failure.attempts,
        ...(failure.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: failure.retryAfterSeconds }),
      },
    );
  }

  /** A 2xx answer whose body is not what FHIR promises: the status is dropped, as for no answer. */
  function malformed(spec: RequestSpec, answer: { body: unknown; attempts: number }): UpstreamRequestError {
    return failureError(spec, { malformed: true, attempts: answer.attempts, body: answer.body });
  }

  async function getJson<T extends FhirResource>(
    url: string,
    doing: string,
    resourceType: string,
    expected: string,
  ): Promise<T> {
    const spec: RequestSpec = { method: 'GET', url, repeatable: true, writes: false, doing, resourceType };
    const answer = await request(spec);
    if (!isResource(answer.body, expected)) throw malformed(spec, answer);
    return answer.body as T;
  }

  async function searchPage(url: string, resourceType: string): Promise<Bundle> {
    return getJson<Bundle>(url, `searching ${resourceType}`, resourceType, 'Bundle');
  }

  const matches = <T extends FhirResource>(bundle: Bundle, resourceType: string): T[] =>
    (bundle.entry ?? [])
      .filter((entry) => entry.search?.mode !== 'include' && entry.resource?.resourceType === resourceType)
      .map((entry) => entry.resource as T);

  const searchUrl = (resourceType: string, params: Record<string, string>): string =>
    `${base}/${resourceType}?${new URLSearchParams(params).toString()}`;

  /**
   * The matches of a search or history Bundle and of every `next` page after it (R4 http.html#paging); `included`, when
   * given, receives each page's `_include` entries.
   */
  async function allPages<T extends FhirResource>(
    first: string,
    resourceType: string,
    maxPages: number,
    included?: FhirResource[],
  ): Promise<T[]> {
    const found: T[] = [];
    let url: string | undefined = first;
    for (let page = 1; url !== undefined; page++) {
      if (page > maxPages) {
        throw new FhirRequestRefusedError(
          'too-many-pages',
          `The search for ${resourceType} has more than ${maxPages} pages (${found.length} results so far); ldh-cds ` +
            'stopped rather than work from part of the answer. Call support if this keeps happening.',
        );
      }
      const bundle = await searchPage(url, resourceType);
      found.push(...matches<T>(bundle, resourceType));
      for (const entry of bundle.entry ?? [])
        if (entry.search?.mode === 'include' && entry.resource) included?.push(entry.resource);
      url = nextPageUrl(bundle, base, baseOrigin, resourceType);
    }
    return found;
  }

  return {
    baseUrl: base,

    async read<T extends FhirResource>(reference: string) {
      const relative = referenceToRelative(base, reference);
      const resourceType = RELATIVE_REFERENCE.exec(relative)?.[1] ?? 'resource';
      return getJson<T>(`${base}/${relative}`, `reading ${resourceType}`, resourceType, resourceType);
    },

    async search<T extends FhirResource>(resourceType: T['resourceType'], params: Record<string, string>) {
      return matches<T>(await searchPage(searchUrl(resourceType, params), resourceType), resourceType);
    },

    async searchPage<T extends FhirResource>(
      resourceType: T['resourceType'],
      params: Record<string, string>,
      pageOptions: { pageUrl?: string } = {},
    ) {
      let url = searchUrl(resourceType, params);
      if (pageOptions.pageUrl !== undefined) {
        // The token goes to this base's origin only, whatever link the caller hands back.
        url =
          nextPageUrl(
            { resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'next', url: pageOptions.pageUrl }] },
            base,
            baseOrigin,
            resourceType,
          ) ?? url;
      }
      const bundle = await searchPage(url, resourceType);
      const next = nextPageUrl(bundle, base, baseOrigin, resourceType);
      return { resources: matches<T>(bundle, resourceType), ...(next === undefined ? {} : { next }) };
    },

    async searchAll<T extends FhirResource>(
      resourceType: T['resourceType'],
      params: Record<string, string>,
      searchOptions: { maxPages?: number } = {},
    ) {
      return allPages<T>(searchUrl(resourceType, params), resourceType, searchOptions.maxPages ?? 20);
    },

    async searchAllIncluding<T extends FhirResource>(
      resourceType: T['resourceType'],
      params: Record<string, string>,
      searchOptions: { maxPages?: number } = {},
    ) {
      const included: FhirResource[] = [];
      const found = await allPages<T>(
        searchUrl(resourceType, params),
        resourceType,
        searchOptions.maxPages ?? 20,
        included,
      );
      return { matches: found, included };
    },

    async history<T extends FhirResource>(reference: string, historyOptions: { maxPages?: number } = {}) {
      const relative = referenceToRelative(base, reference).replace(/\/_history\/.*$/, '');
      const resourceType = RELATIVE_REFERENCE.exec(relative)?.[1] ?? 'resource';
      return allPages<T>(`${base}/${relative}/_history`, resourceType, historyOptions.maxPages ?? 20);
    },

    async transaction(bundle: Bundle) {
      const spec: RequestSpec = {
        method: 'POST',
        url: base,
        body: bundle,
        // Our transactions are conditional creates and If-Match updates (docs/fhir-mapping.md §What one analysis
        // writes): a repeat finds what the first attempt created and creates nothing twice; an update it already
        // made answers 412, and the whole transaction fails with nothing done twice.
        repeatable: true,
        writes: true,
        doing: 'saving the results',
      };
      const answer = await request(spec);
      if (!isResource(answer.body, 'Bundle')) throw malformed(spec, answer);
      return answer.body as Bundle;
    },

    async update<T extends FhirResource>(resource: T & { id: string }, updateOptions: { ifMatch?: string } = {}) {
      if (!FHIR_ID.test(resource.id)) {
        throw new FhirRequestRefusedError(
          'not-a-reference',
          `${resource.resourceType} id ${JSON.stringify(resource.id.slice(0, 80))} is not a FHIR id`,
        );
      }
      const { ifMatch } = updateOptions;
      const spec: RequestSpec = {
        method: 'PUT',
        url: `${base}/${resource.resourceType}/${resource.id}`,
        body: resource,
        headers: {
          Prefer: 'return=representation',
          ...(ifMatch === undefined ? {} : { 'If-Match': /^W\/"/.test(ifMatch) ? ifMatch : `W/"${ifMatch}"` }),
        },
        repeatable: ifMatch !== undefined,
        writes: true,
        doing: `saving ${resource.resourceType}`,
        resourceType: resource.resourceType,
      };
      const { response, body } = await request(spec);
      if (isResource(body, resource.resourceType)) return body as T;
      // A server may answer `return=minimal` anyway: the resource sent, with the version its ETag names.
      const versionId = /^(?:W\/)?"([^"]+)"$/.exec(response.headers.get('ETag') ?? '')?.[1];
      return versionId === undefined ? resource : { ...resource, meta: { ...resource.meta, versionId } };
    },
  };
}

/**
 * `Endpoint/1` → `Endpoint/1`; `<base>/Endpoint/1` → `Endpoint/1`. An absolute reference anywhere else is refused:
 * the request would carry the user's token to a server the user did not launch from.
 */
export function referenceToRelative(baseUrl: string, reference: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  let relative = reference.replace(/^\/+/, '');
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(reference)) {
    const baseOrigin = new URL(base).origin;
    let url: URL | undefined;
    try {
      url = new URL(reference);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new FhirRequestRefusedError(
        'not-a-reference',
        `A reference of scheme "${reference.split(':')[0] ?? ''}" cannot be read from the FHIR server (expected <type>/<id>)`,
      );
    }
    const basePath = new URL(base).pathname.replace(/\/+$/, '');
    if (url.origin !== baseOrigin || !url.pathname.startsWith(`${basePath}/`)) {
      const type = /([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[^/]+)?\/?$/.exec(url.pathname)?.[1];
      const where =
        url.origin === baseOrigin
          ? `is outside the FHIR base (${base}); ldh-cds reads only from there`
          : `points to another server (${url.origin}); ldh-cds only sends your token to ${baseOrigin}`;
      throw new FhirRequestRefusedError('other-server', `${type ?? 'A'} reference ${where}`);
    }
    relative = url.pathname.slice(basePath.length + 1);
  }
  if (!RELATIVE_REFERENCE.test(relative)) {
    throw new FhirRequestRefusedError(
      'not-a-reference',
      `${JSON.stringify(relative.slice(0, 80))} is not a reference ldh-cds can read (expected <type>/<id>)`,
    );
  }
  return relative;
}

/** Bundle.link `next` (R4 http.html#paging), resolved against the base; only on the base's origin. */
function nextPageUrl(bundle: Bundle, base: string, baseOrigin: string, resourceType: string): string | undefined {
  const next = bundle.link?.find((link) => link.relation === 'next')?.url;
  if (!next) return undefined;
  let url: URL;
  try {
    url = new URL(next, `${base}/`);
  } catch {
    throw new FhirRequestRefusedError(
      'not-a-reference',
      `The search for ${resourceType} gave a next-page link that is not a URL`,
    );
  }
  if (url.origin !== baseOrigin) {
    throw new FhirRequestRefusedError(
      'other-server',
      `The search for ${resourceType} gave a next-page link that points to another server (${url.origin}); ` +
        `ldh-cds only sends your token to ${baseOrigin}`,
    );
  }
  return url.toString();
}

/** `Observation/12/_history/1` or an absolute Location → `Observation/12`. */
export function locationToReference(location: string): string {
  const match = /([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?\/?$/.exec(location);
  if (!match) throw new Error(`Cannot read a resource reference from Location "${location}"`);
  return `${match[1] ?? ''}/${match[2] ?? ''}`;
}

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // Not JSON (an HTML error page, say): keep the text.
  }
}

function isResource(body: unknown, resourceType: string): boolean {
  return (
    typeof body === 'object' && body !== null && (body as { resourceType?: unknown }).resourceType === resourceType
  );
}

function redirectOrigin(location: string | null, requestUrl: string): string {
  if (!location) return 'an address it did not give';
  try {
    return new URL(location, requestUrl).origin;
  } catch {
    return 'an unreadable address';
  }
}

function isOperationOutcome(body: unknown): body is OperationOutcome {
  return isResource(body, 'OperationOutcome') && Array.isArray((body as { issue?: unknown }).issue);
}

/**
 * The server's own explanation, from its OperationOutcome (first issue with diagnostics or details.text), made safe
 * to show: one line, URLs cut to their host name, the token removed, at most 200 characters; nothing if it reads as
 * JSON or markup.
 */
function upstreamReason(body: unknown, accessToken: string): string | undefined {
  if (!isOperationOutcome(body)) return undefined;
  const text = body.issue
    .map((issue) => issue.diagnostics?.trim() || issue.details?.text?.trim() || '')
    .find((candidate) => candidate.length > 0);
  if (!text || /^[{[<]/.test(text)) return undefined;
  let safe = text.replace(/\s+/g, ' ');
  if (accessToken.length >= 8) safe = safe.split(accessToken).join('…');
  safe = safe.replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (url) => {
    try {
      return new URL(url).host;
    } catch {
      return '(an address)';
    }
  });
  safe = safe.replace(/[.\s]+$/, '');
  return safe.length > 200 ? `${safe.slice(0, 199)}…` : safe;
}

function formatWait(seconds: number): string {
  if (seconds <= 90) return seconds === 1 ? '1 second' : `${seconds} seconds`;
  if (seconds < 2 * 3600) return `${Math.ceil(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

function describeHead(spec: RequestSpec, failure: Failure, timeoutMs: number): string {
  const { status } = failure;
  if (failure.malformed) return 'answered with something that is not FHIR JSON';
  if (status === undefined) {
    return failure.timedOut
      ? `did not answer within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`
      : 'could not be reached';
  }
  if (failure.redirectOrigin !== undefined) {
    return `redirected the request to ${failure.redirectOrigin} (HTTP ${status})`;
  }
  switch (status) {
    case 401:
      return 'did not accept your session (HTTP 401)';
    case 403:
      return 'refused access (HTTP 403)';
    case 404:
      return 'could not find it (HTTP 404)';
    case 409:
      return 'reports a conflict (HTTP 409)';
    case 412:
      return `reports that ${spec.resourceType ?? 'the record'} changed since ldh-cds read it (HTTP 412)`;
    case 429:
      return 'is busy (HTTP 429)';
    case 502:
    case 503:
    case 504:
      return `is unavailable (HTTP ${status})`;
    default:
      return status >= 500 ? `failed (HTTP ${status})` : `refused the request (HTTP ${status})`;
  }
}

function describeSaved(spec: RequestSpec, failure: Failure): string | undefined {
  if (!spec.writes) return undefined;
  const { status } = failure;
  // A gateway's 502/504 may come after the server behind it did the work; a transaction is otherwise all or
  // nothing (R4 http.html#transaction), and a refused PUT changes nothing.
  const unknown = status === undefined || status === 502 || status === 504;
  if (!unknown) return 'Nothing was saved.';
  return spec.repeatable
    ? 'ldh-cds cannot tell whether anything was saved; trying again is safe.'
    : 'ldh-cds cannot tell whether the change was saved; reload to check before trying again.';
}

function describeAdvice(failure: Failure): string {
  const { status } = failure;
  if (failure.malformed) return 'Call support if this keeps happening.';
  if (failure.redirectOrigin !== undefined) {
    return "ldh-cds does not follow redirects with your token; call support (the EHR's FHIR address may have changed).";
  }
  if (status === undefined || status === 429 || status >= 500) {
    // After repeats, a Retry-After of a few seconds is no advice for a person: give theirs.
    const askedWait = failure.waitTooLong || failure.attempts === 1 ? failure.retryAfterSeconds : undefined;
    return askedWait !== undefined && askedWait > 0
      ? `Try again in about ${formatWait(askedWait)}.`
      : 'Try again in a few minutes; call support if this keeps happening.';
  }
  switch (status) {
    case 401:
      return 'Your EHR session has expired or was revoked — re-launch ldh-cds from the chart.';
    case 403:
      return 'ldh-cds lacks the permission (SMART scope) this needs: re-launch it from the chart, and call support if this happens again.';
    case 404:
      return 'Check that it is still in the chart; call support if it is.';
    case 409:
    case 412:
      return failure.attempts > 1
        ? 'An earlier attempt that got no answer may have saved it; reload and check before trying again.'
        : 'Reload and try again.';
    default:
      return 'Call support if this keeps happening.';
  }
}

/** "The EHR's FHIR server is unavailable (HTTP 503) after 4 attempts, while ldh-cds was saving the results. …" */
function describeFailure(
  spec: RequestSpec,
  failure: Failure,
  context: { timeoutMs: number; accessToken: string },
): string {
  const wait =
    failure.waitTooLong && failure.retryAfterSeconds !== undefined
      ? ` and asks to wait ${formatWait(failure.retryAfterSeconds)}`
      : '';
  const attempts = failure.attempts > 1 ? ` after ${failure.attempts} attempts` : '';
  const reason = upstreamReason(failure.body, context.accessToken);
  const first = `The EHR's FHIR server ${describeHead(spec, failure, context.timeoutMs)}${wait}${attempts}, while ldh-cds was ${spec.doing}${reason ? `: ${reason}` : ''}.`;
  return [first, describeSaved(spec, failure), describeAdvice(failure)].filter(Boolean).join(' ');
}
