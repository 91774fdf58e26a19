/**
 * The FHIR client against real HTTP servers on loopback (port 0): repeats, Retry-After, timeouts, paging, and where
 * the user's token may go. Backoffs go through an injected sleep that records the delay and returns at once.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Observation, OperationOutcome } from 'fhir/r4';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { createFhirClient, FhirRequestRefusedError, parseRetryAfter, type FhirClientOptions } from './fhir-client';
import { fhirWriteGeneration } from './write-generation';

const TOKEN = 'secret-token-123456';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Stub {
  origin: string;
  base: string;
  seen: Seen[];
}

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

/** A FHIR stub: `answer` gets the request number (1-based) and writes the response (or never does). */
async function startStub(
  answer: (n: number, req: IncomingMessage, res: ServerResponse, stub: Stub) => void,
): Promise<Stub> {
  const seen: Seen[] = [];
  const stub: Stub = { origin: '', base: '', seen };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(seen.length, req, res, stub);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub.base = `${stub.origin}/fhir`;
  return stub;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...headers }).end(JSON.stringify(body));
}

const outcome = (diagnostics: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'transient', diagnostics }],
});

const observation = (id: string): Observation & { id: string } => ({
  resourceType: 'Observation',
  id,
  status: 'preliminary',
  code: { text: 'disc' },
});

function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  };
}

function client(stub: Stub, options: FhirClientOptions = {}) {
  return createFhirClient(stub.base, TOKEN, options);
}

async function failure(promise: Promise<unknown>): Promise<UpstreamRequestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamRequestError);
  return error as UpstreamRequestError;
}

describe('FHIR client: repeats', () => {
  it('when the server answers 503 twice then 200, then one success comes back after 3 attempts', async () => {
    const stub = await startStub((n, _req, res) => {
      if (n <= 2) send(res, 503, outcome('down'));
      else send(res, 200, observation('o1'));
    });
    const { sleep, delays } = recordingSleep();
    const read = await client(stub, { sleep }).read<Observation>('Observation/o1');
    expect(read.id).toBe('o1');
    expect(stub.seen).toHaveLength(3);
    expect(delays).toHaveLength(2);
    expect(stub.seen.every((s) => s.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('when no Retry-After is given, then the backoff doubles from ~250 ms with jitter', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 503, outcome('down'));
    });
    const { sleep, delays } = recordingSleep();
    await failure(client(stub, { sleep }).read('Observation/o1'));
    expect(stub.seen).toHaveLength(4);
    expect(delays).toHaveLength(3);
    [250, 500, 1000].forEach((ceiling, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delays[i]).toBeLessThanOrEqual(ceiling);
    });
  });

  it('when the server answers 503 with Retry-After: 1, then the client waits 1 s before the next attempt', async () => {
    const stub = await startStub((n, _req, res) => {
      if (n === 1) send(res, 503, outcome('down'), { 'Retry-After': '1' });
      else send(res, 200, observation('o1'));
    });
    const { sleep, delays } = recordingSleep();
    await client(stub, { sleep }).read('Observation/o1');
    expect(delays).toEqual([1000]);
  });

  it('when the server answers 429 with Retry-After as an HTTP-date, then the client waits until that date', async () => {
    const now = Date.UTC(2025, 0, 6, 9, 30, 0);
    const stub = await startStub((n, _req, res) => {
      if (n === 1) send(res, 429, outcome('slow down'), { 'Retry-After': new Date(now + 3000).toUTCString() });
      else send(res, 200, observation('o1'));
    });
    const { sleep, delays } = recordingSleep();
    await client(stub, { sleep, now: () => now }).read('Observation/o1');
    expect(delays).toEqual([3000]);
    expect(parseRetryAfter('Mon, 06 Jan 2025 09:29:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('when Retry-After asks for longer than 30 s, then the client fails at once and says when to try again', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 503, outcome('maintenance'), { 'Retry-After': '120' });
    });
    const { sleep, delays } = recordingSleep();
    const error = await failure(client(stub, { sleep }).read('Observation/o1'));
    expect(stub.seen).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(error).toMatchObject({ status: 503, retryAfterSeconds: 120, attempts: 1 });
    expect(error.message).toContain('asks to wait 2 minutes');
    expect(error.message).toContain('Try again in about 2 minutes.');
  });

  it('when the server answers 400, then the request is not repeated and its OperationOutcome is the reason', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 400, outcome('Unknown search parameter "foo"'));
    });
    const { sleep, delays } = recordingSleep();
    const error = await failure(client(stub, { sleep }).search('DiagnosticReport', { foo: 'x' }));
    expect(stub.seen).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(error.status).toBe(400);
    expect(error.message).toBe(
      'The EHR\'s FHIR server refused the request (HTTP 400), while ldh-cds was searching DiagnosticReport: Unknown search parameter "foo". Call support if this keeps happening.',
    );
  });

  it('when the network fails once, then the request is repeated and succeeds', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 200, observation('o1'));
    });
    let calls = 0;
    const flaky: typeof fetch = (input, init) => {
      calls++;
      return calls === 1 ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init);
    };
    const { sleep, delays } = recordingSleep();
    const read = await client(stub, { sleep, fetch: flaky }).read<Observation>('Observation/o1');
    expect(read.id).toBe('o1');
    expect(calls).toBe(2);
    expect(delays).toHaveLength(1);
  });

  it('when the server never answers, then each attempt times out, is repeated, and the error says so', async () => {
    const stub = await startStub(() => {
      // never answers
    });
    const { sleep } = recordingSleep();
    const error = await failure(client(stub, { sleep, timeoutMs: 50, retries: 2 }).read('Observation/o1'));
    expect(stub.seen).toHaveLength(3);
    expect(error).toMatchObject({ status: undefined, attempts: 3 });
    expect(error.message).toBe(
      "The EHR's FHIR server did not answer within 50 ms after 3 attempts, while ldh-cds was reading Observation. Try again in a few minutes; call support if this keeps happening.",
    );
  });

  it('when a transaction answers 503 then 200, then it is posted again (conditional creates are safe to repeat)', async () => {
    const stub = await startStub((n, _req, res) => {
      if (n === 1) send(res, 503, outcome('down'));
      else send(res, 200, { resourceType: 'Bundle', type: 'transaction-response', entry: [] });
    });
    const { sleep } = recordingSleep();
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] };
    const response = await client(stub, { sleep }).transaction(bundle);
    expect(response.type).toBe('transaction-response');
    expect(stub.seen.map((s) => s.method)).toEqual(['POST', 'POST']);
    expect(stub.seen[1]?.body).toBe(JSON.stringify(bundle));
  });

  it('when a transaction keeps failing with 503, then the message says so in words, without URL or token', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(
        res,
        503,
        outcome(`FHIR server temporarily unavailable at ${stub.base}/Observation/1?access_token=${TOKEN}`),
      );
    });
    const { sleep } = recordingSleep();
    const error = await failure(
      client(stub, { sleep }).transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] }),
    );
    expect(error).toMatchObject({ status: 503, attempts: 4 });
    expect(error.message).toBe(
      `The EHR's FHIR server is unavailable (HTTP 503) after 4 attempts, while ldh-cds was saving the results: FHIR server temporarily unavailable at ${new URL(stub.origin).host}. Nothing was saved. Try again in a few minutes; call support if this keeps happening.`,
    );
    expect(error.message).not.toContain('/fhir');
    expect(error.message).not.toContain(TOKEN);
  });
});

