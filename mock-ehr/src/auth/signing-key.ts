/**
 * The authorization server's ES256 signing key. Generated at first start and kept in the data directory (never in
 * git: `mock-ehr/.data/` is ignored) so tokens stay valid across restarts of the sandbox.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from 'pino';

export const SIGNING_ALG = 'ES256';
const KEY_FILE = 'signing-key.private.jwk.json';

export interface KeySpec {
  alg: 'ES256' | 'ES384';
  /** File name inside the data directory. */
  file: string;
}

/** The authorization server's token key (ES256). The CDS Hooks client has its own ES384 key (cds-hooks/). */
export const TOKEN_KEY: KeySpec = { alg: SIGNING_ALG, file: KEY_FILE };

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public half as published at `/oauth/jwks` (RFC 7517). */
  publicJwk: JWK;
}

export async function loadOrCreateSigningKey(
  dataDir: string,
  logger: Logger,
  spec: KeySpec = TOKEN_KEY,
): Promise<SigningKey> {
  const alg = spec.alg;
  const file = path.join(dataDir, spec.file);
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(await readFile(file, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`Cannot read the signing key ${file}: ${(error as Error).message}`);
    }
    const pair = await generateKeyPair(alg, { extractable: true });
    privateJwk = await exportJWK(pair.privateKey);
    privateJwk.kid = await calculateJwkThumbprint(privateJwk);
    privateJwk.alg = alg;
    privateJwk.use = 'sig';
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(privateJwk, null, 2), { mode: 0o600 });
    logger.info({ kid: privateJwk.kid, alg }, 'generated a new signing key');
  }
  const publicJwk: JWK = { ...privateJwk };
  delete publicJwk.d;
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return {
    kid,
    privateKey: (await importJWK(privateJwk, alg)) as CryptoKey,
    publicKey: (await importJWK(publicJwk, alg)) as CryptoKey,
    publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
  };
}
