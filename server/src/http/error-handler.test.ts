import type { AddressInfo } from 'node:net';
import type { OperationOutcome } from 'fhir/r4';
import express from 'express';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PipelineError } from '../pipeline/pipeline-error';
import { UpstreamRequestError } from '../upstream/upstream-request-error';
import { handleError, handleNotFound } from './error-handler';
import { notFound, serviceBusy } from './http-error';
import { requestLogger } from './security';

const SOP = '2.25.174119395349638286871213943086402861294';
let close: (() => void) | undefined;

afterEach(() => {
  close?.();
  close = undefined;
});

/** An app whose one route throws `error`, logging into `lines`; resolves to its answer. */
async function answerTo(error: unknown, lines: string[], headers: Record<string, string> = {}) {
  const app = express();
  app.use(requestLogger(pino({ level: 'trace' }, { write: (line: string) => lines.push(line) })));
  app.get('/fail', () => {
    throw error;
  });
  app.use(handleNotFound);
  app.use(handleError);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  close = () => server.close();
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/fail`, { headers });
  return {
    status: response.status,
    requestId: response.headers.get('x-request-id') ?? '',
    outcome: (await response.json()) as OperationOutcome,
  };
}

describe('handleError', () => {
  it('when a bug throws, then the user gets 500 with a reference and no stack; the log the frames, not the message', async () => {
    const lines: string[] = [];
    const { status, requestId, outcome } = await answerTo(new Error(`cannot read frame of ${SOP}`), lines);
    expect(status).toBe(500);
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(outcome.issue.map((issue) => issue.diagnostics)).toEqual([
      'Internal server error',
      `Reference: ${requestId}`,
    ]);
    expect(JSON.stringify(outcome)).not.toMatch(/at |\.ts:/);
    const failed = lines
      .map((line) => JSON.parse(line) as { msg: string; req?: { id: string }; code?: string; stack?: string[] })
      .find((entry) => entry.msg === 'request failed');
    expect(failed).toMatchObject({ req: { id: requestId }, code: 'exception', status: 500, error: 'Error' });
    expect(failed?.stack?.[0]).toMatch(/^at /);
    expect(lines.join('\n')).not.toContain(SOP);
  });

  it('when an upstream refusal is answered, then the log names the service and its status, not the message', async () => {
    const lines: string[] = [];
    const cause = new UpstreamRequestError('DICOMweb', `WADO-RS frames 1 of ${SOP} failed with HTTP 404`, 404, '');
    const error = new PipelineError('upstream', cause.message, {
      upstream: { service: `DICOMweb server (${cause.message})`, status: 404, body: '' },
      cause,
    });
    const { status, requestId } = await answerTo(error, lines);
    expect(status).toBe(404);
    const refused = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((e) => e.msg === 'request refused');
    expect(refused).toMatchObject({
      req: { id: requestId },
      status: 404,
      code: 'not-found',
      kind: 'upstream',
      upstream: { service: 'DICOMweb', status: 404 },
    });
    expect(lines.join('\n')).not.toContain(SOP);
  });

  it('when the server is at capacity (503 with Retry-After), then the log has a warning without a stack, not an error', async () => {
    const lines: string[] = [];
    const { status } = await answerTo(serviceBusy('The JWT replay cache is full; try again shortly', 5), lines);
    expect(status).toBe(503);
    const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string; stack?: unknown });
    const refusal = logged.find((line) => line.msg === 'request refused: busy');
    // pino levels: warn 40, error 50. Before: 'request failed' at 50 with the stack frames, at every refused call.
    expect(refusal?.level).toBe(40);
    expect(refusal?.stack).toBeUndefined();
    expect(logged.some((line) => line.level >= 50)).toBe(false);
  });

  it('when a route answers its own 404, then the OperationOutcome ends with the reference', async () => {
    const { outcome, requestId } = await answerTo(notFound(`Instance ${SOP} is not in the series`), []);
    expect(outcome.issue.at(-1)).toEqual({
      severity: 'information',
      code: 'informational',
      diagnostics: `Reference: ${requestId}`,
    });
  });

  it('when the caller sends its own X-Request-Id, then it is not taken: neither the log nor the answer repeats it', async () => {
    const lines: string[] = [];
    const forged = 'admin-login-ok","level":60,"x":"';
    const { requestId, outcome } = await answerTo(notFound('No such thing'), lines, { 'X-Request-Id': forged });
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(outcome)).not.toContain('admin-login-ok');
    expect(lines.join('\n')).not.toContain('admin-login-ok');
  });
});
