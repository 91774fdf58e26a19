/**
 * The mock EHR: wires the SMART authorization server, the FHIR R4 server, the DICOMweb store and the chart UI.
 * It only wires; each protocol lives in its own folder (auth/, fhir/, dicomweb/, chart/), the stateful parts are made
 * in ehr-services.ts, the synthetic chart in seed/, the URLs in public-urls.ts. `startMockEhr` puts them together in
 * that order and listens (port 0 allowed), for main.ts and for tests.
 */
import { createServer } from 'node:http';
import express, { type Express, type Router } from 'express';
import { pino, type Logger } from 'pino';
import { generateSyntheticStudy, type TransferSyntaxName } from '../../models/synthetic';
import { silenceDcmjsPixelDataVrNotice } from '../../server/src/dicom/dcmjs-log';
import { withLogRedaction } from '../../server/src/http/log-serializers';
import { createClientAuthenticator } from './auth/client-auth';
import type { GrantStore } from './auth/grant-store';
import { buildOAuthRouter } from './auth/oauth-router';
import { splitScopes } from './auth/scopes';
import { buildOpenIdConfiguration, buildSmartConfiguration } from './auth/smart-configuration';
import { buildChartRouter, listPatientChoices } from './chart/chart-router';
import { buildFaultsRouter } from './chart/faults-page';
import { buildOrderEntry } from './chart/orders-router';
import { CHART_SMART_STYLE } from './chart/smart-style';
import type { DicomStore } from './dicomweb/dicom-store';
import { buildDicomWebRouter } from './dicomweb/dicomweb-router';
import { buildUpstreamDicomWebRouter, stowToUpstream } from './dicomweb/upstream-router';
import { createEhrServices, type EhrServices } from './ehr-services';
import { buildCapabilityStatement } from './fhir/capability-statement';
import type { FhirEngine } from './fhir/fhir-engine';
import { buildFhirRouter } from './fhir/fhir-router';
import { startSubscriptionDelivery } from './fhir/subscriptions';
import { buildCors } from './http/cors';
import { buildErrorHandler } from './http/error-handler';
import { requireDevTools } from './http/dev-tools';
import { errorPage } from './http/errors';
import type { FaultSwitches } from './http/faults';
import { closeServer, listen } from './http/listen';
import { saveAfterWrites } from './http/save-after-writes';
import { requestLogger, securityHeaders } from './http/security';
import { Persistence } from './persistence';
import { buildPublicUrls, type PublicUrls } from './public-urls';
import { seedAtStart } from './seed/seed-at-start';
import { seedPatient, type SeededPatient, type SeedResult, type StudyGenerator } from './seed/seed';

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
  /**
   * The development tools — `/faults` and the demo sign-in of the standalone launch — work (default false: 403 with
   * a sentence); the chart then says so in a banner (MOCK_EHR_DEV_TOOLS, http/dev-tools.ts).
   */
  devTools?: boolean;
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
  /**
   * A new synthetic patient whose lumbar MRI arrives now, as a modality and the RIS would add it: the images in the
   * DICOMweb store (and the real PACS, with DICOMWEB_URL), then the Patient and the ImagingStudy (tests of analyze on
   * arrival). Patients are numbered on from the seeded ones.
   */
  admitPatient(): Promise<SeededPatient>;
  /** Every access token issued so far is refused from now on as expired (401), before its `exp`. */
  expireAccessTokens(): void;
  close(): Promise<void>;
}

