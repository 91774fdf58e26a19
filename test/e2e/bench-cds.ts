/**
 * `npm run bench:cds`: the CDS Hooks service under load, as an EHR calls it at order entry (issue 24).
 *
 * Starts the mock EHR and the app server as two processes on loopback (as `npm start` does), seeds synthetic
 * patients, analyzes each patient's lumbar MRI through the API (so the cards are built from stored findings), then
 * sends `order-select` calls for a neurosurgery referral with autocannon: N connections at once (default 50), each call
 * with a fresh ES384 JWT (its own `jti`, signed in the call's setup) that the app verifies against the bench's JWKS,
 * the replay cache included. Two modes:
 *
 * - `fhirAuthorization` (the target): no prefetch; the service searches the mock EHR's FHIR server for the patient's
 *   ImagingStudies, our DiagnosticReports and Observations with the hook's fhirAuthorization token (three searches at
 *   once; the mock EHR verifies that token on each);
 * - `prefetch`: the EHR sends the prefetch (filled once per patient from the services' templates); the service reads
 *   nothing.
 *
 * Prints per mode the requests, req/s, latency p50/p95/p99/max (every response's time, as autocannon measured it)
 * and any non-2xx answer or error, against the target p95 ≤ 50 ms, p99 ≤ 150 ms.
 *
 *   npm run bench:cds -- [--connections 50] [--duration 20] [--patients 3] [--mode fhirAuthorization|prefetch|both]
 *                        [--alg ES384|RS384] [--rate CALLS_PER_S] [--json FILE] [--profile DIR]
 *
 * The JWTs are signed before each run (how many: from a 3 s warm-up), so the bench's own signing does not compete
 * with the service for the cores; the service verifies each one, its replay cache included.
 *
 * Beside the latencies it prints the CPU time each server process spent per call (user + system, all its threads, from
 * /proc/<pid>/stat over the run): unlike the latencies, that figure hardly depends on what else the machine is doing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type { Bundle } from 'fhir/r4';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import { findFreePort } from '../../server/src/cli/free-port';
import { recommendedThreadpoolSize } from '../../server/src/http/threadpool';
import { launchAndAuthorize, type SmartTokenResponse } from '../support/smart-launch';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SERVICE = 'ldh-cds-order-select';
const ISSUER = 'https://bench.ehr.test';
const KID = 'bench-1';
const TARGET = { p95: 50, p99: 150 };

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '20' },
    patients: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
    /** The JWT algorithm the "EHR" signs with: ES384 (the mock EHR's) or RS384, both CDS Hooks' recommendations. */
    alg: { type: 'string', default: 'ES384' },
    /** Calls per second in all (autocannon overallRate); default: as fast as the connections go (closed loop). */
    rate: { type: 'string' },
    json: { type: 'string' },
    /** Write V8 CPU profiles of the app server and the mock EHR to this folder (node --cpu-prof: app-*, ehr-*). */
    profile: { type: 'string' },
  },
});
const connections = Number(args.connections);
const alg = args.alg === 'RS384' ? 'RS384' : 'ES384';
const rate = args.rate ? Number(args.rate) : undefined;
const duration = Number(args.duration);
const patientCount = Number(args.patients);
/** UV_THREADPOOL_SIZE of both servers: the environment's, else the recommendation for this host's cores. */
const threadpoolSize = process.env.UV_THREADPOOL_SIZE || String(recommendedThreadpoolSize(os.availableParallelism()));

const children: ChildProcess[] = [];

function startChild(
  name: string,
  entry: string,
  env: NodeJS.ProcessEnv,
  readyPrefix: string,
  nodeArgs: string[] = [],
): Promise<{ url: string; pid: number }> {
  // tsx as a loader in this node (not tsx's command line, which runs the server in a second process): the child's
  // pid is the server's, whose CPU time is measured.
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} did not start within 120 s`));
    }, 120_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith(readyPrefix)) {
        clearTimeout(timer);
        resolve({ url: line.slice(readyPrefix.length).trim().replace(/\/$/, ''), pid: child.pid ?? 0 });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code ?? 'null'} before it was ready`));
    });
  });
}

/**
 * node's options for a profiled server: its V8 CPU profiles in `<--profile>/<name>/`, one per thread under node's
 * default names (`CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile`; the main thread is thread 0).
 */
function profileArgs(name: string): string[] {
  return args.profile ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args.profile, name)] : [];
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux x86-64). */
const USER_HZ = 100;

