import { describe, expect, it } from 'vitest';
import { offersSubscriptions } from './subscription';

const capability = (resource: unknown[], mode = 'server') => ({
  resourceType: 'CapabilityStatement',
  rest: [{ mode, resource }],
});

describe('whether an EHR offers Subscriptions (its CapabilityStatement)', () => {
  it('when it lists Subscription with create, then it does', () => {
    const subscription = { type: 'Subscription', interaction: [{ code: 'read' }, { code: 'create' }] };
    expect(
      offersSubscriptions(capability([{ type: 'ImagingStudy', interaction: [{ code: 'search-type' }] }, subscription])),
    ).toBe(true);
  });

  it('when Subscription is missing, read-only, or listed for client mode only, then it does not', () => {
    expect(offersSubscriptions(capability([{ type: 'ImagingStudy', interaction: [{ code: 'create' }] }]))).toBe(false);
    expect(offersSubscriptions(capability([{ type: 'Subscription', interaction: [{ code: 'read' }] }]))).toBe(false);
    expect(
      offersSubscriptions(capability([{ type: 'Subscription', interaction: [{ code: 'create' }] }], 'client')),
    ).toBe(false);
  });

  it('when the answer is not a CapabilityStatement at all, then it does not', () => {
    for (const answer of [
      null,
      'metadata',
      {},
      { rest: 'x' },
      { rest: [null] },
      { rest: [{ mode: 'server', resource: [null] }] },
    ])
      expect(offersSubscriptions(answer)).toBe(false);
  });
});
