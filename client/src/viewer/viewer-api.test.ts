import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudyStacks } from '../../../server/src/findings/viewer';
import { ApiError } from '../api';
import {
  frameUrl,
  getFrame,
  getModelInfo,
  getStudyStacks,
  parsePixelSpacing,
  responseToFrame,
  stacksUrl,
} from './viewer-api';

const session = { accessToken: 'tok-abc', fhirServer: 'http://localhost:4000/fhir' };

const stacks: StudyStacks = {
  studyInstanceUid: '1.2',
  seriesInstanceUid: '1.2.3',
  levels: [
    {
      level: 'L4-L5',
      slices: [
        { sopInstanceUid: '1.2.3.1', frame: 1, position: -4 },
        { sopInstanceUid: '1.2.3.2', frame: 1, position: 0 },
      ],
    },
  ],
  sagittal: {
    seriesInstanceUid: '1.2.9',
    sopInstanceUid: '1.2.9.1',
    frame: 1,
    lines: [
      {
        sopInstanceUid: '1.2.3.1',
        frame: 1,
        line: [
          [10, 20],
          [60, 22],
        ],
      },
    ],
  },
};

/** A stub of the app server's viewer API: checks the headers the real one needs, answers fixed bodies. */
let server: Server;
let baseUrl: string;
const seen: { path: string; authorization?: string; fhirServer?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    seen.push({
      path: `${url.pathname}${url.search}`,
      authorization: req.headers.authorization,
      fhirServer: req.headers['x-fhir-server'] as string | undefined,
    });
    if (req.headers.authorization !== 'Bearer tok-abc') {
      res.writeHead(401, { 'Content-Type': 'application/fhir+json' });
      res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ diagnostics: 'The token has expired.' }] }));
      return;
    }
    if (url.pathname === '/api/stacks') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(stacks));
    } else if (url.pathname === '/api/frames' && url.searchParams.get('instance') === 'missing') {
      res.writeHead(404, { 'Content-Type': 'application/fhir+json' });
      res.end(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ diagnostics: 'No such instance in the study.' }],
        }),
      );
    } else if (url.pathname === '/api/frames') {
      const values = new Float32Array([0, 1.5, -2, 1000, 7, 8]);
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'X-Columns': '3',
        'X-Rows': '2',
        'X-Window-Center': '500',
        'X-Window-Width': '1000',
        'X-Pixel-Spacing': '0.8,0.4',
      });
      res.end(Buffer.from(values.buffer));
    } else if (url.pathname === '/api/model') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'msu-ldh',
          version: '1.8.0',
          name: 'MSU LDH detector',
          intendedUse: 'Research only.',
          digest: 'sha256:00',
          card: '/api/model/card',
          bundled: true,
        }),
      );
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html?code=x`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('viewer API client against a stub server', () => {
  it('reads the study stacks with the SMART token and the FHIR base', async () => {
    expect(await getStudyStacks(session, 'st-1', { baseUrl })).toEqual(stacks);
    expect(seen.at(-1)).toEqual({
      path: '/api/stacks?imagingStudy=ImagingStudy%2Fst-1',
      authorization: 'Bearer tok-abc',
      fhirServer: 'http://localhost:4000/fhir',
    });
  });

  it('reads a frame as Float32 values with its size, default window and pixel spacing', async () => {
    const frame = await getFrame(
      session,
      'st-1',
      { seriesInstanceUid: '1.2.3', sopInstanceUid: '1.2.3.1', frame: 1 },
      {
        baseUrl,
      },
    );
    expect(frame.columns).toBe(3);
    expect(frame.rows).toBe(2);
    expect(Array.from(frame.pixels)).toEqual([0, 1.5, -2, 1000, 7, 8]);
    expect(frame.window).toEqual({ center: 500, width: 1000 });
    expect(frame.pixelSpacing).toEqual([0.8, 0.4]);
    expect(seen.at(-1)?.path).toBe(
      '/api/frames?imagingStudy=ImagingStudy%2Fst-1&series=1.2.3&instance=1.2.3.1&frame=1',
    );
  });

  it('reads the model', async () => {
    const model = await getModelInfo(session, { baseUrl });
    expect([model.name, model.version, model.card]).toEqual(['MSU LDH detector', '1.8.0', '/api/model/card']);
  });

  it('when the server refuses, then the error carries the status and the OperationOutcome sentence', async () => {
    const missing = getFrame(
      session,
      'st-1',
      { seriesInstanceUid: '1.2.3', sopInstanceUid: 'missing', frame: 1 },
      {
        baseUrl,
      },
    );
    await expect(missing).rejects.toMatchObject({ status: 404, message: 'No such instance in the study.' });
    const expired = getStudyStacks({ ...session, accessToken: 'old' }, 'st-1', { baseUrl });
    await expect(expired).rejects.toBeInstanceOf(ApiError);
    await expect(expired).rejects.toMatchObject({ status: 401, isUnauthorized: true });
  });
});

describe('frame decoding', () => {
  const headers = (extra: Record<string, string> = {}): Headers =>
    new Headers({ 'X-Columns': '2', 'X-Rows': '1', ...extra });

  it('when the body does not hold columns × rows values, then it is refused', () => {
    expect(() => responseToFrame(new ArrayBuffer(12), headers())).toThrow(/12 bytes, not 2×1 Float32 values/);
    expect(() => responseToFrame(new ArrayBuffer(8), new Headers({ 'X-Rows': '1' }))).toThrow(/X-Columns/);
  });

  it('when the server sends no window, then one is taken from the value percentiles', () => {
    const frame = responseToFrame(new Float32Array([10, 30]).buffer, headers());
    expect(frame.window).toEqual({ center: 20, width: 20 });
    expect(frame.pixelSpacing).toBeUndefined();
  });

  it('reads pixel spacing as row,column and ignores what is not two positive numbers', () => {
    expect(parsePixelSpacing('0.5,0.75')).toEqual([0.5, 0.75]);
    expect(parsePixelSpacing('0.5\\0.75')).toEqual([0.5, 0.75]);
    expect(parsePixelSpacing('0.5')).toBeUndefined();
    expect(parsePixelSpacing('0,1')).toBeUndefined();
    expect(parsePixelSpacing(null)).toBeUndefined();
  });

  it('builds URLs on the page origin', () => {
    expect(stacksUrl('http://h:3000/index.html?code=1', 'a b')).toBe(
      'http://h:3000/api/stacks?imagingStudy=ImagingStudy%2Fa+b',
    );
    expect(frameUrl('http://h:3000/x', 's', { seriesInstanceUid: '1', sopInstanceUid: '2', frame: 3 })).toBe(
      'http://h:3000/api/frames?imagingStudy=ImagingStudy%2Fs&series=1&instance=2&frame=3',
    );
  });
});
