import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { trustedClientsFrom } from './trusted-clients';
import { createMemoryReplayCache } from '../http/replay-cache';
import { CdsAuthError, createCdsJwtVerifier, type CdsJwtVerifier } from './verify-jwt';

const ISS = 'https://ehr.example';
const AUD = 'http://app/cds-services/ldh-cds-order-select';
let privateKey: CryptoKey;
let verifier: CdsJwtVerifier;

async function sign(
  overrides: {
    aud?: string;
    jti?: string;
    alg?: string;
    key?: CryptoKey | Uint8Array;
    exp?: string | number;
    /** Seconds since the epoch; default now. */
    iat?: number;
    /** The protected header's kid and typ (default k1, JWT); null leaves it out. */
    kid?: string | null;
    typ?: string | null;
  } = {},
): Promise<string> {
  const kid = overrides.kid === undefined ? 'k1' : overrides.kid;
  const typ = overrides.typ === undefined ? 'JWT' : overrides.typ;
  return new SignJWT({})
    .setProtectedHeader({
      alg: overrides.alg ?? 'ES384',
      ...(kid === null ? {} : { kid }),
      ...(typ === null ? {} : { typ }),
    })
    .setIssuer(ISS)
    .setAudience(overrides.aud ?? AUD)
    .setIssuedAt(overrides.iat)
    .setExpirationTime(overrides.exp ?? '5m')
    .setJti(overrides.jti ?? randomUUID())
    .sign(overrides.key ?? privateKey);
}

let trusted: ReturnType<typeof trustedClientsFrom>;

beforeAll(async () => {
  const pair = await generateKeyPair('ES384');
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES384', use: 'sig' };
  trusted = trustedClientsFrom({ clients: [{ iss: ISS, jwks: { keys: [jwk] } }] });
  verifier = createCdsJwtVerifier(trusted);
});

const nowS = (): number => Math.floor(Date.now() / 1000);

describe('CDS Hooks JWT verification', () => {
  it('when the JWT is ES384-signed by a trusted issuer for this service, then it is accepted', async () => {
    await expect(verifier.verify(`Bearer ${await sign()}`, AUD)).resolves.toMatchObject({ iss: ISS });
  });

  it('when aud is another service URL, then it is refused', async () => {
    await expect(
      verifier.verify(`Bearer ${await sign({ aud: 'http://app/cds-services/other' })}`, AUD),
    ).rejects.toThrow(/aud/);
  });

  it('when the JWT is HS256 (HMAC), then it is refused even with a matching secret', async () => {
    const token = await sign({ alg: 'HS256', key: new TextEncoder().encode('x'.repeat(32)) });
    await expect(verifier.verify(`Bearer ${token}`, AUD)).rejects.toBeInstanceOf(CdsAuthError);
  });

  it('when a jti is replayed, then the second call is refused', async () => {
    const token = await sign({ jti: 'once' });
    await verifier.verify(`Bearer ${token}`, AUD);
    await expect(verifier.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/replay/);
  });

  it('when the issuer is unknown or the header missing, then it is refused', async () => {
    await expect(verifier.verify(undefined, AUD)).rejects.toThrow(/Missing/);
    const other = await generateKeyPair('ES384');
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384' })
      .setIssuer('https://evil')
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('j')
      .sign(other.privateKey);
    await expect(verifier.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/not a trusted/);
  });

  it('when the header names no kid, or a typ other than JWT, then it is refused (§Trusting CDS Clients)', async () => {
    await expect(verifier.verify(`Bearer ${await sign({ kid: null })}`, AUD)).rejects.toThrow(/kid/);
    await expect(verifier.verify(`Bearer ${await sign({ typ: 'at+jwt' })}`, AUD)).rejects.toThrow(/typ/);
    await expect(verifier.verify(`Bearer ${await sign({ typ: null })}`, AUD)).rejects.toThrow(/typ/);
  });

  it('when the token is not a JWT, then it is refused', async () => {
    await expect(verifier.verify('Bearer not-a-jwt', AUD)).rejects.toThrow(/not a JWT/);
  });

  it('when the JWT has expired, then it is refused', async () => {
    await expect(verifier.verify(`Bearer ${await sign({ exp: '-2m' })}`, AUD)).rejects.toThrow(/expired/);
  });

  it('when the JWT was issued more than 5 minutes ago, then it is refused even though its exp is hours away', async () => {
    const token = await sign({ iat: nowS() - 6 * 60, exp: nowS() + 3 * 3600 });
    await expect(verifier.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/issued more than 5 minutes ago/);
  });

  it('when the JWT was issued 5 minutes ago give or take the clock tolerance, then it is accepted', async () => {
    const token = await sign({ iat: nowS() - 5 * 60 - 20, exp: nowS() + 60 });
    await expect(verifier.verify(`Bearer ${token}`, AUD)).resolves.toMatchObject({ iss: ISS });
  });

  it('when a token with a far exp is replayed in the last second its age still allows, then it is refused', async () => {
    // jose compares whole seconds: a token issued at T is accepted until T + 331 s (5 min + 30 s tolerance, the
    // current second rounded down). Before: its jti was forgotten at T + 330 s and the replay at T + 330.5 s passed.
    const issuedAtS = nowS();
    let clockMs = issuedAtS * 1000 + 1_000;
    const timed = createCdsJwtVerifier(trusted, { now: () => clockMs });
    const token = await sign({ iat: issuedAtS, exp: issuedAtS + 3 * 3600 });
    await timed.verify(`Bearer ${token}`, AUD);
    clockMs = issuedAtS * 1000 + 330_500;
    await expect(timed.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/replay/);
    clockMs = issuedAtS * 1000 + 331_000;
    await expect(timed.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/issued more than 5 minutes ago/);
  });

  it('when two verifiers share one replay store (two processes, one Redis), then a jti used at one is refused at the other', async () => {
    const shared = createMemoryReplayCache();
    const first = createCdsJwtVerifier(trusted, { replayCache: shared });
    const second = createCdsJwtVerifier(trusted, { replayCache: shared });
    const token = await sign();
    await first.verify(`Bearer ${token}`, AUD);
    await expect(second.verify(`Bearer ${token}`, AUD)).rejects.toThrow(/replay/);
  });
});
