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

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public half as published at `/oauth/jwks` (RFC 7517). */
  publicJwk: JWK;
}

export async function loadOrCreateSigningKey(dataDir: string, logger: Logger): Promise<SigningKey> {
  const file = path.join(dataDir, KEY_FILE);
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(await readFile(file, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`Cannot read the signing key ${file}: ${(error as Error).message}`);
    }
    const pair = await generateKeyPair(SIGNING_ALG, { extractable: true });
    privateJwk = await exportJWK(pair.privateKey);
    privateJwk.kid = await calculateJwkThumbprint(privateJwk);
    privateJwk.alg = SIGNING_ALG;
    privateJwk.use = 'sig';
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(privateJwk, null, 2), { mode: 0o600 });
    logger.info({ kid: privateJwk.kid }, 'generated a new token signing key');
  }
  const publicJwk: JWK = { ...privateJwk };
  delete publicJwk.d;
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return {
    kid,
    privateKey: (await importJWK(privateJwk, SIGNING_ALG)) as CryptoKey,
    publicKey: (await importJWK(publicJwk, SIGNING_ALG)) as CryptoKey,
    publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
  };
}