/** CPU milliseconds (user + system, every thread) the process has used so far; NaN where /proc cannot be read. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the 14th, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return NaN;
  }
}

/** A fresh JWT (its own jti, iat now) for one call, signed synchronously. */
function jwtSigner(key: KeyObject, audience: string): () => string {
  const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT', kid: KID })).toString('base64url');
  return () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(
      JSON.stringify({ iss: ISSUER, aud: audience, iat: now, exp: now + 300, jti: randomUUID() }),
    ).toString('base64url');
    const input = `${header}.${payload}`;
    const signature = sign('sha384', Buffer.from(input), {
      key,
      ...(alg === 'ES384' ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    }).toString('base64url');
    return `${input}.${signature}`;
  };
}

/** JWTs for one run: `next` hands out one per call; `signedDuringRun` counts those the pool ran short of. */
interface JwtPool {
  next: () => string;
  signedDuringRun: () => number;
}

/**
 * JWTs signed before the run, so that the bench's own signing (an EHR's work, on its own machine) does not take the
 * cores the service is measured on; each is used once, all well within their 5 minutes. When the pool runs dry the
 * rest are signed as they are sent, and the result says how many: those calls' times include the bench's signing
 * (0.5 ms for ES384, 2–3 ms for RS384 with a 3072-bit key), which is why the pool is sized with a wide margin.
 */
function jwtPool(signer: () => string, size: number): JwtPool {
  const pool = Array.from({ length: size }, signer);
  let signedDuringRun = 0;
  return {
    next: () => {
      const jwt = pool.pop();
      if (jwt !== undefined) return jwt;
      signedDuringRun += 1;
      return signer();
    },
    signedDuringRun: () => signedDuringRun,
  };
}

/** CPU milliseconds (user + system) this bench process — autocannon, the load generator — has used so far. */
function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN);

