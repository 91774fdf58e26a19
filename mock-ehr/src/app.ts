/**
 * The mock EHR: wires the SMART authorization server, the FHIR R4 server, the DICOMweb store and the chart UI.
 * It only wires; each protocol lives in its own folder (auth/, fhir/, dicomweb/, chart/).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import helmet from 'helmet';
import { pino, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { generatePhantomStudy } from '../../models/synthetic';
import { DEFAULT_CLIENTS_FILE, loadClients } from './auth/clients';
import { GrantStore } from './auth/grant-store';
import { buildOAuthRouter } from './auth/oauth-router';
import { splitScopes } from './auth/scopes';
import { loadOrCreateSigningKey } from './auth/signing-key';
import {
  buildOpenIdConfiguration,
  buildSmartConfiguration,
  type SmartConfigurationUrls,
} from './auth/smart-configuration';
import { TokenIssuer } from './auth/tokens';
import { buildChartRouter } from './chart/chart-router';
import { DicomStore } from './dicomweb/dicom-store';
import { buildDicomWebRouter } from './dicomweb/dicomweb-router';
import { buildCapabilityStatement } from './fhir/capability-statement';
import { FhirEngine } from './fhir/fhir-engine';
import { buildFhirRouter } from './fhir/fhir-router';
import { buildCors } from './http/cors';
import { buildErrorHandler } from './http/error-handler';
import { errorPage } from './http/errors';
import { seedChart, type SeedResult, type StudyGenerator } from './seed/seed';

export interface MockEhrOptions {
  /** 0 = any free port. */
  port: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Public base URL; default `http://<host>:<bound port>`. */
  publicBaseUrl?: string;
  /** The ldh-cds app, e.g. http://localhost:3000: launch links, redirect URIs, CORS origin. */
  appBaseUrl: string;
  /** Where the signing key is kept. */
  dataDir: string;
  /** Synthetic patients to seed; default 6. */
  patientCount?: number;
  /** SMART client registrations; default smart-config/clients.json. */
  clientsFile?: string;
  logger?: Logger;
  /** Replaces models/synthetic's generator (tests with custom studies). */
  generateStudy?: StudyGenerator;
}

export interface MockEhr {
  /** Base URL of the EHR (chart UI at `/`). */
  url: string;
  fhirBaseUrl: string;
  dicomWebUrl: string;
  /** What was seeded (ids, MRNs, UIDs), for tests. */
  seed: SeedResult;
  /** The in-memory FHIR repository, for tests. */
  repo: FhirEngine['repo'];
  dicomStore: DicomStore;
  grants: GrantStore;
  /** Registers an EHR launch (as opening a chart does) and returns its launch id. */
  createLaunch(patientId: string): string;
  close(): Promise<void>;
}

export async function startMockEhr(options: MockEhrOptions): Promise<MockEhr> {
  const logger = options.logger ?? pino({ name: 'mock-ehr' });
  const host = options.host ?? '127.0.0.1';
  const server = createServer();
  const port = await listen(server, options.port, host);

  const url = (options.publicBaseUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(
    /\/+$/,
    '',
  );
  const fhirBaseUrl = `${url}/fhir`;
  const dicomWebUrl = `${url}/dicom-web`;
  const appBaseUrl = options.appBaseUrl.replace(/\/+$/, '');

  try {
    const signingKey = await loadOrCreateSigningKey(options.dataDir, logger);
    const clients = await loadClients(options.clientsFile ?? DEFAULT_CLIENTS_FILE, appBaseUrl);
    const grants = new GrantStore();
    const tokens = new TokenIssuer({ key: signingKey, issuer: fhirBaseUrl, fhirBaseUrl });
    const engine = new FhirEngine();
    const dicomStore = new DicomStore();
    const seed = await seedChart({
      engine,
      store: dicomStore,
      dicomWebUrl,
      patientCount: options.patientCount ?? 6,
      generate: options.generateStudy ?? generatePhantomStudy,
    });

    const smartUrls: SmartConfigurationUrls = {
      issuer: fhirBaseUrl,
      fhirBaseUrl,
      authorizationEndpoint: `${url}/oauth/authorize`,
      tokenEndpoint: `${url}/oauth/token`,
      jwksUri: `${url}/oauth/jwks`,
      dicomWebUrl,
    };
    const scopesSupported = [...new Set([...clients.values()].flatMap((client) => [...client.allowedScopes]))];
    const createLaunch = (patientId: string): string =>
      grants.createLaunch({ patientId, practitionerId: seed.practitionerId });

    const app = express();
    app.disable('x-powered-by');
    app.set('trust proxy', false);
    app.use(
      pinoHttp({
        logger,
        autoLogging: { ignore: (req) => req.url === '/favicon.ico' },
        // Method, path and status only: query strings carry patient ids and launch codes, headers carry tokens.
        serializers: {
          req: (req: IncomingMessage & { id?: unknown }) => ({
            id: req.id,
            method: req.method,
            path: (req.url ?? '').split('?')[0],
          }),
          res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
        },
      }),
    );
    // Cross-origin-resource-policy is relaxed: the app at another origin reads FHIR and DICOMweb with CORS.
    // The sandbox runs on plain http://localhost: no HSTS and no upgrade-insecure-requests (it would break launch links).
    app.use(
      helmet({
        crossOriginResourcePolicy: { policy: 'cross-origin' },
        strictTransportSecurity: false,
        contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
      }),
    );
    const cors = buildCors([new URL(appBaseUrl).origin]);
    app.use('/oauth', cors, buildOAuthRouter({ clients, grants, tokens, signingKey, fhirBaseUrl, logger }));
    app.use(
      '/fhir',
      cors,
      buildFhirRouter({
        engine,
        tokens,
        fhirBaseUrl,
        capabilityStatement: buildCapabilityStatement({
          fhirBaseUrl,
          authorizeUrl: smartUrls.authorizationEndpoint,
          tokenUrl: smartUrls.tokenEndpoint,
        }),
        smartConfiguration: buildSmartConfiguration(smartUrls, scopesSupported),
        openIdConfiguration: buildOpenIdConfiguration(smartUrls),
      }),
    );
    app.use('/dicom-web', cors, buildDicomWebRouter({ store: dicomStore, tokens, dicomWebUrl }));
    app.use(
      '/',
      buildChartRouter({
        engine,
        fhirBaseUrl,
        appBaseUrl,
        practitionerId: seed.practitionerId,
        createLaunch: (context) => grants.createLaunch(context),
      }),
    );
    app.use(() => {
      throw errorPage(404, 'Not found', 'There is no page at this address.');
    });
    app.use(buildErrorHandler(logger));
    server.on('request', app);

    logger.info(
      {
        url,
        fhirBaseUrl,
        dicomWebUrl,
        patients: seed.patients.length,
        scopes: splitScopes(scopesSupported.join(' ')).length,
      },
      'mock EHR started',
    );
    return {
      url,
      fhirBaseUrl,
      dicomWebUrl,
      seed,
      repo: engine.repo,
      dicomStore,
      grants,
      createLaunch,
      close: () => closeServer(server),
    };
  } catch (error) {
    await closeServer(server);
    throw error;
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((error) => {
      if (error) reject(error);
      else resolve();
    });
    server.closeAllConnections();
  });
}
