import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { createDicomwebRetriever, createLimiter } from './dicomweb-retriever';

let server: Server | undefined;

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const created = createServer(handler);
  server = created;
  await new Promise<void>((resolve) => created.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(created.address() as AddressInfo).port}/dicom-web`;
}

afterEach(async () => {
  const running = server;
  server = undefined;
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

const SERIES = [{ '0020000E': { vr: 'UI', Value: ['1.2.3'] } }];

describe('createDicomwebRetriever', () => {
  it('when the server answers 503 and then 429, then the request is retried with backoff and succeeds', async () => {
    let hits = 0;
    const url = await serve((_req, res) => {
      hits++;
      if (hits === 1) res.writeHead(503).end('busy');
      else if (hits === 2) res.writeHead(429, { 'Retry-After': '0' }).end('slow down');
      else res.writeHead(200, { 'Content-Type': 'application/dicom+json' }).end(JSON.stringify(SERIES));
    });
    const retriever = createDicomwebRetriever(url, { retries: 3, backoffMs: 10 });
    await expect(retriever.searchForSeries('1.2')).resolves.toEqual(SERIES);
    expect(hits).toBe(3);
  });

  it('when the server keeps failing, then the error keeps the last status after the retries', async () => {
    let hits = 0;
    const url = await serve((_req, res) => {
      hits++;
      res.writeHead(502).end('bad gateway');
    });
    const retriever = createDicomwebRetriever(url, { retries: 2, backoffMs: 5 });
    const error = await retriever.searchForSeries('1.2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamRequestError);
    expect((error as UpstreamRequestError).service).toBe('DICOMweb');
    expect((error as UpstreamRequestError).status).toBe(502);
    expect(hits).toBe(3);
  });

  it('when the token is refused with 401, then it fails at once naming the credentials, without retrying', async () => {
    let hits = 0;
    let authorization: string | undefined;
    const url = await serve((req, res) => {
      hits++;
      authorization = req.headers.authorization;
      res.writeHead(401).end();
    });
    const retriever = createDicomwebRetriever(url, { accessToken: 'abc', retries: 3 });
    await expect(retriever.searchForSeries('1.2')).rejects.toThrow(
      /HTTP 401 \(the server did not accept the credentials/,
    );
    expect(hits).toBe(1);
    expect(authorization).toBe('Bearer abc');
  });

  it('when basic credentials are configured, then they are sent', async () => {
    let authorization: string | undefined;
    const url = await serve((req, res) => {
      authorization = req.headers.authorization;
      res.writeHead(200, { 'Content-Type': 'application/dicom+json' }).end('[]');
    });
    await createDicomwebRetriever(url, { basicAuth: { username: 'u', password: 'p' } }).searchForSeries('1.2');
    expect(authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('when the server never answers, then the request times out with a clear message', async () => {
    const url = await serve(() => {
      // never respond
    });
    const retriever = createDicomwebRetriever(url, { timeoutMs: 200, retries: 1, backoffMs: 10 });
    await expect(retriever.searchForSeries('1.2')).rejects.toThrow(
      /QIDO-RS series search of study 1\.2 failed.*timed out/,
    );
  });

  it('when the server refuses frames as stored (406), then they are asked for in explicit VR little endian', async () => {
    const accepts: string[] = [];
    const url = await serve((req, res) => {
      const accept = req.headers.accept ?? '';
      accepts.push(accept);
      if (accept.includes('transfer-syntax=*')) {
        res.writeHead(406).end();
        return;
      }
      const boundary = 'b0undary';
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n`,
        ),
        Buffer.from([1, 0, 2, 0]),
        Buffer.from(`\r\n--${boundary}--`),
      ]);
      res
        .writeHead(200, {
          'Content-Type': `multipart/related; type="application/octet-stream"; boundary=${boundary}`,
        })
        .end(body);
    });
    const [frame] = await createDicomwebRetriever(url).retrieveFrames('1', '2', [{ sopInstanceUid: '3', frame: 1 }]);
    expect(accepts[0]).toContain('transfer-syntax=*');
    expect(accepts[1]).toContain('transfer-syntax=1.2.840.10008.1.2.1');
    expect(frame?.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(Array.from(frame?.bytes ?? [])).toEqual([1, 0, 2, 0]);
  });
});

describe('a retriever with an AbortSignal (a cancelled analysis)', () => {
  it('when the signal fires during a request, then it is aborted at once, no waiting request is sent, and the call rejects with the reason', async () => {
    const requested: string[] = [];
    let firstArrived = (): void => undefined;
    const arrived = new Promise<void>((resolve) => {
      firstArrived = resolve;
    });
    let abortedByClient = false;
    const url = await serve((req) => {
      requested.push(req.url ?? '');
      req.socket.on('close', () => {
        abortedByClient = true;
      });
      firstArrived();
      // never answer: only the abort can end it
    });
    const cancel = new AbortController();
    const retriever = createDicomwebRetriever(url, { concurrency: 1, timeoutMs: 30_000, signal: cancel.signal });
    const frames = retriever.retrieveFrames('1', '2', [
      { sopInstanceUid: '3', frame: 1 },
      { sopInstanceUid: '4', frame: 1 },
      { sopInstanceUid: '5', frame: 1 },
    ]);
    await arrived;
    const started = Date.now();
    cancel.abort(new Error('cancelled by the user'));
    await expect(frames).rejects.toThrow('cancelled by the user');
    expect(Date.now() - started).toBeLessThan(1000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(requested).toHaveLength(1);
    expect(abortedByClient).toBe(true);
    // Nothing more goes out once it has fired.
    await expect(retriever.searchForSeries('1')).rejects.toThrow('cancelled by the user');
    expect(requested).toHaveLength(1);
  });
});

describe('createLimiter', () => {
  it('when more tasks than the limit are started, then at most the limit run at once', async () => {
    const limit = createLimiter(2);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 7 }, () =>
        limit(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, 5));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
  });
});
