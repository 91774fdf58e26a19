/**
 * The start of the server's processes (`main.ts`, `worker-main.ts`): a process that cannot start says why in one line
 * on stderr and exits 1, before anything is listening or taking jobs.
 */
import { loadConfig, type AppConfig } from '../config';

export function exitWithReason(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** The configuration from the environment, or the process ends naming the key that is wrong (config.ts). */
export function configFromEnvironmentOrExit(env: NodeJS.ProcessEnv = process.env): AppConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    exitWithReason((error as Error).message);
  }
}