describe('FHIR client: update', () => {
  it('when a PUT without ifMatch answers 503, then it is not repeated', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 503, outcome('down'));
    });
    const { sleep, delays } = recordingSleep();
    const error = await failure(client(stub, { sleep }).update(observation('o1')));
    expect(stub.seen).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(error.status).toBe(503);
    expect(error.message).toContain('Nothing was saved.');
  });

  it('when a PUT without ifMatch gets no answer, then it is not repeated and the message says the outcome is unknown', async () => {
    const stub = await startStub(() => {
      // never answers
    });
    const { sleep } = recordingSleep();
    const error = await failure(client(stub, { sleep, timeoutMs: 50 }).update(observation('o1')));
    expect(stub.seen).toHaveLength(1);
    expect(error.message).toContain('cannot tell whether the change was saved');
  });

  it('when a PUT has ifMatch, then If-Match carries the weak version and a 412 surfaces as status 412', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 412, outcome('Version mismatch'));
    });
    const { sleep, delays } = recordingSleep();
    const error = await failure(client(stub, { sleep }).update(observation('o1'), { ifMatch: '3' }));
    expect(stub.seen).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(stub.seen[0]).toMatchObject({ method: 'PUT', url: '/fhir/Observation/o1' });
    expect(stub.seen[0]?.headers['if-match']).toBe('W/"3"');
    expect(error.status).toBe(412);
    expect(error.message).toContain('reports that Observation changed since ldh-cds read it (HTTP 412)');
  });

  it('when a PUT with ifMatch answers 503 then 200, then it is repeated and the stored resource comes back', async () => {
    const stub = await startStub((n, _req, res) => {
      if (n === 1) send(res, 503, outcome('down'));
      else send(res, 200, { ...observation('o1'), meta: { versionId: '4' } });
    });
    const { sleep } = recordingSleep();
    const updated = await client(stub, { sleep }).update(observation('o1'), { ifMatch: '3' });
    expect(stub.seen).toHaveLength(2);
    expect(updated.meta?.versionId).toBe('4');
  });
});

