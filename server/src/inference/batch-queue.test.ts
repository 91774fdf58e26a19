import { describe, expect, it } from 'vitest';
import { BatchQueueFullError, createBatchQueue } from './batch-queue';

describe('createBatchQueue', () => {
  it('when callers submit in the same turn, then their items share runs of at most the batch size, in order', async () => {
    const runs: number[][] = [];
    const queue = createBatchQueue(4, async (batch: number[]) => {
      runs.push(batch);
      return Promise.resolve(batch.map((n) => n * 10));
    });
    const [first, second] = await Promise.all([queue.submit([1, 2, 3]), queue.submit([4, 5, 6])]);
    expect(first).toEqual([10, 20, 30]);
    expect(second).toEqual([40, 50, 60]);
    expect(runs).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    expect(queue.stats()).toEqual({ runs: 2, items: 6 });
  });

  it('when a run fails, then only its items are rejected and the queue goes on with the next batch', async () => {
    const queue = createBatchQueue(2, async (batch: string[]) => {
      if (batch.includes('bad')) throw new Error('run failed');
      return Promise.resolve(batch.map((s) => s.toUpperCase()));
    });
    const failing = queue.submit(['ok', 'bad']);
    const passing = queue.submit(['fine']);
    await expect(failing).rejects.toThrow('run failed');
    await expect(passing).resolves.toEqual(['FINE']);
    expect(queue.stats()).toEqual({ runs: 1, items: 1 });
  });
});

describe('a bounded batch queue', () => {
  it('when a submission would exceed the depth, then it is refused whole with a retry delay, and the waiting items still run', async () => {
    const runs: number[][] = [];
    const queue = createBatchQueue(
      2,
      async (batch: number[]) => {
        runs.push(batch);
        return Promise.resolve(batch);
      },
      { maxDepth: 4 },
    );
    const first = queue.submit([1, 2, 3]);
    const refused = queue.submit([4, 5]);
    await expect(refused).rejects.toBeInstanceOf(BatchQueueFullError);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 10 });
    await expect(refused).rejects.toThrow(
      /3 slices are waiting and 2 more would exceed the queue of 4 \(INFERENCE_QUEUE_DEPTH\)/,
    );
    const fits = queue.submit([6]);
    await expect(Promise.all([first, fits])).resolves.toEqual([[1, 2, 3], [6]]);
    expect(runs.flat()).toEqual([1, 2, 3, 6]);
  });

  it('when the queue is empty, then one submission larger than the depth is still taken', async () => {
    const queue = createBatchQueue(2, async (batch: number[]) => Promise.resolve(batch), { maxDepth: 2 });
    await expect(queue.submit([1, 2, 3, 4, 5])).resolves.toEqual([1, 2, 3, 4, 5]);
  });
});

describe('a submission with an AbortSignal (a cancelled analysis)', () => {
  it('when it is aborted while its items wait, then they leave the queue, it rejects with the reason, and others still run', async () => {
    const runs: number[][] = [];
    let releaseFirstRun = (): void => undefined;
    const firstRunHeld = new Promise<void>((resolve) => {
      releaseFirstRun = resolve;
    });
    const queue = createBatchQueue(2, async (batch: number[]) => {
      runs.push(batch);
      if (runs.length === 1) await firstRunHeld;
      return batch;
    });
    const cancel = new AbortController();
    const cancelled = queue.submit([1, 2, 3, 4, 5, 6], { signal: cancel.signal });
    const other = queue.submit([7]);
    // The first run (1, 2) is under way; 3 … 6 wait behind it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual([[1, 2]]);
    cancel.abort(new Error('cancelled by the user'));
    releaseFirstRun();
    await expect(cancelled).rejects.toThrow('cancelled by the user');
    await expect(other).resolves.toEqual([7]);
    expect(runs).toEqual([[1, 2], [7]]);
  });

  it('when the signal has already fired, then nothing is queued', async () => {
    const runs: number[][] = [];
    const queue = createBatchQueue(2, async (batch: number[]) => {
      runs.push(batch);
      return Promise.resolve(batch);
    });
    await expect(queue.submit([1], { signal: AbortSignal.abort(new Error('too late')) })).rejects.toThrow('too late');
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual([]);
  });
});
