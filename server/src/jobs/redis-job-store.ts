/**
 * What the BullMQ engine keeps in Redis beside BullMQ's own jobs (issue 23), shared by the API processes
 * (bullmq-jobs.ts) and the workers (bullmq-worker.ts). BullMQ holds the job itself — its data (sealed, no token), its
 * state, its progress (`ProgressRecord`) and its result — and publishes its events; this store holds what several
 * processes must decide atomically, each decision one Lua script:
 *
 *   ldh-cds:job-key:<sha256 of the job key>   the job id a request for the same EHR, study and model version joins
 *   ldh-cds:job:<id>                          hash: `live` while unfinished, `meta` (study, model, createdAt, JSON),
 *                                             `cancel` once asked to stop, `writing` once it began writing, `final`
 *                                             (the final snapshot of a job cancelled before a worker took it)
 *   ldh-cds:job:<id>:readers                  the reader keys (http/caller-keys.ts) that submitted or joined it
 *   ldh-cds:job:<id>:users                    the user keys (hashed) it counts against
 *   ldh-cds:user:<sha256 of the user key>     the ids of the jobs a user submitted or joined (per-user limit)
 *
 * No key or value holds an access token: reader and user keys are the caller's verified identity (a token hash only
 * for a caller the EHR names no user for), and a worker acts with its own Backend Services token.
 *
 * Unfinished jobs' keys expire after a week at most (a lost job cannot pin a user's limit for ever); finished ones an
 * hour after they finish, as BullMQ forgets them (`removeOnComplete` / `removeOnFail`). The scripts name keys they
 * compute, so the store needs one Redis (with replicas if wanted), not a Redis Cluster.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ModelRef } from '../findings/findings';
import type { AnalysisJobData, AnalysisJobProgress, AnalysisJobSnapshot } from './analysis-jobs';

/** BullMQ's key prefix and ours: `ldh-cds:analyses:…` are BullMQ's keys, `ldh-cds:job:…` ours. */
export const KEY_PREFIX = 'ldh-cds';
export const QUEUE_NAME = 'analyses';
/** What BullMQ stores as a job cancelled by a user (its failedReason). */
export const CANCELLED_REASON = 'ldh-cds: cancelled';
/** How long a finished job is kept for a reload to read, seconds (BullMQ's and ours alike). */
export const KEEP_FINISHED_S = 60 * 60;
/** The longest an unfinished job's keys are kept, seconds. */
const KEEP_UNFINISHED_S = 7 * 24 * 60 * 60;

/** What is sealed into a BullMQ job's data (the API signs it, a worker checks the seal): no credential. */
export interface QueuedAnalysis {
  /** The BullMQ job id it was sealed for: a seal is not valid under another id. */
  id: string;
  data: AnalysisJobData;
  createdAt: string;
}

/** A BullMQ job's data. */
export interface SealedJobData {
  sealed: string;
}

/** What a job's BullMQ progress holds: the state and progress of its snapshot, and its event's sequence number. */
export interface ProgressRecord {
  sequence: number;
  state: 'queued' | 'running';
  progress: AnalysisJobProgress;
  startedAt?: string;
}

export function isProgressRecord(value: unknown): value is ProgressRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Partial<ProgressRecord>;
  return (
    typeof record.sequence === 'number' &&
    (record.state === 'queued' || record.state === 'running') &&
    typeof record.progress?.stage === 'string' &&
    typeof record.progress.text === 'string'
  );
}

/** The snapshot's fields that never change. */
export interface JobMeta {
  imagingStudy: string;
  model: ModelRef;
  createdAt: string;
}

export interface FinalRecord {
  snapshot: AnalysisJobSnapshot;
  sequence: number;
}

export interface JobRecord {
  live: boolean;
  cancel: boolean;
  writing: boolean;
  meta: JobMeta;
  final?: FinalRecord;
}

export type SubmitOutcome =
  { outcome: 'created' | 'joined'; id: string } | { outcome: 'user-limit'; count: number } | { outcome: 'queue-full' };

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64url');

const jobHash = (id: string): string => `${KEY_PREFIX}:job:${id}`;

