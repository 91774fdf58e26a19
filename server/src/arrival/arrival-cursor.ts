/**
 * How far the arrival watcher has read an EHR (docs/deploy.md §Analyze on arrival): a restart goes on from here, so it
 * neither misses a study that arrived while it was down nor queues one again.
 *
 * The watcher reads `ImagingStudy?_lastUpdated=ge<since>&_sort=_lastUpdated` (FHIR R4 search.html#lastUpdated and
 * #_sort). `ge`, not `gt`: several studies can share one `meta.lastUpdated` (a bulk load, a server that keeps
 * seconds only), and a page can end between them; so the cursor keeps, besides the instant, the ids already handled
 * at exactly that instant, which the next read skips. Studies older than `since` are never asked for again.
 *
 * `pending` holds the studies the watcher queued whose job had not finished when it last looked: after a restart it
 * looks at them first, and queues again those the engine no longer knows (the in-process engine loses its jobs in a
 * restart; a job on the Redis queue survives it and is joined). It is bounded by the watcher's share of the queue
 * (MAX_CONCURRENT_ANALYSES_PER_USER). The cursor holds EHR resource ids and job ids only: no name, MRN or DICOM UID.
 */
import type { ImagingStudy } from 'fhir/r4';
import { z } from 'zod';

export interface PendingArrival {
  /** `ImagingStudy/<id>` on this EHR. */
  imagingStudy: string;
  /** The analysis job it was queued as (jobs/analysis-jobs.ts). */
  jobId: string;
}

export interface ArrivalCursor {
  /** `meta.lastUpdated` of the newest study handled, as the EHR wrote it; undefined: read from the first study. */
  since?: string;
  /** Ids of the studies handled whose `meta.lastUpdated` is `since`'s instant. */
  handledAtSince: string[];
  pending: PendingArrival[];
}

const cursorSchema = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
  handledAtSince: z.array(z.string().min(1)),
  pending: z.array(z.strictObject({ imagingStudy: z.string().regex(/^ImagingStudy\/\S+$/), jobId: z.string().min(1) })),
});

export function emptyCursor(since?: string): ArrivalCursor {
  return { ...(since === undefined ? {} : { since }), handledAtSince: [], pending: [] };
}

/** A stored cursor, checked; the error names what is wrong (`pending.0.jobId: …`). */
export function parseCursor(value: unknown): ArrivalCursor {
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `not an arrival cursor: ${(issue?.path ?? []).join('.') || '(the value)'}: ${issue?.message ?? ''}`,
    );
  }
  const { since, handledAtSince, pending } = parsed.data;
  return { ...(since === undefined ? {} : { since }), handledAtSince, pending };
}

/** The search that reads on from the cursor, oldest first, `pageSize` at a time. */
export function arrivalSearchParams(cursor: ArrivalCursor, pageSize: number): Record<string, string> {
  return {
    ...(cursor.since === undefined ? {} : { _lastUpdated: `ge${cursor.since}` }),
    _sort: '_lastUpdated',
    _count: String(pageSize),
  };
}

/** Milliseconds of a FHIR instant; NaN when it is missing or unreadable. */
const instantOf = (value: string | undefined): number => (value === undefined ? Number.NaN : Date.parse(value));

/** Whether the cursor has already passed this study (so a page that repeats it is skipped over). */
export function isHandled(cursor: ArrivalCursor, study: ImagingStudy): boolean {
  if (cursor.since === undefined) return false;
  const at = instantOf(study.meta?.lastUpdated);
  const since = instantOf(cursor.since);
  if (Number.isNaN(at)) return false;
  if (at < since) return true;
  return at === since && study.id !== undefined && cursor.handledAtSince.includes(study.id);
}

/**
 * The cursor once this study is handled (queued or skipped). Studies come oldest first: a newer one moves `since` to
 * its instant; one at the same instant joins `handledAtSince`. A study without `meta.lastUpdated` leaves it as it
 * was (a read by `_lastUpdated` cannot find it again anyway).
 */
export function afterStudy(cursor: ArrivalCursor, study: ImagingStudy): ArrivalCursor {
  const lastUpdated = study.meta?.lastUpdated;
  const at = instantOf(lastUpdated);
  if (lastUpdated === undefined || Number.isNaN(at) || study.id === undefined) return cursor;
  const since = instantOf(cursor.since);
  if (cursor.since === undefined || at > since) return { ...cursor, since: lastUpdated, handledAtSince: [study.id] };
  if (at === since && !cursor.handledAtSince.includes(study.id))
    return { ...cursor, handledAtSince: [...cursor.handledAtSince, study.id] };
  return cursor;
}

export function withPending(cursor: ArrivalCursor, pending: PendingArrival): ArrivalCursor {
  const others = cursor.pending.filter((entry) => entry.imagingStudy !== pending.imagingStudy);
  return { ...cursor, pending: [...others, pending] };
}

export function withoutPending(cursor: ArrivalCursor, imagingStudy: string): ArrivalCursor {
  return { ...cursor, pending: cursor.pending.filter((entry) => entry.imagingStudy !== imagingStudy) };
}
