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
import { generateSyntheticStudy, type TransferSyntaxName } from '../../models/synthetic';
import { createClientAuthenticator } from './auth/client-auth';
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
import { CDS_SIGNING_KEY, CdsHooksClient } from './cds-hooks/cds-client';
import { buildChartRouter, listPatientChoices } from './chart/chart-router';
import { buildFaultsRouter } from './chart/faults-page';
import { buildOrdersRouter } from './chart/orders-router';
import { DicomStore } from './dicomweb/dicom-store';
import { buildDicomWebRouter } from './dicomweb/dicomweb-router';
import { buildUpstreamDicomWebRouter, stowToUpstream } from './dicomweb/upstream-router';
import { buildCapabilityStatement } from './fhir/capability-statement';
import { FhirEngine } from './fhir/fhir-engine';
import { buildFhirRouter } from './fhir/fhir-router';
import { buildCors } from './http/cors';
import { buildErrorHandler } from './http/error-handler';
import { errorPage } from './http/errors';
import { createFaults, type FaultSwitches } from './http/faults';
import { Persistence } from './persistence';
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
  /** Base URL of the CDS services the chart calls (discovery at `{base}/cds-services`); default appBaseUrl. */
  cdsServicesBaseUrl?: string;
  /** Clock for tokens, codes and launches (tests move it to expire things). */
  now?: () => number;
  /** Access token lifetime in seconds (default 3600). */
  accessTokenTtlS?: number;
  /** Seeded studies cycle through these transfer syntaxes (needs DCMTK and GDCM); default explicit VR LE. */
  transferSyntaxes?: readonly TransferSyntaxName[];
  /**
   * A real PACS's DICOMweb root (DICOMWEB_URL). The seeded studies are stored there with STOW-RS, and the EHR's
   * `/dicom-web` forwards to it after its own token and patient checks. Default: the built-in store.
   */
  dicomWebUpstreamUrl?: string;
  /** Save FHIR resources and stored instances under dataDir and restore them at start (default false). */
  persist?: boolean;
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
  /** Fault injection switches (expired token, FHIR 503, slow DICOMweb). */
  faults: FaultSwitches;
  /** Where the CDS Hooks client's public key is published (trust it in the app's CDS_CLIENTS_FILE). */
  cdsJwksUrl: string;
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
    const now = options.now ?? Date.now;
    const signingKey = await loadOrCreateSigningKey(options.dataDir, logger);
    const cdsKey = await loadOrCreateSigningKey(options.dataDir, logger, CDS_SIGNING_KEY);
    const clients = await loadClients(options.clientsFile ?? DEFAULT_CLIENTS_FILE, appBaseUrl);
    const grants = new GrantStore(now);
    const tokens = new TokenIssuer({
      key: signingKey,
      issuer: fhirBaseUrl,
      fhirBaseUrl,
      now,
      ...(options.accessTokenTtlS !== undefined ? { accessTokenTtlS: options.accessTokenTtlS } : {}),
    });
    const faults = createFaults();
    const cdsJwksUrl = `${url}/cds-hooks/jwks.json`;
    const cdsClient = new CdsHooksClient({ issuer: url, key: cdsKey, jwksUrl: cdsJwksUrl, now });
    const engine = new FhirEngine();
    const dicomStore = new DicomStore();
    const seed = await seedChart({
      engine,
      store: dicomStore,
      dicomWebUrl,
      patientCount: options.patientCount ?? 6,
      generate: options.generateStudy ?? generateSyntheticStudy,
      ...(options.transferSyntaxes ? { transferSyntaxes: options.transferSyntaxes } : {}),
      onTranscodeFailure: (syntax, error) => {
        logger.warn({ syntax }, `seed study kept in explicit VR little endian: ${error.message}`);
      },
    });
    if (options.dicomWebUpstreamUrl !== undefined) {
      for (const study of dicomStore.listStudies()) {
        const parts = [...study.series.values()].flatMap((series) =>
          [...series.instances.values()].map((i) => i.part10),
        );
        await stowToUpstream(options.dicomWebUpstreamUrl, parts);
      }
    }
    const persistence = options.persist ? new Persistence(options.dataDir, engine, dicomStore, logger) : undefined;
    await persistence?.restore();

    const smartUrls: SmartConfigurationUrls = {
      issuer: fhirBaseUrl,
      fhirBaseUrl,
      authorizationEndpoint: `${url}/oauth/authorize`,
      tokenEndpoint: `${url}/oauth/token`,
      jwksUri: `${url}/oauth/jwks`,
      introspectionEndpoint: `${url}/oauth/introspect`,
      revocationEndpoint: `${url}/oauth/revoke`,
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
        // frame-src: the chart embeds the app in an iframe ("Open in the chart"), as EHRs do.
        contentSecurityPolicy: {
          directives: { upgradeInsecureRequests: null, frameSrc: ["'self'", new URL(appBaseUrl).origin] },
        },
      }),
    );
    if (persistence) {
      app.use((req, res, next) => {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.on('finish', () => {
            if (res.statusCode < 400) persistence.scheduleSave();
          });
        }
        next();
      });
    }
    const cors = buildCors([new URL(appBaseUrl).origin]);
    app.use(
      '/oauth',
      cors,
      buildOAuthRouter({
        clients,
        clientAuth: createClientAuthenticator({ clients, tokenEndpoint: smartUrls.tokenEndpoint, now }),
        grants,
        tokens,
        signingKey,
        fhirBaseUrl,
        practitionerId: seed.practitionerId,
        listPatients: () => listPatientChoices(engine),
        smartStyleUrl: `${url}/smart-style.json`,
        logger,
      }),
    );
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
          introspectUrl: smartUrls.introspectionEndpoint,
          revokeUrl: smartUrls.revocationEndpoint,
        }),
        smartConfiguration: buildSmartConfiguration(smartUrls, scopesSupported),
        openIdConfiguration: buildOpenIdConfiguration(smartUrls),
        faults,
      }),
    );
    const patientMrn = async (patientId: string) =>
      (await listPatientChoices(engine)).find((p) => p.id === patientId)?.mrn;
    app.use(
      '/dicom-web',
      cors,
      options.dicomWebUpstreamUrl !== undefined
        ? buildUpstreamDicomWebRouter({
            upstreamUrl: options.dicomWebUpstreamUrl,
            dicomWebUrl,
            tokens,
            faults,
            patientMrn,
          })
        : buildDicomWebRouter({
            store: dicomStore,
            tokens,
            dicomWebUrl,
            faults,
            patientMrn,
            ...(persistence ? { onStored: (instance) => persistence.saveInstance(instance) } : {}),
          }),
    );
    app.get('/cds-hooks/jwks.json', (_req, res) => {
      // CDS Hooks 2.0 §Trusting CDS Clients: the services fetch our public key from here (jku / configured).
      res.json({ keys: [cdsKey.publicJwk] });
    });
    app.use('/faults', buildFaultsRouter(faults));
    app.get('/smart-style.json', cors, (_req, res) => {
      // SMART App Launch 2.x "Styling" (capability context-style): the chart's colours for apps that match them.
      res.json({
        color_background: '#f4f6f9',
        color_error: '#a02020',
        color_highlight: '#0b5cad',
        color_modal_backdrop: '',
        color_success: '#1e7a3c',
        color_text: '#1d2733',
        dim_border_radius: '4px',
        dim_font_size: '15px',
        dim_spacing_size: '16px',
        font_family_body: 'system-ui, sans-serif',
        font_family_heading: 'system-ui, sans-serif',
      });
    });
    app.use(
      '/',
      buildOrdersRouter({
        engine,
        tokens,
        cds: cdsClient,
        cdsServicesBaseUrl: (options.cdsServicesBaseUrl ?? appBaseUrl).replace(/\/+$/, ''),
        cdsClientId: 'ldh-cds',
        fhirBaseUrl,
        practitionerId: seed.practitionerId,
        createLaunch: (context) => grants.createLaunch(context),
        logger,
      }),
    );
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
      faults,
      cdsJwksUrl,
      createLaunch,
      close: async () => {
        await closeServer(server);
        await persistence?.flush();
      },
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
