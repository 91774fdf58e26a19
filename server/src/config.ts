/**
 * The app server's configuration: one zod schema, read from the environment once at start and validated
 * there, so a bad value stops the server with a message naming the key instead of failing mid-request.
 */
import { z } from 'zod';
import { ARRIVAL_MODES, type ArrivalMode } from './arrival/arrival-mode';
import { defaultDecodeThreads } from './dicom/decode-pool';
import { FRAMES_PER_INSTANCE_CEILING, STUDY_LIMITS, type StudyLimitName } from './dicom/study-limits';
import { EXECUTION_PROVIDERS } from './inference/execution-provider';
import { DEFAULT_BACKEND_SCOPES } from './http/backend-services';
import { INTROSPECTION_AUTH_METHODS, TOKEN_VERIFICATION_METHODS } from './http/token-verifier';
import { readTrustedEhrsFile, systemScopes, trustedEhrOf, withSimpleFhirBases, type TrustedEhr } from './trusted-ehrs';

/** Every key with its default and meaning — the README's configuration table is generated from this list. */
export const CONFIG_KEYS = [
  { key: 'APP_PORT', default: '3000', description: 'TCP port of the app server (0 = any free port).' },
  { key: 'APP_HOST', default: '127.0.0.1', description: 'Interface to listen on.' },
  {
    key: 'APP_BASE_URL',
    default: 'http://localhost:3000',
    description: 'Public base URL of the app (CDS Hooks `aud`, card links, SMART launch URL).',
  },
  {
    key: 'EHRS_FILE',
    default: 'smart-config/ehrs.json',
    description:
      "Trusted EHRs (`smart-config/README.md`): each FHIR base `X-FHIR-Server` may name, with the origins of its DICOMweb servers, the only ones its users' tokens go to. Read when set, or when `FHIR_BASE_URLS` is not.",
  },
  {
    key: 'FHIR_BASE_URLS',
    default: '',
    description:
      'More trusted FHIR bases, comma-separated, each with its DICOMweb on its own origin (the short form of `EHRS_FILE`).',
  },
  {
    key: 'MODEL_DIR',
    default: 'models/msu-ldh/1.8.0',
    description: 'Folder with `manifest.json` and the ONNX model.',
  },
  { key: 'CLIENT_DIST_DIR', default: 'client/dist', description: 'Built SMART client served at `/`.' },
  {
    key: 'CDS_CLIENTS_FILE',
    default: 'smart-config/cds-clients.json',
    description: 'Trusted CDS Hooks clients (issuers with `jwks_uri` or inline `jwks`).',
  },
  {
    key: 'CDS_CODES_FILE',
    default: 'smart-config/cds-referral-codes.json',
    description:
      'The orders the CDS services speak at (`smart-config/README.md`): referral codes where lumbar MRI findings matter, lumbar MRI order codes, lumbar spine body sites, with their code systems; how recent an MRI must be for an MRI order to be told of it. Checked at start.',
  },
  {
    key: 'CDS_FEEDBACK_FILE',
    default: 'server/.data/cds-feedback.jsonl',
    description:
      'Where CDS Hooks feedback (accepted, overridden and why) is kept, one JSON line per item, flushed to disk before the feedback call is answered; counted at `GET /cds-services/feedback/summary`.',
  },
  {
    key: 'CDS_RECORD_CACHE_SECONDS',
    default: '5',
    description:
      'How long a patient record a CDS Hooks call read from the EHR with `fhirAuthorization` (studies, reports, Observations) answers later calls of the same EHR for that patient; dropped at once when this process writes to that EHR. A change made elsewhere shows this much later at most. 0 = every call reads the EHR.',
  },
  {
    key: 'CDS_REPLAY_CACHE_MAX',
    default: '100000',
    description:
      'Without `REDIS_URL`: most CDS Hooks JWT ids (`jti`) remembered at once, each until its token could no longer be accepted (5½ minutes at most), so that a replayed call is refused. None is forgotten early: when all are still unexpired, a new call is answered 503 with `Retry-After` ([docs/security.md](docs/security.md#cds-hooks-jwts-age-and-replay)).',
  },
  { key: 'LOG_LEVEL', default: 'info', description: 'pino level: fatal, error, warn, info, debug, trace or silent.' },
  {
    key: 'METRICS_PORT',
    default: '',
    description:
      "TCP port of the API process's Prometheus metrics (`GET /metrics`), a listener of its own, never the app's port; unset, none (0 = any free port). Open it to the monitoring network only ([docs/deploy.md](docs/deploy.md#what-to-monitor-and-alert-on)).",
  },
  {
    key: 'WORKER_METRICS_PORT',
    default: '',
    description:
      "TCP port of a worker process's (`npm run worker`) Prometheus metrics; unset, none. One port per worker on a host (9470, 9471, …).",
  },
  {
    key: 'METRICS_HOST',
    default: '127.0.0.1',
    description: "Interface the metrics listeners listen on: the host's address on the monitoring network.",
  },
  {
    key: 'METRICS_TOKEN',
    default: '',
    description:
      'When set (at least 16 characters), a metrics scrape must send `Authorization: Bearer <token>`: for a monitoring network shared with others.',
  },
  {
    key: 'INFERENCE_EP',
    default: 'auto',
    description:
      'onnxruntime execution provider: `auto` (CUDA if its provider is installed, else WebGPU if a GPU adapter can exist, else CPU), `cpu`, `webgpu` or `cuda`.',
  },
  { key: 'INFERENCE_BATCH', default: '16', description: 'Slices per inference run (dynamic-batch models).' },
  { key: 'DICOMWEB_TIMEOUT_MS', default: '30000', description: 'Timeout of one DICOMweb request, ms.' },
  { key: 'DICOMWEB_CONCURRENCY', default: '6', description: 'DICOMweb requests in flight at once per analysis.' },
  {
    key: 'DICOMWEB_RETRIES',
    default: '3',
    description: 'Retries of a DICOMweb request after 429, 5xx or a network error (exponential backoff).',
  },
  {
    key: 'DECODE_THREADS',
    default: 'auto',
    description:
      'Worker threads that decode frames (`auto` = the cores, at most 4); `0` decodes on the main thread, without the per-frame time limit.',
  },
  {
    key: 'DECODE_FRAME_TIMEOUT_MS',
    default: '20000',
    description:
      'A frame still decoding this long after a worker thread started it (time waiting in the queue does not count) is stopped (the thread is terminated) and reported.',
  },
  {
    key: 'MAX_DICOM_FILE_BYTES',
    default: String(512 * 1024 * 1024),
    description: 'Largest DICOM file the command line reads; larger files are refused.',
  },
  {
    key: 'MAX_SERIES_PER_STUDY',
    default: String(STUDY_LIMITS.seriesPerStudy.default),
    description: STUDY_LIMITS.seriesPerStudy.description,
  },
  {
    key: 'MAX_INSTANCES_PER_SERIES',
    default: String(STUDY_LIMITS.instancesPerSeries.default),
    description: STUDY_LIMITS.instancesPerSeries.description,
  },
  {
    key: 'MAX_FRAMES_PER_INSTANCE',
    default: String(STUDY_LIMITS.framesPerInstance.default),
    description: STUDY_LIMITS.framesPerInstance.description,
  },
  {
    key: 'MAX_FRAMES_PER_STUDY',
    default: String(STUDY_LIMITS.framesPerStudy.default),
    description: STUDY_LIMITS.framesPerStudy.description,
  },
  {
    key: 'MAX_PIXELS_PER_FRAME',
    default: String(STUDY_LIMITS.pixelsPerFrame.default),
    description: STUDY_LIMITS.pixelsPerFrame.description,
  },
  {
    key: 'MAX_BYTES_PER_FRAME',
    default: String(STUDY_LIMITS.bytesPerFrame.default),
    description: STUDY_LIMITS.bytesPerFrame.description,
  },
  {
    key: 'MAX_BYTES_PER_INSTANCE',
    default: String(STUDY_LIMITS.bytesPerInstance.default),
    description: STUDY_LIMITS.bytesPerInstance.description,
  },
  {
    key: 'MAX_BYTES_PER_STUDY',
    default: String(STUDY_LIMITS.bytesPerStudy.default),
    description: STUDY_LIMITS.bytesPerStudy.description,
  },
  {
    key: 'DECODE_QUEUE_DEPTH',
    default: '256',
    description:
      'Frames that may wait for a decode thread, from all requests together; beyond, the API answers 503 with Retry-After. Four analyses decode at most 4 frames each at once, so 256 is only reached by a flood of viewer requests.',
  },
  {
    key: 'INFERENCE_QUEUE_DEPTH',
    default: '2048',
    description:
      'Slices that may wait for the model, from all analyses together; beyond, 503 with Retry-After. An analysis queues its axial slices (15–60 as a rule) at once; an empty queue takes any one analysis.',
  },
  {
    key: 'MAX_CONCURRENT_ANALYSES',
    default: '4',
    description:
      'Analyses running at once on this server; more wait their turn, in order (`MAX_QUEUED_ANALYSES`). Decoding and inference share the cores: more at once only queue for them.',
  },
  {
    key: 'MAX_QUEUED_ANALYSES',
    default: '100',
    description:
      'Analyses that may wait for their turn while `MAX_CONCURRENT_ANALYSES` run; beyond, a new analysis is refused with 503 and Retry-After (0: none wait). 100 studies at 5–30 s each, four at a time, is at most about 12 minutes of waiting.',
  },
  {
    key: 'MAX_CONCURRENT_ANALYSES_PER_USER',
    default: '2',
    description:
      'Unfinished analyses (waiting or running, started or joined) of one user (the verified token’s `sub`); beyond, a new one is refused with 429 and Retry-After. A clinician analyzes one study at a time; 2 leaves room for a retry while the first still runs. Joining the analysis of a study already running is never refused.',
  },
  {
    key: 'RATE_LIMIT_WINDOW_S',
    default: '60',
    description: 'The window the request rate limits below count over, seconds.',
  },
  {
    key: 'RATE_LIMIT_API_PER_IP',
    default: '6000',
    description:
      'Requests to `/api/` per client IP address per window (429 beyond, with RateLimit headers). A hospital may put every workstation behind one address: 100 a second.',
  },
  {
    key: 'RATE_LIMIT_API_PER_TOKEN',
    default: '1200',
    description:
      "Requests to `/api/` per access token per window. The viewer fetches a level's stack four frames at a time; 20 a second lets a user page through every level.",
  },
  {
    key: 'RATE_LIMIT_CDS_PER_IP',
    default: '1200',
    description: 'CDS Hooks requests (`/cds-services`) per client IP address per window.',
  },
  {
    key: 'RATE_LIMIT_CDS_PER_CLIENT',
    default: '1200',
    description:
      "CDS Hooks requests per calling EHR (the `iss` of its JWT) per window: an EHR calls once per order selected or signed, 20 a second is far above a hospital's ordering rate.",
  },
  {
    key: 'SR_STOW',
    default: 'false',
    description:
      "`true`: each analysis also stores its DICOM SR (TID 1500) in the study's PACS by STOW-RS, with the user's token. The SR is in the EHR either way.",
  },
  {
    key: 'TOKEN_VERIFICATION',
    default: 'introspection',
    description:
      "How the user's SMART token is verified before any work, for EHRs whose `EHRS_FILE` entry sets no `tokenVerification`: `introspection` (RFC 7662 at the EHR's `introspection_endpoint`, ldh-cds authenticating with `CLIENT_KEY_FILE`) or `jwks` (the JWT access token's signature against the EHR's `jwks_uri`).",
  },
  {
    key: 'TOKEN_CACHE_SECONDS',
    default: '60',
    description:
      "How long a token's verification is trusted (never beyond its `exp`); a token revoked meanwhile works this much longer at most.",
  },
  {
    key: 'INTROSPECTION_AUTH',
    default: 'private_key_jwt',
    description:
      "How ldh-cds authenticates to an EHR's introspection endpoint, for EHRs whose `EHRS_FILE` entry sets no `introspectionAuth`: `private_key_jwt` (its own client assertion, `INTROSPECTION_CLIENT_ID` and `CLIENT_KEY_FILE`) or `user-token` (the user's token as the bearer, for EHRs that take only an app's token there, such as the SMART App Launcher).",
  },
  {
    key: 'INTROSPECTION_CLIENT_ID',
    default: 'ldh-cds-server',
    description:
      "The app server's client id at the EHR for token introspection (`private_key_jwt`), for EHRs whose `EHRS_FILE` entry sets no `introspectionClientId`.",
  },
  {
    key: 'CLIENT_KEY_FILE',
    default: 'server/.data/client-key.private.jwk.json',
    description:
      "The app server's private key (P-384 JWK) for its client assertions; created at first start when missing; every instance of the server must share it. Its public half is served at `/.well-known/jwks.json`: register that URL (or the key) with the EHR.",
  },
  {
    key: 'REDIS_URL',
    default: '',
    description:
      'Redis for the analysis queue (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS): set, analyses are BullMQ jobs that `npm run worker` processes (and the API process too, `RUN_WORKER_IN_API`), and any API process answers any job; unset, they run in this process. [docs/deploy.md](docs/deploy.md)',
  },
  {
    key: 'RUN_WORKER_IN_API',
    default: 'true',
    description:
      'With `REDIS_URL`: the API process also runs a worker (`WORKER_CONCURRENCY` analyses at once), for a one-box install; `false` leaves the analyses to `npm run worker` processes.',
  },
  {
    key: 'WORKER_CONCURRENCY',
    default: '4',
    description:
      'Analyses one worker process runs at once, sharing its one model session (one worker per GPU). Decoding and inference share the cores: more at once only queue for them.',
  },
  {
    key: 'JOB_ATTEMPTS',
    default: '3',
    description:
      'With `REDIS_URL`: runs of an analysis that fails for a transient reason (the EHR or PACS answers 429, 502, 503, 504 or not at all) before it fails; a worker that dies mid-analysis does not count.',
  },
  {
    key: 'JOB_BACKOFF_MS',
    default: '5000',
    description:
      'With `REDIS_URL`: the wait before the second run of a failed analysis, doubled before each further one.',
  },
  {
    key: 'JOB_LOCK_MS',
    default: '30000',
    description:
      "With `REDIS_URL`: a worker's lock on the analysis it runs (renewed at half this while it lives) and how often workers look for analyses whose worker died; such an analysis is run again on another worker within about twice this.",
  },
  {
    key: 'BACKEND_CLIENT_ID',
    default: 'ldh-cds-server',
    description:
      "With `REDIS_URL`: the worker's client id at the EHR for SMART Backend Services (`client_credentials` with `private_key_jwt`, `CLIENT_KEY_FILE`): workers act with their own token, never a user's. For EHRs whose `EHRS_FILE` entry sets no `backendClientId`.",
  },
  {
    key: 'BACKEND_SCOPES',
    default: '',
    description:
      'With `REDIS_URL`: the `system/` scopes the workers ask for (space-separated); unset, exactly what an analysis reads and writes ([docs/deploy.md](docs/deploy.md#worker-authorization)). The EHR must allow `BACKEND_CLIENT_ID` these. For EHRs whose `EHRS_FILE` entry sets no `backendScopes`.',
  },
  {
    key: 'ANALYZE_ON_ARRIVAL',
    default: 'off',
    description:
      'Queue every new lumbar MRI for analysis as it arrives at the EHR, nobody opening the app: `off`, `poll` (read ImagingStudy by `_lastUpdated`), `subscription` (a FHIR rest-hook Subscription; polls where the EHR has none) or `auto` (a Subscription when the EHR offers one, else poll). [docs/deploy.md](docs/deploy.md#analyze-on-arrival)',
  },
  {
    key: 'ARRIVAL_POLL_INTERVAL_S',
    default: '60',
    description:
      'With `ANALYZE_ON_ARRIVAL`: seconds between two reads of the new ImagingStudies when polling; also the longest wait before trying again after the EHR failed.',
  },
  {
    key: 'ARRIVAL_RECHECK_INTERVAL_S',
    default: '900',
    description:
      'With a Subscription: seconds between two reads the watcher makes of its own, in case a notification was lost (each notification triggers a read at once).',
  },
  {
    key: 'ARRIVAL_CURSOR_FILE',
    default: 'server/.data/arrival-cursor.json',
    description:
      'Without `REDIS_URL`: where the watcher keeps how far it has read each EHR, so that a restart neither misses a study nor queues one again (with `REDIS_URL`, in Redis).',
  },
  {
    key: 'ARRIVAL_BACKFILL_HOURS',
    default: '0',
    description:
      "The watcher's first read of an EHR (no cursor yet) also queues the studies of this many hours before; 0: only those that arrive from then on.",
  },
] as const;

