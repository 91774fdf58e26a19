/**
 * Trusted CDS clients (CDS Hooks 2.0 §Trusting CDS Clients): each EHR issuer with the JWKS its request JWTs
 * are signed with, either a `jwks_uri` (fetched and cached by jose) or an inline `jwks`.
 */
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';

const clientSchema = z
  .object({
    iss: z.string().min(1),
    name: z.string().optional(),
    jwks_uri: z.url().optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
  })
  .refine((client) => client.jwks_uri !== undefined || client.jwks !== undefined, 'needs jwks_uri or jwks');

export const cdsClientsFileSchema = z.object({ clients: z.array(clientSchema) });
export type CdsClientsFile = z.infer<typeof cdsClientsFileSchema>;

export type TrustedClients = ReadonlyMap<string, JWTVerifyGetKey>;

export function trustedClientsFrom(file: CdsClientsFile): TrustedClients {
  const clients = new Map<string, JWTVerifyGetKey>();
  for (const client of file.clients) {
    clients.set(
      client.iss,
      client.jwks ? createLocalJWKSet(client.jwks) : createRemoteJWKSet(new URL(client.jwks_uri ?? '')),
    );
  }
  return clients;
}

/** Reads the file; a missing file means no trusted client (every hook call is refused) — said in the error. */
export async function loadTrustedClients(file: string): Promise<TrustedClients> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read CDS_CLIENTS_FILE ${file}: ${(error as Error).message}`);
  }
  const parsed = cdsClientsFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid CDS_CLIENTS_FILE ${file}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`);
  }
  return trustedClientsFrom(parsed.data);
}
