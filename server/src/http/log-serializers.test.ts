import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import { afterEach, describe, expect, it } from 'vitest';
import { httpLogSerializers, pathToLogPath, scrubUids, stackFramesOf, withLogRedaction } from './log-serializers';

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

describe('UIDs, fields and messages kept out of log lines', () => {
  const STUDY = '2.25.314510530432307242160253483136380046920';
  const SOP = '1.2.826.0.1.3680043.8.498.31';

  it('when a DICOMweb path is logged, then each UID segment is written {uid}', async () => {
    const line = await logLineFor(`/dicom-web/studies/${STUDY}/series/1.2.3/instances/${SOP}/frames/1`, {});
    expect(line).not.toContain(STUDY);
    expect(line).not.toContain(SOP);
    expect((JSON.parse(line) as { req: { path: string } }).req.path).toBe(
      '/dicom-web/studies/{uid}/series/{uid}/instances/{uid}/frames/1',
    );
    expect(pathToLogPath('/models/msu-ldh/1.8.0/manifest.json')).toBe('/models/msu-ldh/{uid}/manifest.json');
  });

  it('when free text names a UID, then scrubUids writes it {uid} and leaves versions and addresses', () => {
    expect(scrubUids(`frames 1 of ${SOP} failed (model 1.8.0 at 127.0.0.1)`)).toBe(
      'frames 1 of {uid} failed (model 1.8.0 at 127.0.0.1)',
    );
  });

  it('when a log call passes a token or a UID by mistake, then the redaction censors it, one level down too', () => {
    const written: string[] = [];
    const logger = withLogRedaction(pino({}, { write: (text: string) => written.push(text) }));
    logger.info({ accessToken: TOKEN, study: { studyInstanceUid: STUDY }, mrn: 'SYN-1000', levels: 5 }, 'careless');
    const line = written.join('');
    expect(line).not.toContain('secret-claims');
    expect(line).not.toContain(STUDY);
    expect(line).not.toContain('SYN-1000');
    expect(line).toContain('"levels":5');
  });

  it("when an error's stack is logged, then its frames are kept and its message is not", () => {
    const frames = stackFramesOf(new Error(`Instance ${SOP} is not in series`));
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((frame) => frame.startsWith('at '))).toBe(true);
    expect(frames.join('\n')).not.toContain(SOP);
  });
});
