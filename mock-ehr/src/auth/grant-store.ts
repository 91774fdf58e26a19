/**
 * In-memory state of the authorization server: EHR launches, authorization codes and refresh tokens. Everything
 * expires; codes are single use (RFC 6749 §4.1.2: "MUST NOT use the authorization code more than once").
 */
import { randomBytes } from 'node:crypto';

export const LAUNCH_TTL_MS = 60 * 60 * 1000;
/** RFC 6749 §4.1.2 recommends a maximum code lifetime of 10 minutes; we use 5. */
export const CODE_TTL_MS = 5 * 60 * 1000;
export const REFRESH_TTL_MS = 24 * 60 * 60 * 1000;

/** Who launched the app from which chart (SMART EHR launch, "launch" parameter). */
export interface LaunchContext {
  patientId: string;
  practitionerId: string;
}

/** What an authorization code or refresh token stands for. */
export interface Grant extends LaunchContext {
  clientId: string;
  scopes: string[];
}

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

export class GrantStore {
  private readonly launches = new Map<string, Expiring<LaunchContext>>();
  private readonly codes = new Map<string, StoredCode>();
  private readonly refreshTokens = new Map<string, Expiring<Grant>>();

  constructor(private readonly now: () => number = Date.now) {}

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

  /** Tests reset state between cases (SMART launcher v2 practice). */
  clear(): void {
    this.launches.clear();
    this.codes.clear();
    this.refreshTokens.clear();
  }
}
