/**
 * How many libuv threadpool threads the app server should run, and what to say when it runs another number.
 *
 * Each CDS Hooks call's JWT signature is checked on Node's libuv threadpool (jose's WebCrypto verify: ~0.5 ms of CPU
 * for ES384). Libuv starts 4 threads whatever the host; on a 2-core host those threads and the event loop fight for
 * the cores, and the event loop, preempted while it holds 50 calls, answers all of them later: at 50 concurrent hook
 * calls on the 2-core machine, p95 56 ms with 4 threads, 43–45 ms with 1 (docs/deploy.md §The libuv threadpool). One core
 * is the event loop's, the others the pool's: cores − 1 threads, at least 1, at most libuv's default 4.
 *
 * Libuv reads UV_THREADPOOL_SIZE once, when the pool first runs work, which with tsx's loader is before any of our
 * code: the variable must be in the process's environment when it starts (the sandbox and the deployment samples set
 * it), so the server can only advise.
 */

/** Libuv's pool size when UV_THREADPOOL_SIZE is not set. */
export const LIBUV_DEFAULT_THREADPOOL_SIZE = 4;

/** The threadpool size for an app server on a host with `cores` cores. */
export function recommendedThreadpoolSize(cores: number): number {
  return Math.min(LIBUV_DEFAULT_THREADPOOL_SIZE, Math.max(1, Math.floor(cores) - 1));
}

/**
 * The start-up advice when UV_THREADPOOL_SIZE is unset and libuv's default would oversubscribe the host's cores;
 * undefined when there is nothing to say (set by the operator, or a host with 5 cores or more).
 */
export function threadpoolAdvice(env: NodeJS.ProcessEnv, cores: number): string | undefined {
  if (env.UV_THREADPOOL_SIZE !== undefined && env.UV_THREADPOOL_SIZE !== '') return undefined;
  const recommended = recommendedThreadpoolSize(cores);
  if (recommended >= LIBUV_DEFAULT_THREADPOOL_SIZE) return undefined;
  return (
    `UV_THREADPOOL_SIZE is not set: libuv runs ${LIBUV_DEFAULT_THREADPOOL_SIZE} threads on ${cores} cores, which ` +
    `slows CDS Hooks calls under load; start the server with UV_THREADPOOL_SIZE=${recommended} ` +
    `(docs/deploy.md §The libuv threadpool)`
  );
}
