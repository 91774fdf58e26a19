/**
 * `npm start`: the local sandbox. Starts the mock EHR and the ldh-cds app server as two child processes (they
 * talk only over HTTP, as they would at a real site), waits until both listen, then prints the URLs a user needs,
 * each at the start of its own line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { recommendedThreadpoolSize } from '../../server/src/http/threadpool';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STARTUP_TIMEOUT_MS = 60_000;
const DEFAULT_EHR_BASE_URL = 'http://localhost:4000';

function parsePort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    console.error(`${name}=${raw} is not a valid TCP port (1–65535).`);
    process.exit(1);
  }
  return port;
}

/** Fails early with a message naming the variable to change, before any child is started. */
async function assertPortFree(port: number, variable: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'EADDRINUSE' ? 'is already in use' : `cannot be opened (${error.code ?? error.message})`;
      console.error(
        `Port ${port} ${reason}: stop what is using it, or set ${variable} to a free port (e.g. ${variable}=${port + 10} npm start).`,
      );
      process.exit(1);
    });
    probe.listen(port, () =>
      probe.close(() => {
        resolve();
      }),
    );
  });
}

/**
 * smart-config/cds-clients.json names the mock EHR at its default URL (http://localhost:4000), which is what the app
 * server reads when started alone. When the sandbox runs the EHR elsewhere, it writes a copy with the EHR's real
 * base URL under the git-ignored data directory and points the app's CDS_CLIENTS_FILE at it.
 */
async function writeResolvedCdsClients(ehrBaseUrl: string): Promise<string> {
  const source = path.join(repoRoot, 'smart-config/cds-clients.json');
  const text = await readFile(source, 'utf8');
  if (ehrBaseUrl === DEFAULT_EHR_BASE_URL) return source;
  const dataDir = path.resolve(repoRoot, process.env.MOCK_EHR_DATA_DIR ?? 'mock-ehr/.data');
  await mkdir(dataDir, { recursive: true });
  const resolved = path.join(dataDir, 'cds-clients.resolved.json');
  await writeFile(resolved, text.replaceAll(DEFAULT_EHR_BASE_URL, ehrBaseUrl));
  return resolved;
}

/**
 * The app server's trusted EHR (EHRS_FILE): the mock EHR's FHIR base paired with its DICOMweb's origin, the EHR's own
 * (with DICOMWEB_URL too: the Endpoint still names the EHR's /dicom-web, which forwards to that PACS after its own
 * token and patient checks, so the app never calls the PACS and its origin gets no token). smart-config/ehrs.json names
 * the default URL; for other ports a resolved copy is written next to the CDS clients' one.
 */
async function writeResolvedEhrs(ehrBaseUrl: string): Promise<string> {
  const source = path.join(repoRoot, 'smart-config/ehrs.json');
  if (ehrBaseUrl === DEFAULT_EHR_BASE_URL) return source;
  const dataDir = path.resolve(repoRoot, process.env.MOCK_EHR_DATA_DIR ?? 'mock-ehr/.data');
  await mkdir(dataDir, { recursive: true });
  const resolved = path.join(dataDir, 'ehrs.resolved.json');
  const ehr = {
    name: 'mock EHR (npm start)',
    fhirBaseUrl: `${ehrBaseUrl}/fhir`,
    imagingOrigins: [new URL(ehrBaseUrl).origin],
  };
  await writeFile(resolved, `${JSON.stringify({ ehrs: [ehr] }, null, 2)}\n`);
  return resolved;
}

const children: ChildProcess[] = [];

function startChild(name: string, entry: string, env: NodeJS.ProcessEnv, readyPrefix: string): Promise<string> {
  const tsxCli = path.join(repoRoot, 'node_modules/tsx/dist/cli.mjs');
  const child = spawn(process.execPath, [tsxCli, entry], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not start within ${STARTUP_TIMEOUT_MS / 1000} s`));
    }, STARTUP_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      if (line.startsWith(readyPrefix)) {
        clearTimeout(timer);
        resolve(line.slice(readyPrefix.length).trim());
      } else {
        process.stdout.write(`${line}\n`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code ?? 'null'} before it was ready (see the message above)`));
    });
  });
}

