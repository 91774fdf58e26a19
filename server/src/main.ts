/** Starts the app server from the environment (`npm run dev:server`). */
import { startAppServer } from './app';
import { configFromEnvironmentOrExit, exitWithReason as fail } from './cli/start-up';

const config = configFromEnvironmentOrExit();

try {
  const server = await startAppServer(config);
  // One line the sandbox launcher waits for.
  process.stdout.write(`app ready ${config.APP_PORT === 0 ? server.url : config.APP_BASE_URL}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
    fail(`Port ${config.APP_PORT} is in use: set APP_PORT to a free port`);
  fail((error as Error).message);
}
