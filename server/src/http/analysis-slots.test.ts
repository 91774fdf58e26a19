import { describe, expect, it } from 'vitest';
import { analysisUserKey, createAnalysisSlots } from './analysis-slots';
import { HttpError } from './http-error';

/** A task that runs until released. */
function held(): { task: () => Promise<string>; release: () => void } {
  let release = (): void => undefined;
  const done = new Promise<string>((resolve) => {
    release = () => {
      resolve('done');
    };
  });
  return { task: () => done, release };
}

async function refusalOf(promise: Promise<unknown>): Promise<HttpError> {
  const error: unknown = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

describe('createAnalysisSlots', () => {
  it('when one user starts more analyses than allowed, then 429 with Retry-After; another user still gets a slot', async () => {
    const slots = createAnalysisSlots({ perServer: 3, perUser: 2 });
    const first = held();
    const second = held();
    const running = [slots.run('alice', first.task), slots.run('alice', second.task)];
    const refused = await refusalOf(slots.run('alice', () => Promise.resolve('never')));
    expect(refused.status).toBe(429);
    expect(refused.headers['Retry-After']).toBe('15');
    expect(refused.outcome.issue[0]).toMatchObject({
      code: 'throttled',
      diagnostics: expect.stringMatching(
        /You already have 2 analyses running.*MAX_CONCURRENT_ANALYSES_PER_USER/,
      ) as unknown,
    });
    await expect(slots.run('bob', () => Promise.resolve('bob ran'))).resolves.toBe('bob ran');
    first.release();
    second.release();
    await Promise.all(running);
    await expect(slots.run('alice', () => Promise.resolve('again'))).resolves.toBe('again');
  });

  it('when the server runs as many analyses as allowed, then 503 with Retry-After; a slot frees when its analysis settles, failed or not', async () => {
    const slots = createAnalysisSlots({ perServer: 2, perUser: 2, retryAfterSeconds: 7 });
    const a = held();
    const runningA = slots.run('a', a.task);
    const failing = slots.run('b', () => Promise.reject(new Error('PACS down')));
    await expect(failing).rejects.toThrow('PACS down');
    const b = held();
    const runningB = slots.run('b', b.task);
    const refused = await refusalOf(slots.run('c', () => Promise.resolve('never')));
    expect(refused.status).toBe(503);
    expect(refused.headers['Retry-After']).toBe('7');
    expect(refused.outcome.issue[0]?.diagnostics).toMatch(
      /running 2 analyses, the most it runs at once \(MAX_CONCURRENT_ANALYSES\)/,
    );
    a.release();
    await runningA;
    expect(slots.inUse().server).toBe(1);
    b.release();
    await runningB;
    expect(slots.inUse()).toEqual({ server: 0, users: new Map() });
  });
});

describe('analysisUserKey', () => {
  it('when the token names its user, then sub (else fhirUser) is the key; otherwise a hash of the token, never the token', () => {
    expect(analysisUserKey({ sub: 'u1', fhirUser: 'Practitioner/1' }, 'secret')).toBe('sub:u1');
    expect(analysisUserKey({ fhirUser: 'Practitioner/1' }, 'secret')).toBe('fhirUser:Practitioner/1');
    const hashed = analysisUserKey(undefined, 'secret-token');
    expect(hashed).toMatch(/^token:[A-Za-z0-9_-]{43}$/);
    expect(hashed).not.toContain('secret');
  });
});