describe('FHIR client: what was read may be stale after a write (write-generation.ts)', () => {
  it('when it reads, then the FHIR base keeps its write generation; when it writes, answered or failed, then the generation moves', async () => {
    const stub = await startStub((n, req, res) => {
      if (req.method === 'GET') send(res, 200, { resourceType: 'Bundle', type: 'searchset', entry: [] });
      else if (n === 2) send(res, 200, { resourceType: 'Bundle', type: 'transaction-response', entry: [] });
      else send(res, 412, outcome('Version mismatch'));
    });
    const fhir = client(stub, { sleep: recordingSleep().sleep });
    const before = fhirWriteGeneration(stub.base);
    await fhir.search('Observation', { _id: 'o1' });
    expect(fhirWriteGeneration(stub.base)).toBe(before);
    await fhir.transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] });
    expect(fhirWriteGeneration(`${stub.base}/`)).toBe(before + 1);
    await failure(fhir.update(observation('o1'), { ifMatch: '3' }));
    expect(fhirWriteGeneration(stub.base)).toBe(before + 2);
  });
});

describe('FHIR client: paging', () => {
  const page = (ids: string[], next?: string): Bundle => ({
    resourceType: 'Bundle',
    type: 'searchset',
    link: next ? [{ relation: 'next', url: next }] : [],
    entry: ids.map((id) => ({ resource: observation(id), search: { mode: 'match' } })),
  });

  it('when pages carry _include entries, then searchAllIncluding returns them apart from the matches, from every page', async () => {
    const stub = await startStub((_n, req, res, self) => {
      const offset = Number(new URL(req.url ?? '/', self.origin).searchParams.get('_offset') ?? '0');
      const bundle = page([`r${offset}`], offset === 0 ? `${self.base}/Observation?_offset=1` : undefined);
      bundle.entry?.push({ resource: observation(`inc${offset}`), search: { mode: 'include' } });
      send(res, 200, bundle);
    });
    const fhir = client(stub);
    const { matches, included } = await fhir.searchAllIncluding<Observation>('Observation', { _include: 'x:y' });
    expect(matches.map((o) => o.id)).toEqual(['r0', 'r1']);
    expect(included.map((o) => o.id)).toEqual(['inc0', 'inc1']);
    expect(stub.seen[0]?.url).toBe('/fhir/Observation?_include=x%3Ay');
    // searchAll leaves the includes out.
    expect((await fhir.searchAll<Observation>('Observation', {})).map((o) => o.id)).toEqual(['r0', 'r1']);
  });

  it('when a search has 3 pages, then searchAll follows next links and returns every match; search only the first', async () => {
    const stub = await startStub((_n, req, res, self) => {
      const url = new URL(req.url ?? '/', self.origin);
      const offset = Number(url.searchParams.get('_offset') ?? '0');
      const ids = [`o${offset}`, `o${offset + 1}`];
      const next = offset < 4 ? `${self.base}/Observation?code=x&_offset=${offset + 2}` : undefined;
      send(res, 200, page(ids, next));
    });
    const fhir = client(stub);
    const all = await fhir.searchAll<Observation>('Observation', { code: 'x' });
    expect(all.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5']);
    expect(stub.seen).toHaveLength(3);
    expect((await fhir.search<Observation>('Observation', { code: 'x' })).map((o) => o.id)).toEqual(['o0', 'o1']);
  });

  it('when a next link points to another origin, then it is refused and that server sees nothing', async () => {
    const other = await startStub((_n, _req, res) => {
      send(res, 200, page([]));
    });
    const stub = await startStub((_n, _req, res) => {
      send(res, 200, page(['o1'], `${other.base}/Observation?page=2`));
    });
    const error = await client(stub)
      .searchAll('Observation', {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FhirRequestRefusedError);
    expect((error as Error).message).toBe(
      `The search for Observation gave a next-page link that points to another server (${other.origin}); ldh-cds only sends your token to ${stub.origin}`,
    );
    expect(other.seen).toHaveLength(0);
  });

  it('when a caller reads page by page, then searchPage gives each page with its next link, and reads that link when handed it', async () => {
    const stub = await startStub((_n, req, res, self) => {
      const offset = Number(new URL(req.url ?? '/', self.origin).searchParams.get('_offset') ?? '0');
      send(
        res,
        200,
        page([`o${offset}`], offset < 1 ? `${self.base}/Observation?code=x&_offset=${offset + 1}` : undefined),
      );
    });
    const fhir = client(stub);
    const first = await fhir.searchPage<Observation>('Observation', { code: 'x' });
    expect(first).toEqual({
      resources: [expect.objectContaining({ id: 'o0' })],
      next: `${stub.base}/Observation?code=x&_offset=1`,
    });
    const second = await fhir.searchPage<Observation>('Observation', { code: 'x' }, { pageUrl: first.next ?? '' });
    expect(second.resources.map((o) => o.id)).toEqual(['o1']);
    expect(second.next).toBeUndefined();
    expect(stub.seen.map((request) => request.url)).toEqual([
      '/fhir/Observation?code=x',
      '/fhir/Observation?code=x&_offset=1',
    ]);
  });

  it('when searchPage is handed a page link on another origin, then it is refused and that server sees nothing', async () => {
    const other = await startStub((_n, _req, res) => {
      send(res, 200, page([]));
    });
    const stub = await startStub((_n, _req, res) => {
      send(res, 200, page([]));
    });
    const error = await client(stub)
      .searchPage('Observation', {}, { pageUrl: `${other.base}/Observation?page=2` })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'FhirRequestRefusedError', reason: 'other-server' });
    expect(other.seen).toHaveLength(0);
    expect(stub.seen).toHaveLength(0);
  });

  it('when a search has more pages than maxPages, then searchAll stops with an error rather than part of the answer', async () => {
    const stub = await startStub((n, _req, res, self) => {
      send(res, 200, page([`o${n}`], `${self.base}/Observation?page=${n + 1}`));
    });
    const error = await client(stub)
      .searchAll('Observation', {}, { maxPages: 2 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'FhirRequestRefusedError', reason: 'too-many-pages' });
    expect(stub.seen).toHaveLength(2);
  });
});

