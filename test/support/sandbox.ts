/**
 * The mock EHR and the app server side by side on free loopback ports, as `npm start` runs them, for integration
 * and end-to-end tests; and the headless Debian Chromium those tests drive.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { startMockEhr, type MockEhrOptions } from '../../mock-ehr/src/app';
import { startAppServer } from '../../server/src/app';
import { loadConfig } from '../../server/src/config';
import { findFreePort } from '../../server/src/cli/free-port';
import type { TrustedEhr } from '../../server/src/trusted-ehrs';
import { SMART_CLIENT_ID, SMART_SCOPE } from '../../client/src/smart-scope';
import type { SeededPatient } from '../../mock-ehr/src/seed/seed';
import { launchAndAuthorize } from './smart-launch';

export interface Sandbox {
  ehr: Awaited<ReturnType<typeof startMockEhr>>;
  app: Awaited<ReturnType<typeof startAppServer>>;
  appBaseUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

export interface SandboxOptions {
  patientCount?: number;
  generateStudy?: MockEhrOptions['generateStudy'];
  /** App server settings beyond the URLs (e.g. MODEL_DIR). */
  appEnv?: Record<string, string>;
  /** Trusted CDS Hooks clients; 'ehr' = the mock EHR itself, by the JWKS it publishes. */
  cdsClients?: 'ehr' | { iss: string; jwks?: unknown; jwks_uri?: string }[];
  /** SMART client registrations of the mock EHR (default smart-config/clients.json), e.g. with a backend service. */
  clientsFile?: string;
  /** Where both servers log (default: pino at warn, to stdout); a test reads every line through its own stream. */
  logger?: Logger;
  /** More imaging origins of the mock EHR in the app's EHRS_FILE, beyond its own DICOMweb's (a PACS on another port). */
  imagingOrigins?: string[];
  /** Other EHRs the app server trusts, each with its own imaging origins (EHRS_FILE entries). */
  otherEhrs?: TrustedEhr[];
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  // Both must know each other's URL before either starts (redirect URIs, trusted FHIR servers): pick ports first.
  const [ehrPort, appPort] = [await findFreePort(), await findFreePort()];
  const appBaseUrl = `http://localhost:${appPort}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-sandbox-'));
  const logger = options.logger ?? pino({ level: 'warn' });
  const ehr = await startMockEhr({
    port: ehrPort,
    publicBaseUrl: `http://localhost:${ehrPort}`,
    appBaseUrl,
    dataDir,
    logger,
    devTools: true,
    ...(options.patientCount ? { patientCount: options.patientCount } : {}),
    ...(options.generateStudy ? { generateStudy: options.generateStudy } : {}),
    ...(options.clientsFile ? { clientsFile: options.clientsFile } : {}),
  });
  // As npm start does: the app trusts the mock EHR's FHIR base with its DICOMweb's origin as its imaging origin.
  const ehrs: TrustedEhr[] = [
    {
      fhirBaseUrl: ehr.fhirBaseUrl,
      imagingOrigins: [new URL(ehr.dicomWebUrl).origin, ...(options.imagingOrigins ?? [])],
    },
    ...(options.otherEhrs ?? []),
  ];
  const appEnv: Record<string, string> = {
    APP_PORT: String(appPort),
    APP_BASE_URL: appBaseUrl,
    EHRS_FILE: path.join(dataDir, 'ehrs.json'),
    // CDS Hooks feedback stays with the sandbox, not in the checkout's server/.data.
    CDS_FEEDBACK_FILE: path.join(dataDir, 'cds-feedback.jsonl'),
    ...options.appEnv,
  };
  await writeFile(path.join(dataDir, 'ehrs.json'), JSON.stringify({ ehrs }));
  if (options.cdsClients) {
    const clients = options.cdsClients === 'ehr' ? [{ iss: ehr.url, jwks_uri: ehr.cdsJwksUrl }] : options.cdsClients;
    appEnv.CDS_CLIENTS_FILE = path.join(dataDir, 'cds-clients.json');
    await writeFile(appEnv.CDS_CLIENTS_FILE, JSON.stringify({ clients }));
  }
  const app = await startAppServer(loadConfig(appEnv), { logger });
  return {
    ehr,
    app,
    appBaseUrl,
    dataDir,
    close: async () => {
      await app.close();
      await ehr.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/** The sandbox's n-th seeded patient (with its study); a test that asks for one that is not there fails at once. */
export function seededPatient(sandbox: Sandbox, index: number): SeededPatient {
  const seeded = sandbox.ehr.seed.patients[index];
  if (!seeded) throw new Error(`the sandbox seeded no patient ${index}`);
  return seeded;
}

/** A SMART access token for the app, as an EHR launch in the chart of this patient gives it (the app's own scopes). */
export async function appTokenFor(sandbox: Sandbox, patientId: string, scope: string = SMART_SCOPE): Promise<string> {
  const token = await launchAndAuthorize({
    fhirBaseUrl: sandbox.ehr.fhirBaseUrl,
    launch: sandbox.ehr.createLaunch(patientId),
    clientId: SMART_CLIENT_ID,
    redirectUri: `${sandbox.appBaseUrl}/index.html`,
    scope,
  });
  return token.access_token;
}
