/**
 * The analysis jobs API (issue 23), one table of routes:
 *   GET    /api/analyses/jobs/{id}         the job now (200, its snapshot)
 *   GET    /api/analyses/jobs/{id}/events  its progress as Server-Sent Events: `snapshot` (the job now), `progress`
 *                                          as it moves (≤ 10 a second), then one `completed`, `failed` or `cancelled`
 *                                          with the final snapshot, and the stream ends
 *   DELETE /api/analyses/jobs/{id}         cancel: 202 while it stops (nothing will be written), 200 once cancelled,
 *                                          409 once it has begun writing or has finished
 * Jobs are created by POST /api/analyses (analyses-router.ts). Every route verifies the caller's token as the others
 * do (`verifiedCaller`), and answers a job only to a caller who submitted or joined it (caller-keys.ts): anyone
 * else, like an unknown id, gets 404.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import {
  eventTypeOf,
  isFinishedState,
  type AnalysisJobEvent,
  type AnalysisJobs,
  type AnalysisJobSnapshot,
} from '../jobs/analysis-jobs';
import { verifiedCaller } from './analyses-router';
import { jobReaderKey } from './caller-keys';
import { openEventStream, type EventStream, type EventStreamOptions } from './event-stream';
import { jobNotFound, notCancellableError } from './job-answers';
import type { TokenVerifier } from './token-verifier';

export interface JobsRouterOptions {
  trustedFhirBaseUrls: readonly string[];
  tokens: TokenVerifier;
  jobs: AnalysisJobs;
  /** The event stream's timing (tests); defaults: retry 3 s, heartbeat 15 s, ≤ 10 events a second. */
  events?: EventStreamOptions;
}

/** Where a job is read: the `Location` of POST /api/analyses's 202. */
export const jobPath = (id: string): string => `/api/analyses/jobs/${id}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function streamEvent(sequence: number, type: string, snapshot: AnalysisJobSnapshot) {
  return {
    id: String(sequence),
    event: type,
    data: JSON.stringify(snapshot),
    // The next count of the same stage replaces one still waiting to be sent; a stage change never does.
    ...(type === 'progress' ? { coalesce: `${snapshot.state}:${snapshot.progress.stage}` } : {}),
  };
}

export function jobsRouter(options: JobsRouterOptions): Router {
  const { jobs } = options;

  /** The caller's reader key and the job id asked for; a malformed id is as unknown as any other. */
  const jobRequest = async (req: Request, res: Response) => {
    const { caller, user } = await verifiedCaller(req, res, options);
    const id = String(req.params.id);
    if (!UUID.test(id)) throw jobNotFound();
    return { id, reader: jobReaderKey(caller.fhirBaseUrl, user, caller.accessToken) };
  };

  const handleGet: RequestHandler = async (req, res) => {
    const { id, reader } = await jobRequest(req, res);
    const snapshot = await jobs.get(id, reader);
    if (!snapshot) throw jobNotFound();
    res.set('Cache-Control', 'no-store').json(snapshot);
  };

  const handleEvents: RequestHandler = async (req, res) => {
    const { id, reader } = await jobRequest(req, res);
    // Events that come while the stream opens wait here, so none is lost between the snapshot and the stream.
    const early: AnalysisJobEvent[] = [];
    const opened: { stream?: EventStream } = {};
    const forward = (event: AnalysisJobEvent): void => {
      const { stream } = opened;
      if (!stream) {
        early.push(event);
        return;
      }
      stream.send(streamEvent(event.sequence, event.type, event.snapshot));
      if (isFinishedState(event.snapshot.state)) stream.end();
    };
    const watch = await jobs.watch(id, reader, forward);
    if (!watch) throw jobNotFound();
    const stream = openEventStream(req, res, options.events);
    stream.onClose(() => {
      watch.stop();
    });
    stream.send(streamEvent(watch.sequence, 'snapshot', watch.snapshot));
    if (isFinishedState(watch.snapshot.state)) {
      // Finished before the stream opened: the final event at once, as a stream always ends with one.
      stream.send(streamEvent(watch.sequence, eventTypeOf(watch.snapshot.state), watch.snapshot));
      stream.end();
      return;
    }
    opened.stream = stream;
    for (const event of early) if (event.sequence > watch.sequence) forward(event);
  };

  const handleDelete: RequestHandler = async (req, res) => {
    const { id, reader } = await jobRequest(req, res);
    const cancelled = await jobs.cancel(id, reader);
    if (!cancelled) throw jobNotFound();
    if (cancelled.outcome === 'not-cancellable') throw notCancellableError(cancelled.snapshot.state);
    // RFC 9110 §15.3.3: 202, the cancel is under way (the job stops at its next request, frame or batch);
    // §15.3.1: 200, it is done.
    res.status(cancelled.outcome === 'cancelling' ? 202 : 200).json(cancelled.snapshot);
  };

  const router = Router();
  router.get('/api/analyses/jobs/:id', handleGet);
  router.get('/api/analyses/jobs/:id/events', handleEvents);
  router.delete('/api/analyses/jobs/:id', handleDelete);
  return router;
}
