import { describe, expect, it } from 'vitest';
import {
  CODE_TTL_MS,
  EXPIRED_GRACE_MS,
  GrantStore,
  LAUNCH_TTL_MS,
  PENDING_TTL_MS,
  REFRESH_TTL_MS,
} from './grant-store';

const grant = { clientId: 'ldh-cds', scopes: ['launch'], patientId: 'p1', practitionerId: 'dr' };
const pendingRequest = {
  clientId: 'ldh-cds',
  redirectUri: 'http://app/index.html',
  state: 's',
  codeChallenge: 'c',
  scopes: ['launch/patient'],
};

describe('GrantStore pruning', () => {
  it('when launches, codes, refresh tokens and sign-ins have expired, then they are dropped once past the grace', () => {
    let now = 1_000_000;
    const store = new GrantStore(() => now);
    store.createLaunch({ patientId: 'p1', practitionerId: 'dr' });
    store.createCode(grant, 'http://app/index.html', 'c');
    store.createRefreshToken(grant);
    store.createPending(pendingRequest);
    expect(store.sizes()).toEqual({ launches: 1, codes: 1, refreshTokens: 1, pending: 1 });

    now += Math.max(CODE_TTL_MS, PENDING_TTL_MS) + EXPIRED_GRACE_MS + 1;
    expect(store.sizes()).toEqual({ launches: 1, codes: 0, refreshTokens: 1, pending: 0 });
    now += LAUNCH_TTL_MS + EXPIRED_GRACE_MS;
    expect(store.sizes()).toEqual({ launches: 0, codes: 0, refreshTokens: 1, pending: 0 });
    now += REFRESH_TTL_MS + EXPIRED_GRACE_MS;
    expect(store.sizes()).toEqual({ launches: 0, codes: 0, refreshTokens: 0, pending: 0 });
  });

  it('when a code is redeemed just after it expired, then the answer still says expired (not unknown)', () => {
    let now = 1_000_000;
    const store = new GrantStore(() => now);
    const code = store.createCode(grant, 'http://app/index.html', 'c');
    now += CODE_TTL_MS + 1;
    expect(store.redeemCode(code)).toEqual({ ok: false, reason: 'authorization code expired' });
  });

  it('when more launches arrive than it may hold, then the least recently used are forgotten first', () => {
    const store = new GrantStore(Date.now, { maxEntries: 3 });
    const ids = Array.from({ length: 5 }, (_, index) =>
      store.createLaunch({ patientId: `p${index}`, practitionerId: 'dr' }),
    );
    expect(store.sizes().launches).toBe(3);
    expect(store.getLaunch(ids[0] ?? '')).toBeUndefined();
    expect(store.getLaunch(ids[4] ?? '')).toEqual({ patientId: 'p4', practitionerId: 'dr' });
  });
});
