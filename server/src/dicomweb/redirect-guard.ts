/**
 * The XMLHttpRequest every DICOMweb request of ours goes through (QIDO-RS, WADO-RS metadata and frames, STOW-RS):
 * xhr2's, except that a redirect never takes the user's token to another server.
 *
 * xhr2 0.2.1, dicomweb-client's XMLHttpRequest in Node, follows every 301/302/303/307/308 itself, to any host, and
 * re-sends every request header with it, `Authorization` included (lib/xhr2.js `_onHttpResponse`); it has no option to
 * stop that. So this subclass looks at each response before xhr2 does:
 * - a redirect to the same origin (scheme, host and port) is followed, by xhr2, at most MAX_REDIRECTS times;
 * - a redirect to another origin, of a request other than GET (xhr2 would re-send a STOW-RS POST as a bodiless GET), or
 *   past MAX_REDIRECTS is not followed: the request ends as a network error would, nothing is sent to the Location, and
 *   `refusedRedirect` says what was refused, for the retriever's error message (the fetch equivalent is
 *   `redirect: 'manual'`, which the FHIR client uses).
 * Why not move the retriever to fetch: dicomweb-client builds our four requests and decodes and encodes their multipart
 * bodies; keeping it costs this one override of an xhr2 method, which is checked below when the module loads (a
 * missing method stops the server rather than leave redirects unguarded) and by redirect-guard.test.ts.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import XHR2 from 'xhr2';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 5;

/** The parts of xhr2's XMLHttpRequest (0.2.x, lib/xhr2.js) the guard relies on; none is in its typed API. */
interface Xhr2Internals {
  /** The URL of the request in flight (Node's legacy url.parse result). */
  _url: { href: string };
  _method: string;
  _request: ClientRequest | null;
  _onHttpResponse: (request: ClientRequest, response: IncomingMessage) => void;
  _onHttpRequestError: (request: ClientRequest, error: Error) => void;
  nodejsSet: (options: { baseUrl: string }) => void;
}

const xhr2 = XHR2.prototype as unknown as Partial<Xhr2Internals>;
if (typeof xhr2._onHttpResponse !== 'function' || typeof xhr2._onHttpRequestError !== 'function') {
  throw new Error(
    'xhr2 no longer has the _onHttpResponse/_onHttpRequestError methods server/src/dicomweb/redirect-guard.ts ' +
      'overrides to keep tokens from following redirects: update the guard before upgrading xhr2',
  );
}
const { _onHttpResponse: followRedirectsOrAnswer, _onHttpRequestError: failAsNetworkError } = xhr2 as Xhr2Internals;

export interface RefusedRedirect {
  /** The redirect's HTTP status. */
  status: number;
  /** The origin the redirect pointed to (never its path: it may carry a token of its own). */
  origin: string;
  reason: 'other-origin' | 'not-get' | 'too-many';
}

export class RedirectGuardedXhr extends XHR2 {
  /** Set when a redirect was refused; the request then ended with status 0. */
  refusedRedirect: RefusedRedirect | undefined;
  private redirectsFollowed = 0;

  /** xhr2 calls this with each response's status and headers; it follows redirects from here. */
  _onHttpResponse(request: ClientRequest, response: IncomingMessage): void {
    const self = this as unknown as Xhr2Internals;
    const status = response.statusCode ?? 0;
    if (self._request !== request || !REDIRECT_STATUSES.has(status)) {
      followRedirectsOrAnswer.call(this, request, response);
      return;
    }
    const from = new URL(self._url.href);
    const target = resolveLocation(response.headers.location, from);
    const reason =
      target?.origin !== from.origin
        ? 'other-origin'
        : self._method !== 'GET'
          ? 'not-get'
          : this.redirectsFollowed >= MAX_REDIRECTS
            ? 'too-many'
            : undefined;
    if (reason !== undefined) {
      this.refusedRedirect = { status, origin: target?.origin ?? 'an unreadable address', reason };
      response.resume();
      failAsNetworkError.call(this, request, new Error(`redirect to ${this.refusedRedirect.origin} not followed`));
      return;
    }
    this.redirectsFollowed++;
    // xhr2 resolves a relative Location against its nodejsBaseUrl (null by default), not the URL it asked.
    self.nodejsSet({ baseUrl: from.href });
    followRedirectsOrAnswer.call(this, request, response);
  }
}

function resolveLocation(location: string | undefined, from: URL): URL | undefined {
  if (!location) return undefined;
  try {
    return new URL(location, from);
  } catch {
    return undefined;
  }
}