/**
 * Join, refuse or create, in one step. KEYS: the job-key key, the user's set. ARGV: new id, reader, user hash, the
 * per-user limit, whether the queue is full ('1'), meta JSON, the prefix, the unfinished TTL.
 * A job is joinable while it is live and not being cancelled; a user's dead ids are dropped as they are counted.
 */
const SUBMIT = `
local prefix = ARGV[7]
local ttl = tonumber(ARGV[8])
local existing = redis.call('GET', KEYS[1])
if existing then
  local job = prefix .. ':job:' .. existing
  if redis.call('HGET', job, 'live') == '1' and redis.call('HEXISTS', job, 'cancel') == 0 then
    redis.call('SADD', job .. ':readers', ARGV[2])
    redis.call('SADD', job .. ':users', ARGV[3])
    redis.call('SADD', KEYS[2], existing)
    redis.call('EXPIRE', KEYS[2], ttl)
    return {'joined', existing}
  end
end
if ARGV[5] == '1' then return {'queue-full', ''} end
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HGET', prefix .. ':job:' .. id, 'live') == '1' then
    count = count + 1
  else
    redis.call('SREM', KEYS[2], id)
  end
end
if count >= tonumber(ARGV[4]) then return {'user-limit', tostring(count)} end
local job = prefix .. ':job:' .. ARGV[1]
redis.call('HSET', job, 'live', '1', 'key', KEYS[1], 'meta', ARGV[6])
redis.call('SADD', job .. ':readers', ARGV[2])
redis.call('SADD', job .. ':users', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
for _, key in ipairs({job, job .. ':readers', job .. ':users', KEYS[2]}) do redis.call('EXPIRE', key, ttl) end
return {'created', ARGV[1]}
`;

/**
 * A job finished (or was cancelled before a worker took it): no longer live, joinable or counted; kept an hour.
 * KEYS: the job hash. ARGV: id, prefix, the finished TTL, the final record JSON or ''.
 */
const FINISH = `
local job = KEYS[1]
if redis.call('EXISTS', job) == 0 then return 0 end
local key = redis.call('HGET', job, 'key')
if key and redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
for _, user in ipairs(redis.call('SMEMBERS', job .. ':users')) do
  redis.call('SREM', ARGV[2] .. ':user:' .. user, ARGV[1])
end
redis.call('HDEL', job, 'live')
if ARGV[4] ~= '' then redis.call('HSET', job, 'final', ARGV[4]) end
local ttl = tonumber(ARGV[3])
for _, k in ipairs({job, job .. ':readers', job .. ':users'}) do redis.call('EXPIRE', k, ttl) end
return 1
`;

/**
 * Asks a job to stop, unless it finished or began writing. KEYS: the job hash. ARGV: id.
 * From the cancel on, a request for the same study starts a new job rather than join this one.
 */
const CANCEL = `
local job = KEYS[1]
if redis.call('HGET', job, 'live') ~= '1' then return 'finished' end
if redis.call('HEXISTS', job, 'writing') == 1 then return 'writing' end
redis.call('HSET', job, 'cancel', '1')
local key = redis.call('HGET', job, 'key')
if key and redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
return 'requested'
`;

/** The point of no return, settled against a cancel from any process: 1 = write, 0 = it was cancelled. */
const BEGIN_WRITING = `
if redis.call('HEXISTS', KEYS[1], 'cancel') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'writing', '1')
return 1
`;

export interface JobStore {
  readonly redis: Redis;
  submit(request: {
    key: string;
    id: string;
    reader: string;
    user: string;
    maxPerUser: number;
    queueFull: boolean;
    meta: JobMeta;
  }): Promise<SubmitOutcome>;
  record(id: string): Promise<JobRecord | undefined>;
  isReader(id: string, reader: string): Promise<boolean>;
  finish(id: string, final?: FinalRecord): Promise<void>;
  requestCancel(id: string): Promise<'requested' | 'writing' | 'finished'>;
  beginWriting(id: string): Promise<boolean>;
  cancelRequested(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * A Redis connection for the store's own commands (BullMQ opens its own). A command waits for `retries` reconnect
 * attempts at most: an API process answers soon (3), a worker rides out a Redis restart (20, about 20 s).
 */
export function createJobStore(redisUrl: string, retries = 3): JobStore {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: retries, connectionName: 'ldh-cds:store' });
  // Errors are reported by the commands that fail; without a listener ioredis would print each reconnect attempt.
  redis.on('error', () => undefined);
  const run = async (script: string, keys: string[], args: (string | number)[]): Promise<unknown> =>
    redis.eval(script, keys.length, ...keys, ...args.map(String));

