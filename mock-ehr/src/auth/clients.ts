/**
 * SMART client registrations from `smart-config/clients.json` (see smart-config/README.md). `{APP_BASE_URL}` in a
 * URI is replaced at load time, so one file serves every port and host.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const DEFAULT_CLIENTS_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../smart-config/clients.json',
);

const clientSchema = z.object({
  client_id: z.string().min(1),
  client_name: z.string().optional(),
  token_endpoint_auth_method: z.literal('none'),
  redirect_uris: z.array(z.string().min(1)).min(1),
  launch_uri: z.string().min(1),
  scope: z.string().min(1),
});

const clientsFileSchema = z.object({ clients: z.array(clientSchema) });

export interface SmartClient {
  clientId: string;
  name: string;
  /** Exact strings; RFC 6749 §3.1.2.2 + SMART require an exact match of `redirect_uri`. */
  redirectUris: readonly string[];
  launchUri: string;
  allowedScopes: ReadonlySet<string>;
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
    parsed.data.clients.map((client) => [
      client.client_id,
      {
        clientId: client.client_id,
        name: client.client_name ?? client.client_id,
        redirectUris: client.redirect_uris.map(expand),
        launchUri: expand(client.launch_uri),
        allowedScopes: new Set(client.scope.split(/\s+/).filter(Boolean)),
      },
    ]),
  );
}
