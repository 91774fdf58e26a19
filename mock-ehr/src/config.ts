/**
 * Mock EHR configuration, read from the environment once and validated at start (one line per key):
 * - EHR_PORT           TCP port to listen on (default 4000; 0 = any free port)
 * - EHR_HOST           interface to bind (default 127.0.0.1)
 * - EHR_BASE_URL       public base URL of the mock EHR (default http://localhost:<EHR_PORT>)
 * - APP_BASE_URL       base URL of the ldh-cds app, for launch links, redirect URIs and CORS (default http://localhost:3000)
 * - MOCK_EHR_DATA_DIR  where the token signing key is kept (default mock-ehr/.data, git-ignored)
 * - MOCK_EHR_PATIENTS  number of synthetic patients to seed (default 6)
 * - MOCK_EHR_CLIENTS_FILE  SMART client registrations (default smart-config/clients.json)
 * - MOCK_EHR_PERSIST   true: keep FHIR resources and STOW-RS instances in MOCK_EHR_DATA_DIR across restarts
 *                      (default false: every start is a fresh synthetic chart)
 * - DICOMWEB_URL       a real PACS's DICOMweb root (e.g. Orthanc http://127.0.0.1:8042/dicom-web): seeded studies are
 *                      stored there and /dicom-web forwards to it (default: the built-in in-memory store)
 * - MOCK_EHR_TRANSFER_SYNTAXES  comma-separated syntaxes the seeded studies cycle through (names of
 *                      models/synthetic TRANSFER_SYNTAXES, e.g. explicit-le,jpeg-ls,rle,jpeg2000; needs DCMTK and GDCM;
 *                      default: a mix of six; "explicit-le" alone skips transcoding)
 * - CDS_SERVICES_URL   base of the CDS Hooks services the chart calls, discovery at {base}/cds-services
 *                      (default APP_BASE_URL)
 * - MOCK_EHR_DEV_TOOLS  true: the development tools work — /faults and the demo sign-in of the standalone launch —
 *                      and the chart says so in a banner (default false: both answer 403; npm start sets true)
 * - LOG_LEVEL          pino level (default info)
 */
import { z } from 'zod';
import { isTransferSyntaxName, type TransferSyntaxName } from '../../models/synthetic';

/**
 * The sandbox serves its studies in a mix of transfer syntaxes, as a real PACS does (docs/architecture.md §The mock
 * EHR).
 */
const DEFAULT_SEED_SYNTAXES: TransferSyntaxName[] = [
  'explicit-le',
  'jpeg-ls',
  'rle',
  'jpeg2000',
  'implicit-le',
  'jpeg-lossless',
];

const url = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/+$/, ''));

const envSchema = z.object({
  EHR_PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
  EHR_HOST: z.string().min(1).default('127.0.0.1'),
  EHR_BASE_URL: url.optional(),
  APP_BASE_URL: url.default('http://localhost:3000'),
  MOCK_EHR_DATA_DIR: z.string().min(1).default('mock-ehr/.data'),
  MOCK_EHR_PATIENTS: z.coerce.number().int().min(1).max(100).default(6),
  MOCK_EHR_CLIENTS_FILE: z.string().min(1).optional(),
  CDS_SERVICES_URL: url.optional(),
  DICOMWEB_URL: url.optional(),
  MOCK_EHR_TRANSFER_SYNTAXES: z
    .string()
    .default(DEFAULT_SEED_SYNTAXES.join(','))
    .transform((value) =>
      value
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.string().refine(isTransferSyntaxName, { error: 'unknown transfer syntax name' }))
        .min(1)
        .transform((names) => names.filter(isTransferSyntaxName)),
    ),
  MOCK_EHR_PERSIST: z.enum(['true', 'false', '1', '0']).default('false'),
  MOCK_EHR_DEV_TOOLS: z.enum(['true', 'false', '1', '0']).default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface MockEhrConfig {
  port: number;
  host: string;
  /** Undefined: derived from the port actually bound (http://localhost:<port>). */
  publicBaseUrl: string | undefined;
  appBaseUrl: string;
  dataDir: string;
  patientCount: number;
  clientsFile: string | undefined;
  cdsServicesBaseUrl: string | undefined;
  persist: boolean;
  /** /faults and the demo sign-in work (MOCK_EHR_DEV_TOOLS). */
  devTools: boolean;
  dicomWebUpstreamUrl: string | undefined;
  transferSyntaxes: TransferSyntaxName[];
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): MockEhrConfig {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')));
  if (!parsed.success) throw new Error(`Invalid mock EHR configuration:\n${z.prettifyError(parsed.error)}`);
  const values = parsed.data;
  return {
    port: values.EHR_PORT,
    host: values.EHR_HOST,
    publicBaseUrl: values.EHR_BASE_URL,
    appBaseUrl: values.APP_BASE_URL,
    dataDir: values.MOCK_EHR_DATA_DIR,
    patientCount: values.MOCK_EHR_PATIENTS,
    clientsFile: values.MOCK_EHR_CLIENTS_FILE,
    cdsServicesBaseUrl: values.CDS_SERVICES_URL,
    dicomWebUpstreamUrl: values.DICOMWEB_URL,
    transferSyntaxes: values.MOCK_EHR_TRANSFER_SYNTAXES,
    persist: values.MOCK_EHR_PERSIST === 'true' || values.MOCK_EHR_PERSIST === '1',
    devTools: values.MOCK_EHR_DEV_TOOLS === 'true' || values.MOCK_EHR_DEV_TOOLS === '1',
    logLevel: values.LOG_LEVEL,
  };
}
