/**
 * The app server's own key: it authenticates ldh-cds to an EHR's token introspection endpoint as a confidential
 * client (RFC 7523 `private_key_jwt`, SMART App Launch 2.x "Client Authentication: Asymmetric"). The private JWK is kept
 * in CLIENT_KEY_FILE (created at first start, mode 0600, git-ignored under `.data/`; every instance of the server
 * must share it), the public half is served at JWKS_PATH, the URL a site registers with its EHR as the client's
 * `jwks_uri` (or pastes the public key where the EHR wants it uploaded).
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Router } from 'express';
import {
  calculateJwkThumbprint,
  CompactSign,
  compactVerify,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose';

/** SMART Backend Services asks servers to accept RS384 and ES384; ES384 keys are small. */
export const CLIENT_KEY_ALG = 'ES384';
export const JWKS_PATH = '/.well-known/jwks.json';
/** SMART: a client assertion's `exp` is at most five minutes ahead. */
const ASSERTION_LIFETIME_S = 240;

export interface ClientKey {
  kid: string;
  privateKey: CryptoKey;
  /** The public half, as served at JWKS_PATH. */
  publicJwk: JWK;
}

async function keyOf(privateJwk: JWK, file: string): Promise<ClientKey> {
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-384' || typeof privateJwk.d !== 'string') {
    throw new Error(`CLIENT_KEY_FILE ${file}: not a private P-384 EC key in JWK form (alg ${CLIENT_KEY_ALG})`);
  }
  const publicPart: JWK = { ...privateJwk };
  delete publicPart.d;
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(publicPart));
  return {
    kid,
    privateKey: (await importJWK(privateJwk, CLIENT_KEY_ALG)) as CryptoKey,
    publicJwk: { ...publicPart, kid, alg: CLIENT_KEY_ALG, use: 'sig' },
  };
}

/**
 * The key in `file`, or a new one written there when there is none. Several servers starting at once (tests, a
 * rolling start) agree on one key: the file is created whole by a hard link, which fails if another got there first.
 */
export async function loadOrCreateClientKey(file: string): Promise<ClientKey> {
  const read = async (): Promise<ClientKey> => keyOf(JSON.parse(await readFile(file, 'utf8')) as JWK, file);
  try {
    return await read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`CLIENT_KEY_FILE ${file}: ${(error as Error).message}`);
    }
  }
  const pair = await generateKeyPair(CLIENT_KEY_ALG, { extractable: true });
  const privateJwk = await exportJWK(pair.privateKey);
  privateJwk.kid = await calculateJwkThumbprint(privateJwk);
  privateJwk.alg = CLIENT_KEY_ALG;
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomUUID()}.tmp`;
  await writeFile(temporary, JSON.stringify(privateJwk, null, 2), { mode: 0o600 });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  return read();
}

/** RFC 7523 §3 client assertion: iss = sub = client_id, aud = the token endpoint, a short exp and a unique jti. */
export function signClientAssertion(key: ClientKey, clientId: string, audience: string, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: CLIENT_KEY_ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_S)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** The JWS `typ` of a sealed job: a seal is never taken for a client assertion or a token, nor the reverse. */
const SEAL_TYPE = 'ldh-cds-job+jws';
const publicKeys = new WeakMap<ClientKey, Promise<CryptoKey>>();

/**
 * A queued job's data, signed with the server's key (RFC 7515 compact JWS, ES384): the API processes seal what they
 * queue, and a worker runs only what one of them sealed, so write access to Redis alone does not let anyone make a
 * worker read a study or write a report with its Backend Services token (docs/deploy.md §Worker authorization).
 * Signed, not encrypted: it holds no credential, and Redis is to be private anyway.
 */
export function sealJson(key: ClientKey, value: unknown): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(value)))
    .setProtectedHeader({ alg: CLIENT_KEY_ALG, kid: key.kid, typ: SEAL_TYPE })
    .sign(key.privateKey);
}

/** The value of a seal made with this key; rejects any other seal, alg or `typ`. */
export async function openSealedJson(key: ClientKey, sealed: string): Promise<unknown> {
  let publicKey = publicKeys.get(key);
  if (!publicKey) {
    publicKey = importJWK(key.publicJwk, CLIENT_KEY_ALG) as Promise<CryptoKey>;
    publicKeys.set(key, publicKey);
  }
  const { payload, protectedHeader } = await compactVerify(sealed, await publicKey, { algorithms: [CLIENT_KEY_ALG] });
  if (protectedHeader.typ !== SEAL_TYPE) throw new Error(`not a sealed job (typ ${String(protectedHeader.typ)})`);
  return JSON.parse(new TextDecoder().decode(payload)) as unknown;
}

/** GET JWKS_PATH: the public key, for the EHRs that fetch it (RFC 7517 JWK Set). No PHI, no token needed. */
export function clientKeyRouter(key: () => Promise<ClientKey>): Router {
  const router = Router();
  router.get(JWKS_PATH, async (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json({ keys: [(await key()).publicJwk] });
  });
  return router;
}