type ConfigKey = (typeof CONFIG_KEYS)[number]['key'];
const defaultOf = (key: ConfigKey): string => CONFIG_KEYS.find((entry) => entry.key === key)?.default ?? '';

/** A port, or unset (empty) for no listener. */
const optionalPort = z
  .string()
  .default('')
  .refine((value) => value === '' || (/^\d{1,5}$/.test(value) && Number(value) <= 65535), 'must be a port 0–65535')
  .transform((value) => (value === '' ? undefined : Number(value)));

const positiveInt = (max: number): z.ZodCoercedNumber => z.coerce.number().int().min(1).max(max);

/** A study limit's key: a positive integer up to `max`, by default the limit's own (dicom/study-limits.ts). */
const studyLimit = (name: StudyLimitName, max: number) => positiveInt(max).default(STUDY_LIMITS[name].default);

const httpUrl = z
  .url()
  .refine((value) => /^https?:\/\//.test(value), 'must be an http(s) URL')
  .transform((value) => value.replace(/\/+$/, ''));

export const configSchema = z.object({
  APP_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(Number(defaultOf('APP_PORT'))),
  APP_HOST: z.string().min(1).default(defaultOf('APP_HOST')),
  APP_BASE_URL: httpUrl.default(defaultOf('APP_BASE_URL')),
  EHRS_FILE: z.string().min(1).default(defaultOf('EHRS_FILE')),
  FHIR_BASE_URLS: z
    .string()
    .default(defaultOf('FHIR_BASE_URLS'))
    .transform((value) =>
      value
        .split(',')
        .map((url) => url.trim())
        .filter((url) => url.length > 0),
    )
    .pipe(z.array(httpUrl)),
  MODEL_DIR: z.string().min(1).default(defaultOf('MODEL_DIR')),
  CLIENT_DIST_DIR: z.string().min(1).default(defaultOf('CLIENT_DIST_DIR')),
  CDS_CLIENTS_FILE: z.string().min(1).default(defaultOf('CDS_CLIENTS_FILE')),
  CDS_CODES_FILE: z.string().min(1).default(defaultOf('CDS_CODES_FILE')),
  CDS_FEEDBACK_FILE: z.string().min(1).default(defaultOf('CDS_FEEDBACK_FILE')),
  CDS_RECORD_CACHE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60)
    .default(Number(defaultOf('CDS_RECORD_CACHE_SECONDS'))),
  CDS_REPLAY_CACHE_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .default(Number(defaultOf('CDS_REPLAY_CACHE_MAX'))),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: optionalPort,
  WORKER_METRICS_PORT: optionalPort,
  METRICS_HOST: z.string().min(1).default(defaultOf('METRICS_HOST')),
  METRICS_TOKEN: z
    .string()
    .default('')
    .refine((value) => value === '' || value.length >= 16, 'must be at least 16 characters')
    .transform((value) => (value === '' ? undefined : value)),
  INFERENCE_EP: z.enum(EXECUTION_PROVIDERS).default('auto'),
  INFERENCE_BATCH: positiveInt(1024).default(Number(defaultOf('INFERENCE_BATCH'))),
  DICOMWEB_TIMEOUT_MS: positiveInt(600_000).default(Number(defaultOf('DICOMWEB_TIMEOUT_MS'))),
  DICOMWEB_CONCURRENCY: positiveInt(64).default(Number(defaultOf('DICOMWEB_CONCURRENCY'))),
  DICOMWEB_RETRIES: z.coerce
    .number()
    .int()
    .min(0)
    .max(10)
    .default(Number(defaultOf('DICOMWEB_RETRIES'))),
  DECODE_THREADS: z
    .union([z.literal('auto'), z.coerce.number().int().min(0).max(64)])
    .default('auto')
    .transform((value) => (value === 'auto' ? defaultDecodeThreads() : value)),
  DECODE_FRAME_TIMEOUT_MS: positiveInt(600_000).default(Number(defaultOf('DECODE_FRAME_TIMEOUT_MS'))),
  MAX_DICOM_FILE_BYTES: positiveInt(2 ** 40).default(Number(defaultOf('MAX_DICOM_FILE_BYTES'))),
  MAX_SERIES_PER_STUDY: studyLimit('seriesPerStudy', 10_000),
  MAX_INSTANCES_PER_SERIES: studyLimit('instancesPerSeries', 1_000_000),
  MAX_FRAMES_PER_INSTANCE: studyLimit('framesPerInstance', FRAMES_PER_INSTANCE_CEILING),
  MAX_FRAMES_PER_STUDY: studyLimit('framesPerStudy', 10_000_000),
  MAX_PIXELS_PER_FRAME: studyLimit('pixelsPerFrame', 65_536 * 65_536),
  MAX_BYTES_PER_FRAME: studyLimit('bytesPerFrame', 2 ** 32),
  MAX_BYTES_PER_INSTANCE: studyLimit('bytesPerInstance', 2 ** 40),
  MAX_BYTES_PER_STUDY: studyLimit('bytesPerStudy', 2 ** 44),
  DECODE_QUEUE_DEPTH: positiveInt(1_000_000).default(Number(defaultOf('DECODE_QUEUE_DEPTH'))),
  INFERENCE_QUEUE_DEPTH: positiveInt(10_000_000).default(Number(defaultOf('INFERENCE_QUEUE_DEPTH'))),
  MAX_CONCURRENT_ANALYSES: positiveInt(1024).default(Number(defaultOf('MAX_CONCURRENT_ANALYSES'))),
  MAX_QUEUED_ANALYSES: z.coerce
    .number()
    .int()
    .min(0)
    .max(100_000)
    .default(Number(defaultOf('MAX_QUEUED_ANALYSES'))),
  MAX_CONCURRENT_ANALYSES_PER_USER: positiveInt(1024).default(Number(defaultOf('MAX_CONCURRENT_ANALYSES_PER_USER'))),
  RATE_LIMIT_WINDOW_S: positiveInt(86_400).default(Number(defaultOf('RATE_LIMIT_WINDOW_S'))),
  RATE_LIMIT_API_PER_IP: positiveInt(10_000_000).default(Number(defaultOf('RATE_LIMIT_API_PER_IP'))),
  RATE_LIMIT_API_PER_TOKEN: positiveInt(10_000_000).default(Number(defaultOf('RATE_LIMIT_API_PER_TOKEN'))),
  RATE_LIMIT_CDS_PER_IP: positiveInt(10_000_000).default(Number(defaultOf('RATE_LIMIT_CDS_PER_IP'))),
  RATE_LIMIT_CDS_PER_CLIENT: positiveInt(10_000_000).default(Number(defaultOf('RATE_LIMIT_CDS_PER_CLIENT'))),
  SR_STOW: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  TOKEN_VERIFICATION: z.enum(TOKEN_VERIFICATION_METHODS).default('introspection'),
  TOKEN_CACHE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(Number(defaultOf('TOKEN_CACHE_SECONDS'))),
  INTROSPECTION_AUTH: z.enum(INTROSPECTION_AUTH_METHODS).default('private_key_jwt'),
  INTROSPECTION_CLIENT_ID: z.string().min(1).default(defaultOf('INTROSPECTION_CLIENT_ID')),
  CLIENT_KEY_FILE: z.string().min(1).default(defaultOf('CLIENT_KEY_FILE')),
  REDIS_URL: z
    .string()
    .refine((value) => value === '' || /^rediss?:\/\/\S+$/.test(value), 'must be a redis:// or rediss:// URL')
    .default(''),
  RUN_WORKER_IN_API: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true')
    .transform((value) => value === 'true'),
  WORKER_CONCURRENCY: positiveInt(256).default(Number(defaultOf('WORKER_CONCURRENCY'))),
  JOB_ATTEMPTS: positiveInt(20).default(Number(defaultOf('JOB_ATTEMPTS'))),
  JOB_BACKOFF_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(Number(defaultOf('JOB_BACKOFF_MS'))),
  JOB_LOCK_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(600_000)
    .default(Number(defaultOf('JOB_LOCK_MS'))),
  BACKEND_CLIENT_ID: z.string().min(1).default(defaultOf('BACKEND_CLIENT_ID')),
  BACKEND_SCOPES: systemScopes.optional().transform((value) => (value?.trim() ? value.trim() : DEFAULT_BACKEND_SCOPES)),
  ANALYZE_ON_ARRIVAL: z
    .enum(ARRIVAL_MODES, { error: `must be one of ${ARRIVAL_MODES.join(', ')}` })
    .default(defaultOf('ANALYZE_ON_ARRIVAL') as ArrivalMode),
  ARRIVAL_POLL_INTERVAL_S: positiveInt(86_400).default(Number(defaultOf('ARRIVAL_POLL_INTERVAL_S'))),
  ARRIVAL_RECHECK_INTERVAL_S: positiveInt(86_400).default(Number(defaultOf('ARRIVAL_RECHECK_INTERVAL_S'))),
  ARRIVAL_CURSOR_FILE: z.string().min(1).default(defaultOf('ARRIVAL_CURSOR_FILE')),
  ARRIVAL_BACKFILL_HOURS: z.coerce
    .number()
    .int()
    .min(0)
    .max(8760)
    .default(Number(defaultOf('ARRIVAL_BACKFILL_HOURS'))),
});

