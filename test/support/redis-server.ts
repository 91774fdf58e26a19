/**
 * A real Redis for the job queue's tests: Debian's `redis-server` (test/ensure-system-deps.sh installs it) on a free
 * loopback port, its append-only file in a temporary folder, so that a restart keeps what was written. One per test
 * file; `restart()` stops it (SIGTERM: it writes its AOF out) and starts it again on the same port and folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../server/src/cli/free-port';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  url: string;
  port: number;
  /** The running redis-server's process id (a restart changes it). */
  readonly pid: number;
  /** Stops Redis (SIGTERM) and starts it again with the same port and data. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function start(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`redis-server did not accept connections within 10 s: ${output}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/Ready to accept connections/i.test(output)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with code ${String(code)}: ${output}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => {
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(
      `${REDIS_SERVER} is not installed: the job queue's tests need Debian's redis-server. Run as root: apt-get install -y redis-server (npm test's test/ensure-system-deps.sh does).`,
    );
  }
  const port = await findFreePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-redis-'));
  let child = await start(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid ?? 0;
    },
    async restart({ downMs = 500 } = {}) {
      await stopChild(child);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      child = await start(port, dir);
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
