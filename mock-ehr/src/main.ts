/**
 * `npm run dev:mock-ehr` and the sandbox's child process: starts the mock EHR from the environment (see config.ts)
 * and prints exactly one `mock-ehr ready <url>` line on stdout once it listens — the sandbox launcher waits for it.
 */
import { pino } from 'pino';
import { startMockEhr } from './app';
import { loadConfig } from './config';

const logger = pino({ name: 'mock-ehr', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));

async function main(): Promise<void> {
  const config = loadConfig();
  logger.level = config.logLevel;
  const ehr = await startMockEhr({
    port: config.port,
    host: config.host,
    publicBaseUrl: config.publicBaseUrl ?? (config.port === 0 ? undefined : `http://localhost:${config.port}`),
    appBaseUrl: config.appBaseUrl,
    dataDir: config.dataDir,
    patientCount: config.patientCount,
    persist: config.persist,
    devTools: config.devTools,
    transferSyntaxes: config.transferSyntaxes,
    ...(config.dicomWebUpstreamUrl !== undefined ? { dicomWebUpstreamUrl: config.dicomWebUpstreamUrl } : {}),
    ...(config.clientsFile !== undefined ? { clientsFile: config.clientsFile } : {}),
    ...(config.cdsServicesBaseUrl !== undefined ? { cdsServicesBaseUrl: config.cdsServicesBaseUrl } : {}),
    logger,
  });
  process.stdout.write(`mock-ehr ready ${ehr.url}\n`);
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    ehr.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    const port = process.env.EHR_PORT ?? '4000';
    process.stderr.write(`Port ${port} is in use: set EHR_PORT to a free port\n`);
  } else {
    logger.fatal({ err: error }, 'mock EHR failed to start');
    process.stderr.write(`mock EHR failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(1);
});