  return {
    redis,
    async submit({ key, id, reader, user, maxPerUser, queueFull, meta }) {
      const userHash = sha256(user);
      const answer = (await run(
        SUBMIT,
        [`${KEY_PREFIX}:job-key:${sha256(key)}`, `${KEY_PREFIX}:user:${userHash}`],
        [id, reader, userHash, maxPerUser, queueFull ? '1' : '0', JSON.stringify(meta), KEY_PREFIX, KEEP_UNFINISHED_S],
      )) as [string, string];
      const [outcome, value] = answer;
      if (outcome === 'joined' || outcome === 'created') return { outcome, id: value };
      if (outcome === 'user-limit') return { outcome, count: Number(value) };
      return { outcome: 'queue-full' };
    },

    async record(id) {
      const fields = await redis.hgetall(jobHash(id));
      if (fields.meta === undefined) return undefined;
      return {
        live: fields.live === '1',
        cancel: fields.cancel === '1',
        writing: fields.writing === '1',
        meta: JSON.parse(fields.meta) as JobMeta,
        ...(fields.final ? { final: JSON.parse(fields.final) as FinalRecord } : {}),
      };
    },

    async isReader(id, reader) {
      return (await redis.sismember(`${jobHash(id)}:readers`, reader)) === 1;
    },

    async finish(id, final) {
      await run(FINISH, [jobHash(id)], [id, KEY_PREFIX, KEEP_FINISHED_S, final ? JSON.stringify(final) : '']);
    },

    async requestCancel(id) {
      return (await run(CANCEL, [jobHash(id)], [id])) as 'requested' | 'writing' | 'finished';
    },

    async beginWriting(id) {
      return (await run(BEGIN_WRITING, [jobHash(id)], [])) === 1;
    },

    async cancelRequested(id) {
      return (await redis.hexists(jobHash(id), 'cancel')) === 1;
    },

    async close() {
      await closeWithin(
        2000,
        () => redis.quit(),
        () => {
          redis.disconnect();
        },
      );
    },
  };
}

/**
 * Closes gracefully within `ms`, else forcibly: a connection to a Redis that is away would wait for it for ever, and
 * a process must still stop.
 */
export async function closeWithin(ms: number, close: () => Promise<unknown>, force: () => unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => {
      resolve('late');
    }, ms);
  });
  // Forcing is not waited for long either: it is a last resort, the process goes on stopping.
  const forced = async (): Promise<void> => {
    let wait: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.resolve()
        .then(force)
        .catch(() => undefined),
      new Promise((resolve) => (wait = setTimeout(resolve, 1000))),
    ]);
    clearTimeout(wait);
  };
  try {
    const outcome = await Promise.race([close().then(() => 'closed' as const), late]);
    if (outcome === 'late') await forced();
  } catch {
    await forced();
  } finally {
    clearTimeout(timer);
  }
}

/** The connection options BullMQ's Queue, QueueEvents and Worker get. */
export function bullConnection(redisUrl: string) {
  return { connection: { url: redisUrl }, prefix: KEY_PREFIX };
}

/** `redis://host:port` of a Redis URL, without credentials (for logs and /readyz). */
export function redisAddress(redisUrl: string): string {
  try {
    const url = new URL(redisUrl);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return 'the configured Redis';
  }
}

/** A sealed job's value, checked for the fields a worker reads (the seal vouches for the rest). */
export function queuedAnalysisOf(value: unknown): QueuedAnalysis {
  const candidate = value as Partial<QueuedAnalysis> | null;
  const data = candidate?.data;
  if (
    typeof candidate?.id !== 'string' ||
    typeof candidate.createdAt !== 'string' ||
    typeof data?.fhirBaseUrl !== 'string' ||
    typeof data.imagingStudy !== 'string' ||
    typeof data.model.id !== 'string' ||
    !Array.isArray(data.imagingOrigins)
  ) {
    throw new Error('the sealed job is not an analysis job');
  }
  return candidate as QueuedAnalysis;
}
