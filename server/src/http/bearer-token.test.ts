import { describe, expect, it } from 'vitest';
import { bearerTokenOf } from './bearer-token';

describe('bearerTokenOf', () => {
  it('when the header is "Bearer <token>" in any case, then it is the token', () => {
    expect(bearerTokenOf('Bearer abc.def')).toBe('abc.def');
    expect(bearerTokenOf('bearer   xyz')).toBe('xyz');
  });

  it('when the header is missing, of another scheme or has more than one token, then there is none', () => {
    expect(bearerTokenOf(undefined)).toBeUndefined();
    expect(bearerTokenOf('Basic dXNlcjpwdw==')).toBeUndefined();
    expect(bearerTokenOf('Bearer a b')).toBeUndefined();
    expect(bearerTokenOf('Bearer ')).toBeUndefined();
  });
});