export async function startMockEhr(options: MockEhrOptions): Promise<MockEhr> {
  const logger = withLogRedaction(options.logger ?? pino({ name: 'mock-ehr' }));
  const host = options.host ?? '127.0.0.1';
  // dcmjs would print a spurious error for every Implicit VR Little Endian instance seeded or stored
  // (server/src/dicom/dcmjs-log.ts).
  silenceDcmjsPixelDataVrNotice();
  // Listen first: the URLs in tokens and discovery documents need the bound port when port 0 was asked for.
  const server = createServer();
  const port = await listen(server, options.port, host);
  const urls = buildPublicUrls({
    publicBaseUrl: options.publicBaseUrl,
    host,
    port,
    appBaseUrl: options.appBaseUrl,
    cdsServicesBaseUrl: options.cdsServicesBaseUrl,
  });
  try {
    const services = await createEhrServices(options, urls, logger);
    const seed = await seedAtStart({
      engine: services.engine,
      dicomStore: services.dicomStore,
      dicomWebUrl: urls.dicomWebUrl,
      patientCount: options.patientCount ?? 6,
      generate: options.generateStudy ?? generateSyntheticStudy,
      transferSyntaxes: options.transferSyntaxes,
      dicomWebUpstreamUrl: options.dicomWebUpstreamUrl,
      logger,
    });
    // The saved state is laid over the fresh seed, so it is restored after seeding.
    const persistence = options.persist
      ? new Persistence(options.dataDir, services.engine, services.dicomStore, logger)
      : undefined;
    await persistence?.restore();
    // FHIR R4 rest-hook Subscriptions: a write that matches an active one is announced to its endpoint (the app).
    const delivery = startSubscriptionDelivery(services.engine.repo, { logger });
    const { dicomWebUpstreamUrl } = options;
    let admittedCount = 0;
    const devTools = options.devTools === true;
    server.on('request', buildMockEhrApp({ urls, services, seed, persistence, dicomWebUpstreamUrl, logger, devTools }));
    if (devTools)
      logger.warn(
        { faults: `${urls.url}/faults` },
        'development tools enabled: fault injection and the demo sign-in need no credentials; never expose this EHR',
      );
    logger.info(
      {
        url: urls.url,
        fhirBaseUrl: urls.fhirBaseUrl,
        dicomWebUrl: urls.dicomWebUrl,
        patients: seed.patients.length,
        scopes: splitScopes(services.scopesSupported.join(' ')).length,
      },
      'mock EHR started',
    );
    return {
      url: urls.url,
      fhirBaseUrl: urls.fhirBaseUrl,
      dicomWebUrl: urls.dicomWebUrl,
      seed,
      repo: services.engine.repo,
      dicomStore: services.dicomStore,
      grants: services.grants,
      faults: services.faults,
      cdsJwksUrl: urls.cdsJwksUrl,
      createLaunch: (patientId) => services.grants.createLaunch({ patientId, practitionerId: seed.practitionerId }),
      admitPatient: async () => {
        const before = new Set(services.dicomStore.listStudies().map((study) => study.studyInstanceUid));
        const admitted = await seedPatient(
          {
            engine: services.engine,
            store: services.dicomStore,
            generate: options.generateStudy ?? generateSyntheticStudy,
          },
          seed.patients.length + admittedCount++,
        );
        if (options.dicomWebUpstreamUrl !== undefined) {
          const study = services.dicomStore.listStudies().find((s) => !before.has(s.studyInstanceUid));
          const parts = [...(study?.series.values() ?? [])].flatMap((series) =>
            [...series.instances.values()].map((instance) => instance.part10),
          );
          await stowToUpstream(options.dicomWebUpstreamUrl, parts);
        }
        return admitted;
      },
      expireAccessTokens: () => {
        services.tokens.expireIssuedTokens();
      },
      close: async () => {
        delivery.close();
        await closeServer(server);
        await persistence?.flush();
      },
    };
  } catch (error) {
    await closeServer(server);
    throw error;
  }
}

export interface MockEhrParts {
  urls: PublicUrls;
  services: EhrServices;
  seed: SeedResult;
  persistence: Persistence | undefined;
  /** A real PACS's DICOMweb root; undefined: the built-in store. */
  dicomWebUpstreamUrl: string | undefined;
  logger: Logger;
  /** `/faults` and the demo sign-in work, and the chart says so (http/dev-tools.ts). */
  devTools: boolean;
}

