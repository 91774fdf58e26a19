import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { afterEach, describe, expect, it } from 'vitest';
import { httpLogSerializers } from './log-serializers';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.secret-claims.secret-signature';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => {
    if (server)
      server.close(() => {
        resolve();
      });
    else resolve();
  });
  server = undefined;
});

/** Serves one request through pino-http with the shared serializers and resolves to the line it logged. */
async function logLineFor(path: string, headers: Record<string, string>): Promise<string> {
  let logged: (line: string) => void = () => undefined;
  const line = new Promise<string>((resolve) => {
    logged = resolve;
  });
  const logger = pino(
    {},
    {
      write: (text: string) => {
        logged(text);
      },
    },
  );
  const httpLogger = pinoHttp({ logger, serializers: httpLogSerializers });
  server = createServer((req, res) => {
    httpLogger(req, res);
    res.statusCode = 200;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  await response.text();
  return line;
}

describe('httpLogSerializers', () => {
  it('when a request carries a bearer token, a cookie and an access_token query, then none of them is logged', async () => {
    const line = await logLineFor(`/fhir/Patient/synthetic-01?access_token=${TOKEN}&launch=abc123`, {
      authorization: `Bearer ${TOKEN}`,
      cookie: `session=${TOKEN}`,
    });
    expect(line).not.toContain('secret-claims');
    expect(line).not.toContain('abc123');
    expect(line.toLowerCase()).not.toContain('authorization');
    expect(line).not.toContain('cookie');
    const entry = JSON.parse(line) as { req: unknown; res: unknown };
    expect(entry.req).toEqual({ id: 1, method: 'GET', path: '/fhir/Patient/synthetic-01' });
    expect(entry.res).toEqual({ statusCode: 200 });
  });
});
