/**
 * The mock EHR's stateful parts, before anything is seeded or routed: the two signing keys (kept in dataDir, so tokens
 * and CDS JWTs stay valid across restarts), the SMART client registrations, the grant and token stores, the fault
 * switches, the CDS Hooks client, and the empty FHIR repository and DICOM store.
 */
import type { Logger } from 'pino';
import { DEFAULT_CLIENTS_FILE, loadClients, type ClientRegistry } from './auth/clients';
import { GrantStore } from './auth/grant-store';
import { loadOrCreateSigningKey, type SigningKey } from './auth/signing-key';
import { TokenIssuer } from './auth/tokens';
import { CDS_SIGNING_KEY, CdsHooksClient } from './cds-hooks/cds-client';
import { DicomStore } from './dicomweb/dicom-store';
import { FhirEngine } from './fhir/fhir-engine';
import { createFaults, type FaultSwitches } from './http/faults';
import type { PublicUrls } from './public-urls';

export interface EhrServiceOptions {
  /** Where the signing keys are kept. */
  dataDir: string;
  /** SMART client registrations; default smart-config/clients.json. */
  clientsFile?: string | undefined;
  /** Clock for tokens, codes and launches. */
  now?: (() => number) | undefined;
  /** Access token lifetime in seconds (default 3600). */
  accessTokenTtlS?: number | undefined;
}

export interface EhrServices {
  now: () => number;
  /** Signs access and id tokens; published at `/oauth/jwks`. */
  signingKey: SigningKey;
  /** Signs the CDS Hooks client's JWTs; published at `/cds-hooks/jwks.json`. */
  cdsKey: SigningKey;
  clients: ClientRegistry;
  /** Every scope some registered client may ask for (the smart-configuration's scopes_supported). */
  scopesSupported: string[];
  grants: GrantStore;
  tokens: TokenIssuer;
  faults: FaultSwitches;
  cdsClient: CdsHooksClient;
  engine: FhirEngine;
  dicomStore: DicomStore;
}

export async function createEhrServices(
  options: EhrServiceOptions,
  urls: PublicUrls,
  logger: Logger,
): Promise<EhrServices> {
  const now = options.now ?? Date.now;
  const signingKey = await loadOrCreateSigningKey(options.dataDir, logger);
  const cdsKey = await loadOrCreateSigningKey(options.dataDir, logger, CDS_SIGNING_KEY);
  const clients = await loadClients(options.clientsFile ?? DEFAULT_CLIENTS_FILE, urls.appBaseUrl);
  const tokens = new TokenIssuer({
    key: signingKey,
    issuer: urls.fhirBaseUrl,
    fhirBaseUrl: urls.fhirBaseUrl,
    now,
    ...(options.accessTokenTtlS !== undefined ? { accessTokenTtlS: options.accessTokenTtlS } : {}),
  });
  return {
    now,
    signingKey,
    cdsKey,
    clients,
    scopesSupported: [...new Set([...clients.values()].flatMap((client) => [...client.allowedScopes]))],
    grants: new GrantStore(now),
    tokens,
    faults: createFaults(),
    cdsClient: new CdsHooksClient({ issuer: urls.url, key: cdsKey, jwksUrl: urls.cdsJwksUrl, now }),
    // The only place a rest-hook Subscription may notify: the app this EHR serves.
    engine: new FhirEngine({ subscriptionOrigins: [new URL(urls.appBaseUrl).origin] }),
    dicomStore: new DicomStore(),
  };
}