/**
 * The environment's values, and the trusted EHRs they name: `EHRS` pairs each FHIR base with its imaging origins
 * (trusted-ehrs.ts), and `FHIR_BASE_URLS` is every trusted FHIR base, EHRS_FILE's and the variable's.
 */
export type AppConfig = z.infer<typeof configSchema> & { EHRS: readonly TrustedEhr[] };

/** Validates the environment; the error lists every bad key with its problem. Empty strings count as unset. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const relevant: Record<string, string> = {};
  for (const { key } of CONFIG_KEYS) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const parsed = configSchema.safeParse(relevant);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  // EHRS_FILE's default (the mock EHR at its default URL) is not added to a FHIR_BASE_URLS set alone: that variable
  // named every trusted server before the file existed, and still does when it is the only one set.
  const readFile = relevant.EHRS_FILE !== undefined || relevant.FHIR_BASE_URLS === undefined;
  const ehrs = withSimpleFhirBases(
    readFile ? readTrustedEhrsFile(parsed.data.EHRS_FILE) : [],
    parsed.data.FHIR_BASE_URLS,
  );
  if (ehrs.length === 0) throw new Error('Invalid configuration: no trusted EHR (set EHRS_FILE or FHIR_BASE_URLS)');
  return { ...parsed.data, FHIR_BASE_URLS: ehrs.map((ehr) => ehr.fhirBaseUrl), EHRS: ehrs };
}

/** How the user's tokens of this EHR are verified: its EHRS_FILE entry, else TOKEN_VERIFICATION and INTROSPECTION_*. */
export function tokenSettingsFor(
  config: Pick<AppConfig, 'EHRS' | 'TOKEN_VERIFICATION' | 'INTROSPECTION_AUTH' | 'INTROSPECTION_CLIENT_ID'>,
  fhirBaseUrl: string,
): {
  method: AppConfig['TOKEN_VERIFICATION'];
  introspectionAuth: AppConfig['INTROSPECTION_AUTH'];
  introspectionClientId: string;
} {
  const ehr = trustedEhrOf(config.EHRS, fhirBaseUrl);
  return {
    method: ehr?.tokenVerification ?? config.TOKEN_VERIFICATION,
    introspectionAuth: ehr?.introspectionAuth ?? config.INTROSPECTION_AUTH,
    introspectionClientId: ehr?.introspectionClientId ?? config.INTROSPECTION_CLIENT_ID,
  };
}
