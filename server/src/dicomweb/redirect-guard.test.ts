import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { createDicomwebRetriever } from './dicomweb-retriever';

const servers: Server[] = [];

interface Seen {
  path: string;
  method: string;
  authorization: string | undefined;
}

/** A loopback server that records what it was sent; its origin is http://127.0.0.1:<port>. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  origin: string;
  seen: Seen[];
}> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization });
    req.resume();
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const SERIES = [{ '0020000E': { vr: 'UI', Value: ['1.2.3'] } }];
const answerSeries = (_req: IncomingMessage, res: ServerResponse) =>
  res.writeHead(200, { 'Content-Type': 'application/dicom+json' }).end(JSON.stringify(SERIES));

describe('DICOMweb redirects', () => {
  it('when the PACS redirects to another origin, then the request fails naming it, and the other server sees nothing', async () => {
    const other = await serve(answerSeries);
    const pacs = await serve((_req, res) =>
      res.writeHead(302, { Location: `${other.origin}/dicom-web/studies/1.2/series?token=x` }).end(),
    );
    const retriever = createDicomwebRetriever(`${pacs.origin}/dicom-web`, { accessToken: 'secret', retries: 3 });
    const error = await retriever.searchForSeries('1.2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamRequestError);
    expect((error as UpstreamRequestError).status).toBe(302);
    expect((error as Error).message).toContain(`was redirected (HTTP 302) to ${other.origin}`);
    expect((error as Error).message).not.toContain('token=x');
    expect(other.seen).toEqual([]);
    // An answer, not a network error: not repeated.
    expect(pacs.seen).toHaveLength(1);
  });

  it('when the redirect is to the same host on another port, then it is refused too', async () => {
    const other = await serve(answerSeries);
    const pacs = await serve((_req, res) =>
      res.writeHead(307, { Location: other.origin.replace('127.0.0.1', 'localhost') + '/x' }).end(),
    );
    const retriever = createDicomwebRetriever(`${pacs.origin}/dicom-web`, { accessToken: 'secret' });
    await expect(retriever.searchForSeries('1.2')).rejects.toThrow(/redirected \(HTTP 307\) to http:\/\/localhost:/);
    expect(other.seen).toEqual([]);
  });

  it('when the PACS redirects to a relative path on itself, then the redirect is followed with the token', async () => {
    const pacs = await serve((req, res) => {
      if (req.url?.startsWith('/old/')) res.writeHead(301, { Location: req.url.replace('/old/', '/new/') }).end();
      else answerSeries(req, res);
    });
    const retriever = createDicomwebRetriever(`${pacs.origin}/old`, { accessToken: 'secret' });
    await expect(retriever.searchForSeries('1.2')).resolves.toEqual(SERIES);
    expect(pacs.seen.map((seen) => [seen.path, seen.authorization])).toEqual([
      ['/old/studies/1.2/series', 'Bearer secret'],
      ['/new/studies/1.2/series', 'Bearer secret'],
    ]);
  });

  it('when a STOW-RS POST is redirected, then it is not re-sent (xhr2 would turn it into a GET without its body)', async () => {
    const pacs = await serve((_req, res) => res.writeHead(307, { Location: '/elsewhere/studies/1.2' }).end());
    const retriever = createDicomwebRetriever(`${pacs.origin}/dicom-web`, { accessToken: 'secret' });
    await expect(retriever.storeInstances?.('1.2', [new Uint8Array(200)])).rejects.toThrow(
      /redirected \(HTTP 307\) to http:\/\/127\.0\.0\.1:\d+, and ldh-cds follows redirects of reads only/,
    );
    expect(pacs.seen.map((seen) => seen.method)).toEqual(['POST']);
  });

  it('when the PACS redirects in a loop, then it stops after 5 redirects', async () => {
    const pacs = await serve((req, res) => res.writeHead(302, { Location: `${req.url ?? '/'}x` }).end());
    const retriever = createDicomwebRetriever(`${pacs.origin}/dicom-web`, { retries: 0 });
    await expect(retriever.searchForSeries('1.2')).rejects.toThrow(/follows at most 5 redirects/);
    expect(pacs.seen).toHaveLength(6);
  });
});
