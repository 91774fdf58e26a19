import { describe, expect, it } from 'vitest';
import { recommendedThreadpoolSize, threadpoolAdvice } from './threadpool';

describe('recommendedThreadpoolSize (one core for the event loop, the rest for the pool)', () => {
  it('when the host has 2 cores, then 1 thread; 3 cores, 2; and never more than libuv’s 4', () => {
    expect(recommendedThreadpoolSize(1)).toBe(1);
    expect(recommendedThreadpoolSize(2)).toBe(1);
    expect(recommendedThreadpoolSize(3)).toBe(2);
    expect(recommendedThreadpoolSize(5)).toBe(4);
    expect(recommendedThreadpoolSize(64)).toBe(4);
  });
});

describe('threadpoolAdvice', () => {
  it('when UV_THREADPOOL_SIZE is unset on a 2-core host, then the advice names the value to set and the docs', () => {
    expect(threadpoolAdvice({}, 2)).toBe(
      'UV_THREADPOOL_SIZE is not set: libuv runs 4 threads on 2 cores, which slows CDS Hooks calls under load; ' +
        'start the server with UV_THREADPOOL_SIZE=1 (docs/deploy.md §The libuv threadpool)',
    );
  });

  it('when the operator set it (to any value), or the host has 5 cores or more, then nothing to say', () => {
    expect(threadpoolAdvice({ UV_THREADPOOL_SIZE: '4' }, 2)).toBeUndefined();
    expect(threadpoolAdvice({}, 5)).toBeUndefined();
    expect(threadpoolAdvice({ UV_THREADPOOL_SIZE: '' }, 2)).toMatch(/UV_THREADPOOL_SIZE=1/);
  });
});
