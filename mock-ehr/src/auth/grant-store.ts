/**
 * In-memory state of the authorization server: EHR launches, authorization codes and refresh tokens. Everything
 * expires; codes are single use (RFC 6749 §4.1.2: "MUST NOT use the authorization code more than once").
 *
 * Pruned and bounded: each kind is an LRU cache (lru-cache) whose entries leave a while after they expire (kept
 * `EXPIRED_GRACE_MS` longer, so a late redemption hears "expired" rather than "unknown"), and of which at most
 * `maxEntries` are kept — past that the least recently used is forgotten first, so a flood of authorize requests
 * or launches cannot grow the EHR's memory.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export const LAUNCH_TTL_MS = 60 * 60 * 1000;
/** RFC 6749 §4.1.2 recommends a maximum code lifetime of 10 minutes; we use 5. */
export const CODE_TTL_MS = 5 * 60 * 1000;
export const REFRESH_TTL_MS = 24 * 60 * 60 * 1000;

/** Who launched the app from which chart (SMART EHR launch, "launch" parameter). */
export interface LaunchContext {
  patientId: string;
  practitionerId: string;
  /** CDS Hooks 2.0 Link.appContext, handed to the app in the token response. */
  appContext?: string;
}

/** What an authorization code, refresh token or access token stands for. */
export interface Grant {
  clientId: string;
  scopes: string[];
  /** Absent for backend services (client_credentials) and user-only standalone launches. */
  patientId?: string;
  /** The signed-in user; absent for backend services. */
  practitionerId?: string;
  appContext?: string;
  /** OpenID Connect `nonce` of the authorize request, echoed in the id_token. */
  nonce?: string;
}

/** A standalone authorization in progress: login → patient picker → consent (SMART "Standalone Launch"). */
export interface PendingAuthorization {
  clientId: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  scopes: string[];
  nonce?: string;
  practitionerId?: string;
  patientId?: string;
}

/** Standalone authorizations must be finished within this time. */
export const PENDING_TTL_MS = 10 * 60 * 1000;

interface StoredCode extends Grant {
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
  used: boolean;
}

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/** 256 bits from the CSPRNG, base64url. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** How long an expired entry is still known (to say "expired"), after which it is dropped. */
export const EXPIRED_GRACE_MS = 10 * 60 * 1000;
/** Default bound on the entries of each kind (launches, codes, refresh tokens, standalone authorizations). */
export const MAX_GRANT_ENTRIES = 10_000;

export interface GrantStoreOptions {
  /** Most entries of each kind kept at once (default `MAX_GRANT_ENTRIES`). */
  maxEntries?: number;
}

export class GrantStore {
  private readonly launches: LRUCache<string, Expiring<LaunchContext>>;
  private readonly codes: LRUCache<string, StoredCode>;
  private readonly refreshTokens: LRUCache<string, Expiring<Grant>>;
  private readonly pending: LRUCache<string, Expiring<PendingAuthorization>>;

  constructor(
    private readonly now: () => number = Date.now,
    { maxEntries = MAX_GRANT_ENTRIES }: GrantStoreOptions = {},
  ) {
    // The caches keep time by the store's clock (tests move it), read at every check (ttlResolution 0).
    const cache = <V extends object>(lifetimeMs: number) =>
      new LRUCache<string, V>({ max: maxEntries, ttl: lifetimeMs + EXPIRED_GRACE_MS, perf: { now }, ttlResolution: 0 });
    this.launches = cache(LAUNCH_TTL_MS);
    this.codes = cache(CODE_TTL_MS);
    this.refreshTokens = cache(REFRESH_TTL_MS);
    this.pending = cache(PENDING_TTL_MS);
  }

  /** Entries held now, per kind (expired ones past their grace are dropped first): for tests and diagnostics. */
  sizes(): { launches: number; codes: number; refreshTokens: number; pending: number } {
    const held = <V extends object>(cache: LRUCache<string, V>): number => {
      cache.purgeStale();
      return cache.size;
    };
    return {
      launches: held(this.launches),
      codes: held(this.codes),
      refreshTokens: held(this.refreshTokens),
      pending: held(this.pending),
    };
  }

  createLaunch(context: LaunchContext): string {
    const id = randomToken();
    this.launches.set(id, { value: context, expiresAt: this.now() + LAUNCH_TTL_MS });
    return id;
  }

  /** A launch id may be redeemed more than once within its lifetime (the app may re-authorize on reload). */
  getLaunch(id: string): LaunchContext | undefined {
    const entry = this.launches.get(id);
    if (!entry || entry.expiresAt < this.now()) return undefined;
    return entry.value;
  }

  createCode(grant: Grant, redirectUri: string, codeChallenge: string): string {
    const code = randomToken();
    this.codes.set(code, { ...grant, redirectUri, codeChallenge, expiresAt: this.now() + CODE_TTL_MS, used: false });
    return code;
  }

  /**
   * Marks the code used and returns it; `reason` says why it cannot be redeemed. The code is consumed even when the
   * caller later rejects the request (wrong verifier), so a guessed verifier cannot be retried.
   */
  redeemCode(code: string): { ok: true; code: StoredCode } | { ok: false; reason: string } {
    const stored = this.codes.get(code);
    if (!stored) return { ok: false, reason: 'unknown authorization code' };
    if (stored.used) return { ok: false, reason: 'authorization code already used' };
    stored.used = true;
    if (stored.expiresAt < this.now()) return { ok: false, reason: 'authorization code expired' };
    return { ok: true, code: stored };
  }

  createRefreshToken(grant: Grant): string {
    const token = randomToken();
    this.refreshTokens.set(token, { value: grant, expiresAt: this.now() + REFRESH_TTL_MS });
    return token;
  }

  getRefreshGrant(token: string): Grant | undefined {
    const entry = this.refreshTokens.get(token);
    if (!entry || entry.expiresAt < this.now()) return undefined;
    return entry.value;
  }

  /** RFC 7009: a revoked refresh token is forgotten. Returns whether it existed. */
  revokeRefreshToken(token: string): boolean {
    return this.refreshTokens.delete(token);
  }

  /** Starts a standalone authorization; the returned id travels in the login/picker/consent forms. */
  createPending(request: PendingAuthorization): string {
    const id = randomToken();
    this.pending.set(id, { value: request, expiresAt: this.now() + PENDING_TTL_MS });
    return id;
  }

  getPending(id: string | undefined): PendingAuthorization | undefined {
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (!entry || entry.expiresAt < this.now()) return undefined;
    return entry.value;
  }

  /** The authorization ends (code issued or refused): its id cannot be replayed. */
  finishPending(id: string): void {
    this.pending.delete(id);
  }

  /** Tests reset state between cases (SMART launcher v2 practice). */
  clear(): void {
    this.launches.clear();
    this.codes.clear();
    this.refreshTokens.clear();
    this.pending.clear();
  }
}
