/**
 * The app server's configuration: one zod schema, read from the environment once at start and validated
 * there, so a bad value stops the server with a message naming the key instead of failing mid-request.
 */
import { z } from 'zod';
import { defaultDecodeThreads } from './dicom/decode-pool';
import { EXECUTION_PROVIDERS } from './inference/execution-provider';

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
    key: 'FHIR_BASE_URLS',
    default: 'http://localhost:4000/fhir',
    description: 'Trusted FHIR servers, comma-separated; `X-FHIR-Server` must be one of them.',
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
  { key: 'LOG_LEVEL', default: 'info', description: 'pino level: fatal, error, warn, info, debug, trace or silent.' },
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
    description: 'A frame still decoding after this long is stopped (its worker thread is terminated) and reported.',
  },
  {
    key: 'MAX_DICOM_FILE_BYTES',
    default: String(512 * 1024 * 1024),
    description: 'Largest DICOM file the command line reads; larger files are refused.',
  },
  {
    key: 'SR_STOW',
    default: 'false',
    description:
      "`true`: each analysis also stores its DICOM SR (TID 1500) in the study's PACS by STOW-RS, with the user's token. The SR is in the EHR either way.",
  },
] as const;

type ConfigKey = (typeof CONFIG_KEYS)[number]['key'];
const defaultOf = (key: ConfigKey): string => CONFIG_KEYS.find((entry) => entry.key === key)?.default ?? '';

const positiveInt = (max: number): z.ZodCoercedNumber => z.coerce.number().int().min(1).max(max);

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
  FHIR_BASE_URLS: z
    .string()
    .default(defaultOf('FHIR_BASE_URLS'))
    .transform((value) =>
      value
        .split(',')
        .map((url) => url.trim())
        .filter((url) => url.length > 0),
    )
    .pipe(z.array(httpUrl).min(1, 'needs at least one trusted FHIR base URL')),
  MODEL_DIR: z.string().min(1).default(defaultOf('MODEL_DIR')),
  CLIENT_DIST_DIR: z.string().min(1).default(defaultOf('CLIENT_DIST_DIR')),
  CDS_CLIENTS_FILE: z.string().min(1).default(defaultOf('CDS_CLIENTS_FILE')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  SR_STOW: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
});

export type AppConfig = z.infer<typeof configSchema>;

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
  return parsed.data;
}
