/**
 * Search result paging, as real FHIR servers do it (FHIR R4 http.html#paging, search.html#count): a searchset holds at
 * most `_count` entries (a server default when the client names none) and links to the next page with `next`. The
 * in-memory engine returns every match at once; paging here makes the mock EHR as strict as a production server, so
 * a client that reads only the first page is caught by the tests.
 */
import type { Bundle } from '@medplum/fhirtypes';

/** Entries per page when the request has no `_count` (HAPI FHIR's default too). */
export const DEFAULT_PAGE_SIZE = 20;
/** The most entries one page holds, whatever `_count` asks for. */
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  count: number;
  offset: number;
}

function nonNegativeInteger(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** The page a search asks for; the query the engine runs always carries an explicit `_count` and `_offset`. */
export function pageRequestOf(query: URLSearchParams): { page: PageRequest; query: URLSearchParams } {
  const count = Math.min(nonNegativeInteger(query.get('_count')) ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const offset = nonNegativeInteger(query.get('_offset')) ?? 0;
  const paged = new URLSearchParams(query);
  paged.set('_count', String(count));
  paged.set('_offset', String(offset));
  return { page: { count, offset }, query: paged };
}

/** Adds `self` and, when more matches remain, `next` links (absolute URLs on the public FHIR base). */
export function withPagingLinks(bundle: Bundle, page: PageRequest, pageUrl: (offset: number) => string): Bundle {
  const shown = (bundle.entry ?? []).filter((entry) => entry.search?.mode !== 'include').length;
  const total = bundle.total;
  const more = total === undefined ? shown === page.count && page.count > 0 : page.offset + shown < total;
  return {
    ...bundle,
    link: [
      { relation: 'self', url: pageUrl(page.offset) },
      ...(more ? [{ relation: 'next', url: pageUrl(page.offset + page.count) }] : []),
    ],
  };
}
