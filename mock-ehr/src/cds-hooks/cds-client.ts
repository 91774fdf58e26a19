/**
 * The EHR side of CDS Hooks 2.0: discovery, hook calls and feedback, each authenticated with a JWT the EHR signs
 * (§Trusting CDS Clients: ES384, header `kid` and `jku`, claims iss/aud/exp/iat/jti; `aud` = the exact URL
 * called). The public key is published at `{EHR}/cds-hooks/jwks.json` for services to trust.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SigningKey } from '../auth/signing-key';

export const CDS_SIGNING_KEY = { alg: 'ES384', file: 'cds-signing-key.private.jwk.json' } as const;
/** CDS Hooks recommends a short lifetime: the JWT authenticates one call. */
const JWT_LIFETIME_S = 300;
const CALL_TIMEOUT_MS = 10_000;

export interface CdsServiceDescription {
  hook: string;
  id: string;
  title?: string;
  description: string;
  prefetch?: Record<string, string>;
}

export interface CdsLink {
  label: string;
  url: string;
  type: 'absolute' | 'smart';
  appContext?: string;
}

export interface CdsAction {
  type: 'create' | 'update' | 'delete';
  description: string;
  resource?: { resourceType: string; id?: string } & Record<string, unknown>;
  resourceId?: string[];
}

export interface CdsSuggestion {
  label: string;
  uuid?: string;
  isRecommended?: boolean;
  actions?: CdsAction[];
}

export interface CdsCoding {
  code: string;
  system?: string;
  display?: string;
}

export interface CdsCard {
  uuid?: string;
  summary: string;
  detail?: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; url?: string; icon?: string; topic?: CdsCoding };
  suggestions?: CdsSuggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: CdsCoding[];
  links?: CdsLink[];
}

export interface HookRequest {
  hook: string;
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: {
    access_token: string;
    token_type: 'Bearer';
    expires_in: number;
    scope: string;
    subject: string;
    patient?: string;
  };
  context: Record<string, unknown>;
  prefetch?: Record<string, unknown>;
}

export interface FeedbackItem {
  card: string;
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions?: { id: string }[];
  overrideReason?: { reason?: CdsCoding; userComment?: string };
  outcomeTimestamp: string;
}

/**
 * A failed call keeps the status and body (docs/architecture.md §Where each concern lives: upstream failures keep
 * status and body).
 */
export class CdsCallError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body: string,
  ) {
    super(message);
    this.name = 'CdsCallError';
  }
}

export class CdsHooksClient {
  constructor(
    private readonly options: {
      /** `iss` of our JWTs: the EHR's base URL. */
      issuer: string;
      key: SigningKey;
      /** Where the public key is published (JWT header `jku`). */
      jwksUrl: string;
      now?: () => number;
    },
  ) {}

  /** The signed bearer JWT for one call to `url`. */
  async signFor(url: string): Promise<string> {
    const iat = Math.floor((this.options.now ?? Date.now)() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: this.options.key.kid, typ: 'JWT', jku: this.options.jwksUrl })
      .setIssuer(this.options.issuer)
      .setAudience(url)
      .setIssuedAt(iat)
      .setExpirationTime(iat + JWT_LIFETIME_S)
      .setJti(randomUUID())
      .sign(this.options.key.privateKey);
  }

  /** `timeoutMs`: how long the EHR waits for the service (default 10 s; the chart waits less: orders-router.ts). */
  async discover(servicesBaseUrl: string, timeoutMs = CALL_TIMEOUT_MS): Promise<CdsServiceDescription[]> {
    const body = (await this.request('GET', `${servicesBaseUrl}/cds-services`, undefined, false, timeoutMs)) as {
      services?: CdsServiceDescription[];
    };
    return body.services ?? [];
  }

  async call(
    servicesBaseUrl: string,
    serviceId: string,
    request: HookRequest,
    timeoutMs = CALL_TIMEOUT_MS,
  ): Promise<CdsCard[]> {
    const url = `${servicesBaseUrl}/cds-services/${encodeURIComponent(serviceId)}`;
    const body = (await this.request('POST', url, request, true, timeoutMs)) as { cards?: CdsCard[] };
    return body.cards ?? [];
  }

  async feedback(servicesBaseUrl: string, serviceId: string, feedback: FeedbackItem[]): Promise<void> {
    const url = `${servicesBaseUrl}/cds-services/${encodeURIComponent(serviceId)}/feedback`;
    await this.request('POST', url, { feedback }, true);
  }

  private async request(
    method: 'GET' | 'POST',
    url: string,
    body: unknown,
    signed: boolean,
    timeoutMs = CALL_TIMEOUT_MS,
  ): Promise<unknown> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (signed) headers.Authorization = `Bearer ${await this.signFor(url)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CdsCallError(`CDS service ${url} unreachable: ${(error as Error).message}`, undefined, '');
    }
    const text = await response.text();
    if (!response.ok) throw new CdsCallError(`CDS service ${url} answered ${response.status}`, response.status, text);
    try {
      return text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      throw new CdsCallError(`CDS service ${url} answered invalid JSON`, response.status, text.slice(0, 200));
    }
  }
}
