/**
 * SMART client registrations from `smart-config/clients.json` (see smart-config/README.md). `{APP_BASE_URL}` in a
 * URI is replaced at load time, so one file serves every port and host.
 *
 * Two kinds of client (SMART App Launch 2.x "Client Authentication"):
 * - public (`token_endpoint_auth_method: none`): identified by `client_id` only, PKCE is their protection;
 * - confidential asymmetric (`private_key_jwt`): authenticate with a JWT signed by a key in their `jwks` or
 *   `jwks_uri` (SMART "Client Authentication: Asymmetric", RFC 7523). Backend services use `client_credentials`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';

export const DEFAULT_CLIENTS_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../smart-config/clients.json',
);

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

const clientSchema = z
  .object({
    client_id: z.string().min(1),
    client_name: z.string().optional(),
    token_endpoint_auth_method: z.enum(['none', 'private_key_jwt']),
    grant_types: z.array(z.enum(GRANT_TYPES)).optional(),
    redirect_uris: z.array(z.string().min(1)).default([]),
    launch_uri: z.string().min(1).optional(),
    /** Every scope the client may be granted; none for a client that only authenticates (token introspection). */
    scope: z.string().default(''),
    jwks_uri: z.string().min(1).optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
  })
  .refine(
    (client) =>
      client.token_endpoint_auth_method === 'none' || client.jwks !== undefined || client.jwks_uri !== undefined,
    { error: 'a private_key_jwt client needs "jwks" or "jwks_uri"' },
  );

const clientsFileSchema = z.object({ clients: z.array(clientSchema) });

export interface SmartClient {
  clientId: string;
  name: string;
  authMethod: 'none' | 'private_key_jwt';
  grantTypes: ReadonlySet<GrantType>;
  /** Exact strings; RFC 6749 §3.1.2.2 + SMART require an exact match of `redirect_uri`. */
  redirectUris: readonly string[];
  launchUri: string | undefined;
  allowedScopes: ReadonlySet<string>;
  /** Keys that verify the client's assertions (confidential clients only). */
  keys: JWTVerifyGetKey | undefined;
}

export type ClientRegistry = ReadonlyMap<string, SmartClient>;

export async function loadClients(file: string, appBaseUrl: string): Promise<ClientRegistry> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read SMART client registrations from ${file}: ${(error as Error).message}`);
  }
  const parsed = clientsFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`Invalid SMART client registrations in ${file}: ${z.prettifyError(parsed.error)}`);
  }
  const base = appBaseUrl.replace(/\/$/, '');
  const expand = (uri: string): string => uri.replaceAll('{APP_BASE_URL}', base);
  return new Map(
    parsed.data.clients.map((client) => {
      const defaultGrants: GrantType[] =
        client.token_endpoint_auth_method === 'none'
          ? ['authorization_code', 'refresh_token']
          : ['authorization_code', 'refresh_token', 'client_credentials'];
      const keys = client.jwks
        ? createLocalJWKSet(client.jwks)
        : client.jwks_uri
          ? createRemoteJWKSet(new URL(expand(client.jwks_uri)))
          : undefined;
      return [
        client.client_id,
        {
          clientId: client.client_id,
          name: client.client_name ?? client.client_id,
          authMethod: client.token_endpoint_auth_method,
          grantTypes: new Set(client.grant_types ?? defaultGrants),
          redirectUris: client.redirect_uris.map(expand),
          launchUri: client.launch_uri === undefined ? undefined : expand(client.launch_uri),
          allowedScopes: new Set(client.scope.split(/\s+/).filter(Boolean)),
          keys,
        },
      ];
    }),
  );
}
