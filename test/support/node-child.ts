/**
 * One of our servers as a child process, as a deployment runs it: `node --import tsx <entry>` — one process, not the
 * tsx command's wrapper, so that its pid is the server's (its memory and CPU are read from /proc/<pid>) and a signal
 * reaches the server itself. Resolves once the server prints its ready line on stdout (`app ready <url>`,
 * `worker ready <name>`); every line it prints is kept (the last 2,000) and handed to `onLine`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const KEPT_LINES = 2000;

export interface NodeChild {
  process: ChildProcess;
  pid: number;
  /** What the ready line said after its prefix: the API's URL, the worker's name. */
  ready: string;
  /** Its last lines, stdout and stderr together. */
  output: string[];
  /** SIGTERM, then SIGKILL after `graceMs` (default 15 s); resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface NodeChildOptions {
  /** The whole environment of the child. */
  env: NodeJS.ProcessEnv;
  /** The start of the line that says it is ready. */
  readyPrefix: string;
  /** Default 120 s: tsx compiles the server first, and a loaded 2-core machine is slow at it. */
  readyTimeoutMs?: number;
  /** Each line it prints on stdout (its pino log, JSON). */
  onLine?: (line: string) => void;
}

export function startNodeChild(entry: string, options: NodeChildOptions): Promise<NodeChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (line: string): void => {
    output.push(line);
    if (output.length > KEPT_LINES) output.shift();
  };
  createInterface({ input: child.stderr }).on('line', keep);
  const stop = (graceMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  return new Promise((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} was not ready within ${timeoutMs / 1000} s:\n${output.slice(-40).join('\n')}`));
    }, timeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      options.onLine?.(line);
      if (line.startsWith(options.readyPrefix)) {
        clearTimeout(timer);
        resolve({
          process: child,
          pid: child.pid ?? 0,
          ready: line.slice(options.readyPrefix.length).trim(),
          output,
          stop,
        });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${entry} exited (${String(code ?? signal)}) before it was ready:\n${output.slice(-40).join('\n')}`),
      );
    });
  });
}
