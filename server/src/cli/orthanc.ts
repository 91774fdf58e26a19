/**
 * A real PACS for `npm run bench` and the integration tests: Debian's Orthanc with its DICOMweb plugin, started as
 * our own process with its own JSON config (no system service), storage under `dir`, DICOM (DIMSE) server off,
 * remote access off, on a free loopback port. No GDCM plugin: it crashes Orthanc on JPEG-LS/lossless transcoding.
 * `bearerToken` installs a Lua IncomingHttpRequestFilter that answers 403 without `Authorization: Bearer <token>`.
 * `bash test/ensure-system-deps.sh` installs the packages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findFreePort } from './free-port';

export const ORTHANC_BINARY = '/usr/sbin/Orthanc';
export const ORTHANC_DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export interface OrthancOptions {
  /** Default: a free port. */
  port?: number;
  /** Working folder: config, storage and index go here. */
  dir: string;
  bearerToken?: string;
  /** Milliseconds to wait until Orthanc answers (default 30 s). */
  startTimeoutMs?: number;
}

export interface RunningOrthanc {
  /** DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web */
  dicomWebUrl: string;
  /** Orthanc's REST API root, e.g. http://127.0.0.1:8042 */
  restUrl: string;
  /** Orthanc's process id (the bench reads its memory and CPU time from /proc). */
  pid: number;
  /** Stores one Part 10 file (REST POST /instances). */
  upload(part10: Uint8Array): Promise<void>;
  /** Stops Orthanc and waits until the process has exited (its SQLite index is then unlocked). */
  close(): Promise<void>;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startOrthanc(options: OrthancOptions): Promise<RunningOrthanc> {
  const port = options.port ?? (await findFreePort());
  const storage = path.join(options.dir, 'storage');
  await mkdir(storage, { recursive: true });
  const luaFile = path.join(options.dir, 'auth.lua');
  const luaScripts: string[] = [];
  if (options.bearerToken) {
    await writeFile(
      luaFile,
      `function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)\n` +
        `  return httpHeaders['authorization'] == 'Bearer ${options.bearerToken}'\n` +
        `end\n`,
    );
    luaScripts.push(luaFile);
  }
  const config = {
    Name: 'ldh-cds-test-pacs',
    StorageDirectory: storage,
    IndexDirectory: storage,
    Plugins: [ORTHANC_DICOMWEB_PLUGIN],
    HttpPort: port,
    HttpServerEnabled: true,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    OrthancExplorerEnabled: false,
    WebDavEnabled: false,
    HttpCompressionEnabled: false,
    LuaScripts: luaScripts,
    StableAge: 1,
    DicomWeb: {
      Enable: true,
      Root: '/dicom-web/',
      EnableWado: false,
      Ssl: false,
      StudiesMetadata: 'Full',
      SeriesMetadata: 'Full',
    },
  };
  const configFile = path.join(options.dir, 'orthanc.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const child = spawn(ORTHANC_BINARY, [configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const restUrl = `http://127.0.0.1:${port}`;
  const headers: Record<string, string> = options.bearerToken ? { Authorization: `Bearer ${options.bearerToken}` } : {};
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      reject(new Error(`Orthanc exited during start (code ${code}, signal ${signal}): ${log.slice(-1000)}`));
    });
    child.once('error', reject);
  });
  const ready = (async () => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      const ok = await fetch(`${restUrl}/system`, { headers }).then(
        (response) => response.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`Orthanc did not answer on ${restUrl} in time: ${log.slice(-1000)}`);
  })();
  try {
    await Promise.race([ready, exited]);
  } catch (error) {
    child.kill('SIGKILL');
    await waitForExit(child, 5000);
    throw error;
  }
  exited.catch(() => undefined);

  return {
    dicomWebUrl: `${restUrl}/dicom-web`,
    restUrl,
    pid: child.pid ?? 0,
    async upload(part10) {
      const response = await fetch(`${restUrl}/instances`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/dicom' },
        body: new Blob([part10 as Uint8Array<ArrayBuffer>]),
      });
      if (!response.ok) throw new Error(`Orthanc refused an upload: HTTP ${response.status} ${await response.text()}`);
    },
    async close() {
      child.kill('SIGTERM');
      await waitForExit(child, 10_000);
    },
  };
}