function stopAll(): void {
  for (const child of children) child.kill('SIGTERM');
}

async function main(): Promise<void> {
  const ehrPort = parsePort('EHR_PORT', 4000);
  const appPort = parsePort('APP_PORT', 3000);
  await assertPortFree(ehrPort, 'EHR_PORT');
  await assertPortFree(appPort, 'APP_PORT');

  const ehrBaseUrl = process.env.EHR_BASE_URL ?? `http://localhost:${ehrPort}`;
  const appBaseUrl = process.env.APP_BASE_URL ?? `http://localhost:${appPort}`;
  const env = {
    ...process.env,
    EHR_PORT: String(ehrPort),
    APP_PORT: String(appPort),
    EHR_BASE_URL: ehrBaseUrl,
    APP_BASE_URL: appBaseUrl,
    // FHIR_BASE_URLS set alone still names the trusted servers by itself, as it did before EHRS_FILE.
    ...(process.env.EHRS_FILE || process.env.FHIR_BASE_URLS ? {} : { EHRS_FILE: await writeResolvedEhrs(ehrBaseUrl) }),
    CDS_CLIENTS_FILE: process.env.CDS_CLIENTS_FILE ?? (await writeResolvedCdsClients(ehrBaseUrl)),
    // The sandbox's PACS (the mock EHR's DICOMweb store) receives each analysis's DICOM SR, as a site would enable it.
    SR_STOW: process.env.SR_STOW ?? 'true',
    // A development sandbox: the mock EHR's /faults and demo sign-in work, and its chart says so in a banner.
    MOCK_EHR_DEV_TOOLS: process.env.MOCK_EHR_DEV_TOOLS ?? 'true',
    // Analyze on arrival, as a radiology department would run it: the app server queues every lumbar MRI the EHR gets,
    // the seeded ones included (they arrived at this start: 24 h of backfill), so the referral card has findings
    // without anyone opening the app. Its jobs run in the app server with its own SMART Backend Services token, which
    // the mock EHR grants ldh-cds-server (smart-config/clients.json). docs/deploy.md §Analyze on arrival.
    ANALYZE_ON_ARRIVAL: process.env.ANALYZE_ON_ARRIVAL ?? 'auto',
    ARRIVAL_BACKFILL_HOURS: process.env.ARRIVAL_BACKFILL_HOURS ?? '24',
    ARRIVAL_POLL_INTERVAL_S: process.env.ARRIVAL_POLL_INTERVAL_S ?? '10',
    // One core for each server's event loop, the others for libuv's pool, which checks every CDS Hooks JWT: libuv's
    // default of 4 threads slows the hooks on a small host (docs/deploy.md §The libuv threadpool).
    UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(recommendedThreadpoolSize(availableParallelism())),
  };

  process.on('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    stopAll();
    process.exit(143);
  });

  const [ehrUrl, appUrl] = await Promise.all([
    startChild('mock EHR', 'mock-ehr/src/main.ts', env, 'mock-ehr ready '),
    startChild('app server', 'server/src/main.ts', env, 'app ready '),
  ]);
  for (const child of children) {
    child.once('exit', (code) => {
      console.error(`A sandbox process exited (code ${code ?? 'null'}); stopping the sandbox.`);
      stopAll();
      process.exit(1);
    });
  }
  const ehr = ehrUrl.replace(/\/$/, '');
  const app = appUrl.replace(/\/$/, '');
  console.log(`EHR chart: ${ehr}/`);
  console.log(`App: ${app}/`);
  console.log(`FHIR server: ${ehr}/fhir`);
  console.log(`DICOMweb: ${ehr}/dicom-web`);
  console.log(`CDS Hooks discovery: ${app}/cds-services`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  stopAll();
  process.exit(1);
});