interface ModeResult {
  mode: string;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** CPU milliseconds per call of the app server, the mock EHR and this bench (autocannon) over the run. */
  cpuMsPerCall: { app: number; ehr: number; client: number };
  /** Calls whose JWT was signed as it was sent (the pool ran dry): their times include the bench's signing. */
  signedDuringRun: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** The server processes whose CPU time is counted. */
interface Servers {
  app: number;
  ehr: number;
}

async function run(
  mode: string,
  url: string,
  bodies: string[],
  jwts: JwtPool,
  seconds: number,
  servers: Servers,
): Promise<ModeResult> {
  let next = 0;
  const times: number[] = [];
  const cpuBefore = { app: cpuMsOf(servers.app), ehr: cpuMsOf(servers.ehr), client: ownCpuMs() };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: 'POST',
        connections,
        duration: seconds,
        ...(rate ? { overallRate: rate } : {}),
        headers: { 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              headers: { ...request.headers, authorization: `Bearer ${jwts.next()}` },
              body: bodies[next++ % bodies.length] ?? '',
            }),
          },
        ],
      },
      (error, done) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(done);
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      times.push(responseTime);
    });
  });
  const calls = Math.max(1, result.requests.total);
  const cpuMsPerCall = {
    app: (cpuMsOf(servers.app) - cpuBefore.app) / calls,
    ehr: (cpuMsOf(servers.ehr) - cpuBefore.ehr) / calls,
    client: (ownCpuMs() - cpuBefore.client) / calls,
  };
  times.sort((a, b) => a - b);
  return {
    mode,
    cpuMsPerCall,
    signedDuringRun: jwts.signedDuringRun(),
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.total / seconds),
    latencyMs: {
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      p99: percentile(times, 99),
      max: times.at(-1) ?? NaN,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

async function main(): Promise<void> {
  const [ehrPort, appPort] = [await findFreePort(), await findFreePort()];
  const ehrUrl = `http://localhost:${ehrPort}`;
  const appUrl = `http://localhost:${appPort}`;
  const fhirBase = `${ehrUrl}/fhir`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-bench-cds-'));
  const { privateKey, publicKey } =
    alg === 'ES384'
      ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
      : generateKeyPairSync('rsa', { modulusLength: 3072 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg, use: 'sig' };
  await writeFile(
    path.join(dir, 'cds-clients.json'),
    JSON.stringify({ clients: [{ iss: ISSUER, jwks: { keys: [jwk] } }] }),
  );
  await writeFile(
    path.join(dir, 'ehrs.json'),
    JSON.stringify({ ehrs: [{ fhirBaseUrl: fhirBase, imagingOrigins: [ehrUrl] }] }),
  );
  // As `npm start` and the deployment samples run the servers: libuv's pool sized to the cores (server/src/http/threadpool.ts).
  const env = {
    ...process.env,
    APP_BASE_URL: appUrl,
    LOG_LEVEL: 'warn',
    UV_THREADPOOL_SIZE: threadpoolSize,
  };
  const cleanup = async (): Promise<void> => {
    for (const child of children) child.kill(args.profile ? 'SIGINT' : 'SIGTERM');
    // A profiled child writes its profile as it exits.
    if (args.profile) await new Promise((resolve) => setTimeout(resolve, 3000));
    await rm(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });
  try {
    console.error(`Starting the mock EHR (${patientCount} synthetic patients) and the app server…`);
    const [ehr, app] = await Promise.all([
      startChild(
        'mock EHR',
        'mock-ehr/src/main.ts',
        {
          ...env,
          EHR_PORT: String(ehrPort),
          EHR_BASE_URL: ehrUrl,
          MOCK_EHR_DATA_DIR: path.join(dir, 'ehr'),
          MOCK_EHR_PATIENTS: String(patientCount),
          MOCK_EHR_DEV_TOOLS: 'true',
        },
        'mock-ehr ready ',
        profileArgs('ehr'),
      ),
      startChild(
        'app server',
        'server/src/main.ts',
        {
          ...env,
          APP_PORT: String(appPort),
          EHRS_FILE: path.join(dir, 'ehrs.json'),
          CDS_CLIENTS_FILE: path.join(dir, 'cds-clients.json'),
          CDS_FEEDBACK_FILE: path.join(dir, 'cds-feedback.jsonl'),
          // The bench measures latency, not the limits: a real EHR calls far less often.
          RATE_LIMIT_CDS_PER_IP: '10000000',
          RATE_LIMIT_CDS_PER_CLIENT: '10000000',
        },
        'app ready ',
        profileArgs('app'),
      ),
    ]);
    const servers: Servers = { app: app.pid, ehr: ehr.pid };

    // Each seeded patient: a SMART token (an EHR launch from the chart), the study analyzed, the hook's bodies.
    const chartList = await (await fetch(`${ehrUrl}/`)).text();
    const patientIds = [...new Set([...chartList.matchAll(/href="\/chart\/([^"/]+)"/g)].map((m) => m[1] ?? ''))];
    const serviceUrl = `${appUrl}/cds-services/${SERVICE}`;
    const withAuthorization: string[] = [];
    const withPrefetch: string[] = [];
    const discovery = (await (await fetch(`${appUrl}/cds-services`)).json()) as {
      services: { id: string; prefetch: Record<string, string> }[];
    };
    const templates = discovery.services.find((service) => service.id === SERVICE)?.prefetch ?? {};
    for (const patientId of patientIds) {
      const chart = await (await fetch(`${ehrUrl}/chart/${patientId}`)).text();
      const href = /id="launch-ldh-cds" class="button" href="([^"]+)"/.exec(chart)?.[1]?.replaceAll('&amp;', '&') ?? '';
      const token: SmartTokenResponse = await launchAndAuthorize({
        fhirBaseUrl: fhirBase,
        launch: new URL(href).searchParams.get('launch') ?? '',
        clientId: SMART_CLIENT_ID,
        redirectUri: `${appUrl}/index.html`,
        scope: SMART_SCOPE,
      });
      const fhir = async (query: string): Promise<unknown> =>
        (await fetch(`${fhirBase}/${query}`, { headers: { Authorization: `Bearer ${token.access_token}` } })).json();
      const studies = (await fhir(`ImagingStudy?patient=Patient/${patientId}`)) as Bundle;
      const studyId = studies.entry?.[0]?.resource?.id ?? '';
      const analysis = await fetch(`${appUrl}/api/analyses`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token.access_token}`,
          'X-FHIR-Server': fhirBase,
          'Content-Type': 'application/json',
          Prefer: 'wait=600',
        },
        body: JSON.stringify({ imagingStudy: `ImagingStudy/${studyId}` }),
      });
      if (analysis.status !== 200 && analysis.status !== 201)
        throw new Error(`analysis of ImagingStudy/${studyId} answered ${analysis.status}: ${await analysis.text()}`);
      const body = {
        hook: 'order-select',
        hookInstance: randomUUID(),
        context: {
          userId: 'Practitioner/bench',
          patientId,
          selections: ['ServiceRequest/bench-referral'],
          draftOrders: {
            resourceType: 'Bundle',
            type: 'collection',
            entry: [
              {
                resource: {
                  resourceType: 'ServiceRequest',
                  id: 'bench-referral',
                  status: 'draft',
                  intent: 'order',
                  subject: { reference: `Patient/${patientId}` },
                  code: {
                    coding: [{ system: 'http://snomed.info/sct', code: '308482002' }],
                    text: 'Referral to neurosurgeon',
                  },
                },
              },
            ],
          },
        },
      };
      withAuthorization.push(
        JSON.stringify({
          ...body,
          fhirServer: fhirBase,
          fhirAuthorization: {
            access_token: token.access_token,
            token_type: 'Bearer',
            expires_in: token.expires_in,
            scope: token.scope,
            subject: SMART_CLIENT_ID,
            patient: patientId,
          },
        }),
      );
      const prefetch: Record<string, unknown> = {};
      for (const [key, template] of Object.entries(templates))
        prefetch[key] = await fhir(template.replaceAll('{{context.patientId}}', patientId));
      withPrefetch.push(JSON.stringify({ ...body, prefetch }));
    }
    const nextJwt = jwtSigner(createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })), serviceUrl);

    // One call per body first: each must answer one findings card.
    for (const body of [...withAuthorization, ...withPrefetch]) {
      const response = await fetch(serviceUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${nextJwt()}` },
        body,
      });
      const answer = (await response.json()) as { cards?: { summary: string }[] };
      if (response.status !== 200 || answer.cards?.length !== 1)
        throw new Error(`a check call answered ${response.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    }
    console.error(`${patientIds.length} patients analyzed; every check call answered one card. Warming up for 3 s…`);

    const modes = args.mode === 'both' ? ['fhirAuthorization', 'prefetch'] : [args.mode];
    const results: ModeResult[] = [];
    for (const mode of modes) {
      const bodies = mode === 'prefetch' ? withPrefetch : withAuthorization;
      // The warm-up says about how many calls the run will make; the run, warmed up, goes faster (by a third and more
      // on the 2-core machine), so two and a half times that many JWTs are signed first.
      const warm = await run(mode, serviceUrl, bodies, jwtPool(nextJwt, 0), 3, servers);
      const size = Math.ceil(Math.max(warm.requestsPerSecond, 100) * duration * 2.5);
      console.error(`${mode}: signing ${size} ${alg} JWTs for the run…`);
      results.push(await run(mode, serviceUrl, bodies, jwtPool(nextJwt, size), duration, servers));
      const signedLate = results.at(-1)?.signedDuringRun ?? 0;
      if (signedLate > 0)
        console.error(
          `${mode}: the pool ran dry; ${signedLate} JWTs were signed as they were sent (their times include it)`,
        );
    }

    console.log(
      `CDS Hooks bench: ${SERVICE} (neurosurgery referral), ${connections} connections${rate ? ` at ${rate} calls/s` : ''}, ${duration} s per mode, a fresh ${alg} JWT per call; UV_THREADPOOL_SIZE=${threadpoolSize}, LOG_LEVEL=warn; ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? '?'}), load average ${os
        .loadavg()
        .map((load) => load.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      'mode               requests    req/s   p50 ms   p95 ms   p99 ms   max ms   non-2xx  errors  app CPU ms/call  EHR CPU ms/call  bench CPU ms/call',
    );
    for (const r of results) {
      console.log(
        [
          r.mode.padEnd(17),
          String(r.requests).padStart(9),
          String(r.requestsPerSecond).padStart(8),
          ...[r.latencyMs.p50, r.latencyMs.p95, r.latencyMs.p99, r.latencyMs.max].map((v) => v.toFixed(0).padStart(8)),
          String(r.non2xx).padStart(9),
          String(r.errors + r.timeouts).padStart(7),
          r.cpuMsPerCall.app.toFixed(2).padStart(16),
          r.cpuMsPerCall.ehr.toFixed(2).padStart(16),
          r.cpuMsPerCall.client.toFixed(2).padStart(18),
        ].join(' '),
      );
    }
    for (const r of results) {
      const met = r.latencyMs.p95 <= TARGET.p95 && r.latencyMs.p99 <= TARGET.p99 && r.non2xx === 0 && r.errors === 0;
      console.log(
        `${r.mode}: target p95 ≤ ${TARGET.p95} ms, p99 ≤ ${TARGET.p99} ms, no error: ${met ? 'met' : 'NOT met'}`,
      );
    }
    if (args.json)
      await writeFile(args.json, `${JSON.stringify({ connections, rate, alg, duration, results }, null, 2)}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  for (const child of children) child.kill('SIGTERM');
  process.exit(1);
});
