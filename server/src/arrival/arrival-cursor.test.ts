import type { ImagingStudy } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import {
  afterStudy,
  arrivalSearchParams,
  emptyCursor,
  isHandled,
  parseCursor,
  withoutPending,
  withPending,
  type ArrivalCursor,
} from './arrival-cursor';

const study = (id: string, lastUpdated?: string): ImagingStudy => ({
  resourceType: 'ImagingStudy',
  id,
  status: 'available',
  subject: { reference: 'Patient/p' },
  ...(lastUpdated === undefined ? {} : { meta: { lastUpdated } }),
});

/** What the watcher does with one page: skip what the cursor passed, move past the rest in order. */
function handlePage(cursor: ArrivalCursor, page: ImagingStudy[]): { cursor: ArrivalCursor; handled: string[] } {
  const handled: string[] = [];
  for (const s of page) {
    if (isHandled(cursor, s)) continue;
    handled.push(s.id ?? '');
    cursor = afterStudy(cursor, s);
  }
  return { cursor, handled };
}

describe('the arrival cursor', () => {
  it('when there is no cursor yet, then the search asks for every study, oldest first, a page at a time', () => {
    expect(arrivalSearchParams(emptyCursor(), 50)).toEqual({ _sort: '_lastUpdated', _count: '50' });
  });

  it('when studies were handled, then the search asks from the newest instant on, inclusive (ge)', () => {
    const cursor = afterStudy(
      afterStudy(emptyCursor(), study('a', '2026-03-01T10:00:00.000Z')),
      study('b', '2026-03-01T10:00:05.000Z'),
    );
    expect(arrivalSearchParams(cursor, 20)).toEqual({
      _lastUpdated: 'ge2026-03-01T10:00:05.000Z',
      _sort: '_lastUpdated',
      _count: '20',
    });
    expect(cursor.handledAtSince).toEqual(['b']);
  });

  it('when a page ends between two studies of the same instant, then the next read skips the one handled and takes the other', () => {
    const same = '2026-03-01T10:00:00.000Z';
    // First page (size 2): a (older), b at `same`; c, also at `same`, is on the next page.
    let { cursor, handled } = handlePage(emptyCursor(), [study('a', '2026-03-01T09:59:00.000Z'), study('b', same)]);
    expect(handled).toEqual(['a', 'b']);
    // The next read asks ge `same`: b comes back and is skipped, c is new.
    ({ cursor, handled } = handlePage(cursor, [study('b', same), study('c', same)]));
    expect(handled).toEqual(['c']);
    expect(cursor).toMatchObject({ since: same, handledAtSince: ['b', 'c'] });
    // A restart reads the stored cursor: nothing is handled twice, a later study is taken.
    const restored = parseCursor(JSON.parse(JSON.stringify(cursor)));
    expect(
      handlePage(restored, [study('b', same), study('c', same), study('d', '2026-03-01T10:00:00.001Z')]).handled,
    ).toEqual(['d']);
  });

  it('when instants are written with another precision or offset, then they are compared as instants', () => {
    const cursor = afterStudy(emptyCursor(), study('a', '2026-03-01T10:00:00Z'));
    expect(isHandled(cursor, study('a', '2026-03-01T11:00:00.000+01:00'))).toBe(true);
    expect(isHandled(cursor, study('x', '2026-03-01T09:59:59.999Z'))).toBe(true);
    expect(isHandled(cursor, study('y', '2026-03-01T10:00:00.000Z'))).toBe(false);
  });

  it('when a study has no meta.lastUpdated, then the cursor does not move', () => {
    const cursor = afterStudy(emptyCursor('2026-03-01T10:00:00.000Z'), study('a'));
    expect(cursor).toEqual(emptyCursor('2026-03-01T10:00:00.000Z'));
    expect(isHandled(cursor, study('a'))).toBe(false);
  });

  it('when jobs are queued and finish, then pending holds each study once, until it is taken off', () => {
    let cursor = withPending(emptyCursor(), { imagingStudy: 'ImagingStudy/s1', jobId: 'j1' });
    cursor = withPending(cursor, { imagingStudy: 'ImagingStudy/s2', jobId: 'j2' });
    cursor = withPending(cursor, { imagingStudy: 'ImagingStudy/s1', jobId: 'j3' });
    expect(cursor.pending).toEqual([
      { imagingStudy: 'ImagingStudy/s2', jobId: 'j2' },
      { imagingStudy: 'ImagingStudy/s1', jobId: 'j3' },
    ]);
    expect(withoutPending(cursor, 'ImagingStudy/s2').pending).toEqual([
      { imagingStudy: 'ImagingStudy/s1', jobId: 'j3' },
    ]);
  });

  it('when a stored cursor is not one, then parsing names what is wrong', () => {
    expect(() => parseCursor({ since: 'yesterday', handledAtSince: [], pending: [] })).toThrow(
      /^not an arrival cursor: since: /,
    );
    expect(() => parseCursor({ handledAtSince: [], pending: [{ imagingStudy: 'Patient/1', jobId: 'j' }] })).toThrow(
      /pending\.0\.imagingStudy/,
    );
    expect(() => parseCursor(null)).toThrow(/not an arrival cursor/);
    expect(parseCursor({ since: '2026-03-01T10:00:00.000Z', handledAtSince: ['a'], pending: [] })).toEqual({
      since: '2026-03-01T10:00:00.000Z',
      handledAtSince: ['a'],
      pending: [],
    });
  });
});
