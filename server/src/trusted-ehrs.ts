/**
 * The EHRs the app server trusts, each FHIR base paired with the imaging (DICOMweb) origins of that same EHR: the user's
 * SMART token goes to the FHIR base of the launch and to the imaging origins configured for that EHR, nowhere else
 * (docs/architecture.md §Trust, docs/security.md §The SMART token).
 *
 * Two forms, merged at start (config.ts):
 * - `EHRS_FILE` (default `smart-config/ehrs.json`): `{ "ehrs": [{ "fhirBaseUrl": …, "imagingOrigins": [ … ] }] }`;
 * - `FHIR_BASE_URLS`, the short form kept from before the pairing: FHIR bases whose imaging is on their own origin.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { INTROSPECTION_AUTH_METHODS, TOKEN_VERIFICATION_METHODS } from './http/token-verifier';

/**
 * How ldh-cds is registered at one EHR, where it differs from the configuration's defaults (TOKEN_VERIFICATION,
 * INTROSPECTION_AUTH, INTROSPECTION_CLIENT_ID, BACKEND_CLIENT_ID, BACKEND_SCOPES): each EHR registers its clients
 * itself, so two EHRs may know the server under two client ids, or verify tokens two ways.
 */
export interface EhrRegistration {
  tokenVerification?: (typeof TOKEN_VERIFICATION_METHODS)[number];
  introspectionAuth?: (typeof INTROSPECTION_AUTH_METHODS)[number];
  introspectionClientId?: string;
  backendClientId?: string;
  /** Space-separated `system/` scopes. */
  backendScopes?: string;
}

export interface TrustedEhr extends EhrRegistration {
  /** The FHIR base as `X-FHIR-Server` must name it (no trailing slash). */
  fhirBaseUrl: string;
  /** Origins (`scheme://host[:port]`) of this EHR's DICOMweb servers: an Endpoint.address must be on one of them. */
  imagingOrigins: readonly string[];
}

/** Space-separated SMART `system/` scopes (BACKEND_SCOPES, or an entry's `backendScopes`). */
export const systemScopes = z
  .string()
  .refine(
    (value) => value.split(/\s+/).every((scope) => scope === '' || scope.startsWith('system/')),
    'must be space-separated system/ scopes',
  );

const httpUrl = z
  .url()
  .refine((value) => /^https?:\/\//.test(value), 'must be an http(s) URL')
  .transform((value) => value.replace(/\/+$/, ''));

/** `http://pacs:8042` or `http://pacs:8042/`; a path, query, fragment or user name would be a mistake here. */
function isOrigin(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.pathname === '/' &&
    !url.search &&
    !url.hash &&
    !url.username &&
    !url.password &&
    !/[?#]/.test(value)
  );
}

const origin = z
  .string()
  .refine(isOrigin, 'must be an origin, scheme://host[:port] without a path (e.g. http://localhost:8042)')
  .transform((value) => new URL(value).origin);

const ehrsFileSchema = z.strictObject({
  ehrs: z
    .array(
      z.strictObject({
        /** For people reading the file; not used. */
        name: z.string().optional(),
        fhirBaseUrl: httpUrl,
        imagingOrigins: z.array(origin),
        tokenVerification: z.enum(TOKEN_VERIFICATION_METHODS).optional(),
        introspectionAuth: z.enum(INTROSPECTION_AUTH_METHODS).optional(),
        introspectionClientId: z.string().min(1).optional(),
        backendClientId: z.string().min(1).optional(),
        backendScopes: systemScopes
          .transform((value) => value.trim())
          .refine((value) => value !== '', 'names no scope')
          .optional(),
      }),
    )
    .min(1, 'lists no EHR')
    .superRefine((ehrs, context) => {
      ehrs.forEach((ehr, index) => {
        if (ehrs.findIndex((other) => other.fhirBaseUrl === ehr.fhirBaseUrl) !== index) {
          context.addIssue({
            code: 'custom',
            path: [index, 'fhirBaseUrl'],
            message: `${ehr.fhirBaseUrl} is listed twice; give it one entry with all its imaging origins`,
          });
        }
      });
    }),
});

/** The file's EHRs; a bad file throws an error naming the file and each bad entry (`ehrs[1].imagingOrigins[0]: …`). */
export function readTrustedEhrsFile(file: string): TrustedEhr[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message.split('\n')[0];
    throw new Error(`EHRS_FILE ${file}: cannot be read (${reason})`);
  }
  const parsed = ehrsFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issuePath(issue.path)}: ${issue.message}`).join('; ');
    throw new Error(`EHRS_FILE ${file}: ${problems}`);
  }
  // `name` is for people reading the file: it is not kept.
  return parsed.data.ehrs.map((entry) => {
    const { imagingOrigins, ...rest } = entry;
    delete rest.name;
    return { ...rest, imagingOrigins: [...new Set(imagingOrigins)] };
  });
}

/** `['ehrs', 1, 'imagingOrigins', 0]` → `ehrs[1].imagingOrigins[0]`. */
function issuePath(path: readonly PropertyKey[]): string {
  return (
    path
      .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
      .join('')
      .replace(/^\./, '') || '(the file)'
  );
}

/** The short form (FHIR_BASE_URLS) merged into the file's EHRs: each base adds its own origin as an imaging origin. */
export function withSimpleFhirBases(ehrs: readonly TrustedEhr[], fhirBaseUrls: readonly string[]): TrustedEhr[] {
  const merged = ehrs.map((ehr) => ({ ...ehr, imagingOrigins: [...ehr.imagingOrigins] }));
  for (const fhirBaseUrl of fhirBaseUrls) {
    const own = new URL(fhirBaseUrl).origin;
    const existing = merged.find((ehr) => ehr.fhirBaseUrl === fhirBaseUrl);
    if (!existing) merged.push({ fhirBaseUrl, imagingOrigins: [own] });
    else if (!existing.imagingOrigins.includes(own)) existing.imagingOrigins.push(own);
  }
  return merged;
}

/** The imaging origins configured for the EHR of this FHIR base; none for a base that is not configured. */
export function imagingOriginsOf(ehrs: readonly TrustedEhr[], fhirBaseUrl: string): readonly string[] {
  return trustedEhrOf(ehrs, fhirBaseUrl)?.imagingOrigins ?? [];
}

/** The entry of this FHIR base (a trailing slash aside), if it is a trusted EHR. */
export function trustedEhrOf<Ehr extends { fhirBaseUrl: string }>(
  ehrs: readonly Ehr[],
  fhirBaseUrl: string,
): Ehr | undefined {
  const base = fhirBaseUrl.replace(/\/+$/, '');
  return ehrs.find((ehr) => ehr.fhirBaseUrl === base);
}