describe('FHIR client: where the token goes', () => {
  it('when a reference is absolute on another origin, then it is refused before any request', async () => {
    const other = await startStub((_n, _req, res) => {
      send(res, 200, { resourceType: 'Endpoint', id: 'e1' });
    });
    const stub = await startStub((_n, _req, res) => {
      send(res, 200, { resourceType: 'Endpoint', id: 'e1' });
    });
    const error = await client(stub)
      .read(`${other.base}/Endpoint/e1`)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FhirRequestRefusedError);
    expect((error as Error).message).toBe(
      `Endpoint reference points to another server (${other.origin}); ldh-cds only sends your token to ${stub.origin}`,
    );
    expect(other.seen).toHaveLength(0);
    expect(stub.seen).toHaveLength(0);
  });

  it('when a reference is absolute under the base URL, then it is read as a relative one', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 200, { resourceType: 'Endpoint', id: 'e1' });
    });
    await client(stub).read(`${stub.base}/Endpoint/e1`);
    await client(stub).read('/Endpoint/e1');
    expect(stub.seen.map((s) => s.url)).toEqual(['/fhir/Endpoint/e1', '/fhir/Endpoint/e1']);
  });

  it('when a reference is not <type>/<id>, then it is refused before any request', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 200, {});
    });
    await expect(client(stub).read('../admin/Endpoint/e1')).rejects.toThrow('is not a reference ldh-cds can read');
    await expect(client(stub).read('urn:uuid:1234')).rejects.toThrow('cannot be read from the FHIR server');
    expect(stub.seen).toHaveLength(0);
  });

  it('when the server redirects to another origin, then the redirect is not followed and the error names the origin only', async () => {
    const other = await startStub((_n, _req, res) => {
      send(res, 200, observation('o1'));
    });
    const stub = await startStub((_n, _req, res) => {
      res.writeHead(302, { Location: `${other.base}/Observation/o1?session=abc` }).end();
    });
    const { sleep } = recordingSleep();
    const error = await failure(client(stub, { sleep }).read('Observation/o1'));
    expect(other.seen).toHaveLength(0);
    expect(stub.seen).toHaveLength(1);
    expect(error.status).toBe(302);
    expect(error.message).toContain(`redirected the request to ${other.origin} (HTTP 302)`);
    expect(error.message).not.toContain('/fhir');
  });

  it('when the server answers 401, then the status is kept and the message says to re-launch', async () => {
    const stub = await startStub((_n, _req, res) => {
      send(res, 401, outcome('token expired'));
    });
    const error = await failure(client(stub).read('Observation/o1'));
    expect(stub.seen).toHaveLength(1);
    expect(error.status).toBe(401);
    expect(error.message).toContain('re-launch ldh-cds from the chart');
  });
});
