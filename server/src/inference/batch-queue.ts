/**
 * The queue one model's runs are fed from: items of every caller wait here, and each run takes up to `batchSize`
 * of them in arrival order, so concurrent analyses fill each other's batches (a GPU's throughput depends on it) and
 * runs never compete for the same cores. Runs start on the next turn of the event loop, so that callers arriving
 * together share the first batch; a failed run rejects its own items and the queue goes on with the next.
 *
 * The queue is bounded: a submission that would leave more than `maxDepth` items waiting is refused at once with
 * BatchQueueFullError (the API's 503 with Retry-After), whole — never half an analysis queued. An empty queue takes
 * any one submission, so a study larger than the depth is still analyzed when nothing else waits (its size is
 * bounded by the study limits, not here).
 *
 * A submission may carry an AbortSignal (a cancelled analysis): once it fires, its items still waiting leave the
 * queue and the submission rejects with the signal's reason; items already in a run finish with it, unread.
 */
export interface BatchQueue<In, Out> {
  /** Queues the items; resolves to one result per item, in order, once their runs are done. */
  submit(items: readonly In[], options?: SubmitOptions): Promise<Out[]>;
  /** Runs so far and the items they held (items / runs = how full the batches were). */
  stats(): { runs: number; items: number };
}

/** Too many items wait for the model: try again after `retryAfterSeconds`. */
export class BatchQueueFullError extends Error {
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.name = 'BatchQueueFullError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface BatchQueueOptions {
  /** Items that may wait at once (default unbounded). */
  maxDepth?: number;
  /** What a refused caller is told to wait, seconds (default 10: a full queue's runs on the CPU take about that). */
  retryAfterSeconds?: number;
}

export interface SubmitOptions {
  /** Aborted: the submission's waiting items are dropped and it rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface Waiting<In, Out> {
  item: In;
  /** The submission the item came with: what an abort takes out of the queue. */
  submission: object;
  resolve(result: Out): void;
  reject(error: unknown): void;
}

/** `run` gets at most `batchSize` items and returns one result per item, in order. */
export function createBatchQueue<In, Out>(
  batchSize: number,
  run: (batch: In[]) => Promise<Out[]>,
  { maxDepth = Infinity, retryAfterSeconds = 10 }: BatchQueueOptions = {},
): BatchQueue<In, Out> {
  const queue: Waiting<In, Out>[] = [];
  const stats = { runs: 0, items: 0 };
  let running = false;

  async function runBatch(batch: Waiting<In, Out>[]): Promise<void> {
    try {
      const results = await run(batch.map((waiting) => waiting.item));
      stats.runs++;
      stats.items += batch.length;
      batch.forEach((waiting, i) => {
        waiting.resolve(results[i] as Out);
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }

  async function drain(): Promise<void> {
    if (running) return;
    running = true;
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, batchSize));
    } finally {
      running = false;
    }
  }

  return {
    submit(items, { signal } = {}) {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      if (queue.length > 0 && queue.length + items.length > maxDepth) {
        return Promise.reject(
          new BatchQueueFullError(
            `The model is busy: ${queue.length} slices are waiting and ${items.length} more would exceed the queue of ${maxDepth} (INFERENCE_QUEUE_DEPTH). Try again in ${retryAfterSeconds} seconds.`,
            retryAfterSeconds,
          ),
        );
      }
      const submission = {};
      const pending = items.map(
        (item) => new Promise<Out>((resolve, reject) => queue.push({ item, submission, resolve, reject })),
      );
      setImmediate(() => void drain());
      if (!signal) return Promise.all(pending);
      const dropWaiting = (): void => {
        for (let i = queue.length - 1; i >= 0; i--) {
          const waiting = queue[i];
          if (waiting?.submission !== submission) continue;
          queue.splice(i, 1);
          waiting.reject(signal.reason);
        }
      };
      signal.addEventListener('abort', dropWaiting, { once: true });
      // Whatever the outcome, an abort after it has nothing left to drop.
      return Promise.all(pending).finally(() => {
        signal.removeEventListener('abort', dropWaiting);
      });
    },
    stats: () => ({ ...stats }),
  };
}
