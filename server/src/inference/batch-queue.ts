/**
 * The queue one model's runs are fed from: items of every caller wait here, and each run takes up to `batchSize`
 * of them in arrival order, so concurrent analyses fill each other's batches (a GPU's throughput depends on it) and
 * runs never compete for the same cores. Runs start on the next turn of the event loop, so that callers arriving
 * together share the first batch; a failed run rejects its own items and the queue goes on with the next.
 */
export interface BatchQueue<In, Out> {
  /** Queues the items; resolves to one result per item, in order, once their runs are done. */
  submit(items: readonly In[]): Promise<Out[]>;
  /** Runs so far and the items they held (items / runs = how full the batches were). */
  stats(): { runs: number; items: number };
}

interface Waiting<In, Out> {
  item: In;
  resolve(result: Out): void;
  reject(error: unknown): void;
}

/** `run` gets at most `batchSize` items and returns one result per item, in order. */
export function createBatchQueue<In, Out>(
  batchSize: number,
  run: (batch: In[]) => Promise<Out[]>,
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
    submit(items) {
      const pending = items.map((item) => new Promise<Out>((resolve, reject) => queue.push({ item, resolve, reject })));
      setImmediate(() => void drain());
      return Promise.all(pending);
    },
    stats: () => ({ ...stats }),
  };
}
