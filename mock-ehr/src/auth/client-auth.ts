/**
 * Who is calling the token, introspection or revocation endpoint (RFC 6749 §2.3, §3.2.1).
 * - Public clients send `client_id` only.
 * - Confidential asymmetric clients send `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
 *   and a `client_assertion` JWT (SMART App Launch 2.x "Client Authentication: Asymmetric"; RFC 7523 §3):
 *   `iss` = `sub` = client_id, `aud` = the token endpoint, `exp` at most 5 minutes ahead, a unique `jti`,
 *   signed RS384 or ES384 with a key from the client's registered JWKS.
 * Every failure is `invalid_client` (401), the RFC 6749 §5.2 code for failed client authentication.
 */
import { decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { createMemoryReplayCache, replayTtlMs } from '../../../server/src/http/replay-cache';
import { oauthError } from '../http/errors';
import type { ClientRegistry, SmartClient } from './clients';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384'];
/** SMART Backend Services: "exp … no more than five minutes in the future". */
const MAX_ASSERTION_LIFETIME_S = 300;

export interface ClientAuthenticator {
  /** The authenticated (or, for public clients, identified) client. */
  authenticate(params: Record<string, string | undefined>): Promise<SmartClient>;
}

export function createClientAuthenticator(options: {
  clients: ClientRegistry;
  tokenEndpoint: string;
  now: () => number;
}): ClientAuthenticator {
  /** `client jti`, each until its assertion expires: each assertion is accepted once (RFC 7523 §3 item 7). */
  const seenJtis = createMemoryReplayCache({ now: options.now });

  async function verifyAssertion(assertion: string, claimedClientId: string | undefined): Promise<SmartClient> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(assertion).iss;
    } catch {
      throw oauthError('invalid_client', 'client_assertion is not a JWT');
    }
    const client = issuer === undefined ? undefined : options.clients.get(issuer);
    if (!client || issuer === undefined) {
      throw oauthError('invalid_client', `client_assertion issuer "${issuer ?? ''}" is not a registered client`);
    }
    if (claimedClientId !== undefined && claimedClientId !== issuer) {
      throw oauthError('invalid_client', 'client_id does not match the client_assertion issuer');
    }
    if (client.authMethod !== 'private_key_jwt' || !client.keys) {
      throw oauthError('invalid_client', `client ${client.clientId} is not registered for private_key_jwt`);
    }
    const nowS = Math.floor(options.now() / 1000);
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, client.keys, {
        algorithms: ASSERTION_ALGORITHMS,
        issuer: client.clientId,
        subject: client.clientId,
        audience: options.tokenEndpoint,
        requiredClaims: ['exp', 'jti'],
        currentDate: new Date(options.now()),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw oauthError('invalid_client', 'client_assertion expired');
      if (error instanceof joseErrors.JOSEAlgNotAllowed) {
        throw oauthError('invalid_client', `client_assertion must be signed ${ASSERTION_ALGORITHMS.join(' or ')}`);
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        throw oauthError('invalid_client', `client_assertion claim "${error.claim}" is not valid: ${error.reason}`);
      }
      throw oauthError('invalid_client', 'client_assertion signature does not verify with the registered keys');
    }
    if ((payload.exp ?? 0) > nowS + MAX_ASSERTION_LIFETIME_S) {
      throw oauthError('invalid_client', 'client_assertion exp is more than 5 minutes in the future');
    }
    if (
      await seenJtis.seen(
        `${client.clientId} ${String(payload.jti)}`,
        replayTtlMs({ expiresAtS: payload.exp ?? nowS }, { clockToleranceS: 0 }, options.now()),
      )
    ) {
      throw oauthError('invalid_client', 'client_assertion jti was already used');
    }
    return client;
  }

  return {
    async authenticate(params) {
      const assertion = params.client_assertion;
      if (assertion !== undefined || params.client_assertion_type !== undefined) {
        if (params.client_assertion_type !== JWT_BEARER_ASSERTION) {
          throw oauthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
        }
        if (assertion === undefined || assertion === '')
          throw oauthError('invalid_client', 'client_assertion is empty');
        return verifyAssertion(assertion, params.client_id);
      }
      const clientId = params.client_id;
      if (clientId === undefined || clientId === '') {
        throw oauthError('invalid_client', 'client authentication is required: client_id or client_assertion');
      }
      const client = options.clients.get(clientId);
      if (!client) throw oauthError('invalid_client', `client_id "${clientId}" is not registered`);
      if (client.authMethod !== 'none') {
        throw oauthError(
          'invalid_client',
          `client ${clientId} must authenticate with a client_assertion (private_key_jwt)`,
        );
      }
      return client;
    },
  };
}
