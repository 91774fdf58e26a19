import { describe, expect, it } from 'vitest';
import { MAX_PREFER_WAIT_SECONDS, preferredWaitSeconds } from './prefer';

describe('preferredWaitSeconds (RFC 7240 Prefer: wait)', () => {
  it('when the client prefers to wait N seconds, then N, with other preferences and parameters beside it', () => {
    expect(preferredWaitSeconds('wait=10')).toBe(10);
    expect(preferredWaitSeconds('respond-async, wait=5')).toBe(5);
    expect(preferredWaitSeconds('handling=lenient; x=1, WAIT = "30"')).toBe(30);
    expect(preferredWaitSeconds('wait=0')).toBe(0);
  });

  it('when the client prefers longer than the server waits, then the cap', () => {
    expect(preferredWaitSeconds('wait=3600')).toBe(MAX_PREFER_WAIT_SECONDS);
  });

  it('when wait is given twice, then the first counts (RFC 7240 §2)', () => {
    expect(preferredWaitSeconds('wait=7, wait=9')).toBe(7);
  });

  it('when there is no wait, or it is not whole seconds, then no preference', () => {
    expect(preferredWaitSeconds(undefined)).toBeUndefined();
    expect(preferredWaitSeconds('respond-async')).toBeUndefined();
    expect(preferredWaitSeconds('wait=-1')).toBeUndefined();
    expect(preferredWaitSeconds('wait=1.5')).toBeUndefined();
    expect(preferredWaitSeconds('wait=soon')).toBeUndefined();
    expect(preferredWaitSeconds('waiting=5')).toBeUndefined();
  });
});