/** The Express app: middleware, then one mount per protocol, then the 404 and the one error handler. */
export function buildMockEhrApp(parts: MockEhrParts): Express {
  const { urls, services, seed, persistence, logger, devTools } = parts;
  const { engine, grants, tokens, faults, clients, now } = services;
  const cors = buildCors([new URL(urls.appBaseUrl).origin]);
  const createLaunch = grants.createLaunch.bind(grants);

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestLogger(logger));
  app.use(securityHeaders(urls.appBaseUrl));
  if (persistence) app.use(saveAfterWrites(persistence));
  app.use(
    '/oauth',
    cors,
    buildOAuthRouter({
      clients,
      clientAuth: createClientAuthenticator({ clients, tokenEndpoint: urls.smart.tokenEndpoint, now }),
      grants,
      tokens,
      signingKey: services.signingKey,
      fhirBaseUrl: urls.fhirBaseUrl,
      practitionerId: seed.practitionerId,
      listPatients: () => listPatientChoices(engine),
      smartStyleUrl: urls.smartStyleUrl,
      logger,
      devTools,
    }),
  );
  app.use(
    '/fhir',
    cors,
    buildFhirRouter({
      engine,
      tokens,
      fhirBaseUrl: urls.fhirBaseUrl,
      capabilityStatement: buildCapabilityStatement({
        fhirBaseUrl: urls.fhirBaseUrl,
        authorizeUrl: urls.smart.authorizationEndpoint,
        tokenUrl: urls.smart.tokenEndpoint,
        introspectUrl: urls.smart.introspectionEndpoint,
        revokeUrl: urls.smart.revocationEndpoint,
      }),
      smartConfiguration: buildSmartConfiguration(urls.smart, services.scopesSupported, { standaloneLaunch: devTools }),
      openIdConfiguration: buildOpenIdConfiguration(urls.smart),
      faults,
    }),
  );
  app.use('/dicom-web', cors, dicomWebRouter(parts));
  app.get('/cds-hooks/jwks.json', (_req, res) => {
    // CDS Hooks 2.0 §Trusting CDS Clients: the services fetch our public key from here (jku / configured).
    res.json({ keys: [services.cdsKey.publicJwk] });
  });
  app.use('/faults', requireDevTools(devTools, 'Fault injection'), buildFaultsRouter(faults));
  app.get('/smart-style.json', cors, (_req, res) => {
    res.json(CHART_SMART_STYLE);
  });
  const orderEntry = buildOrderEntry({
    engine,
    tokens,
    cds: services.cdsClient,
    cdsServicesBaseUrl: urls.cdsServicesBaseUrl,
    cdsClientId: 'ldh-cds',
    fhirBaseUrl: urls.fhirBaseUrl,
    practitionerId: seed.practitionerId,
    createLaunch,
    logger,
    now,
  });
  app.use('/', orderEntry.router);
  app.use(
    '/',
    buildChartRouter({
      engine,
      fhirBaseUrl: urls.fhirBaseUrl,
      appBaseUrl: urls.appBaseUrl,
      practitionerId: seed.practitionerId,
      createLaunch,
      devTools,
      patientViewCards: (patientId, visitId) => orderEntry.patientViewCards(patientId, visitId),
    }),
  );
  app.use(() => {
    throw errorPage(404, 'Not found', 'There is no page at this address.');
  });
  app.use(buildErrorHandler(logger));
  return app;
}

/** The built-in store, or a proxy to the real PACS; either way the EHR checks the token and the patient first. */
function dicomWebRouter({ urls, services, persistence, dicomWebUpstreamUrl }: MockEhrParts): Router {
  const { engine, tokens, faults } = services;
  const patientMrn = async (patientId: string) =>
    (await listPatientChoices(engine)).find((p) => p.id === patientId)?.mrn;
  if (dicomWebUpstreamUrl !== undefined) {
    return buildUpstreamDicomWebRouter({
      upstreamUrl: dicomWebUpstreamUrl,
      dicomWebUrl: urls.dicomWebUrl,
      tokens,
      faults,
      patientMrn,
    });
  }
  return buildDicomWebRouter({
    store: services.dicomStore,
    tokens,
    dicomWebUrl: urls.dicomWebUrl,
    faults,
    patientMrn,
    ...(persistence ? { onStored: (instance) => persistence.saveInstance(instance) } : {}),
  });
}
