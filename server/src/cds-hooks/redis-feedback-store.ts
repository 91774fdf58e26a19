/**
 * CDS Hooks feedback counted once for the whole deployment (REDIS_URL): several app server processes answer
 * `/cds-services/{id}/feedback`, and the counts the summary page shows must add up across them, each card outcome once
 * however many processes received its repeats (CDS Hooks 2.0 §Feedback allows the same feedback to arrive again).
 *
 * Each item is first appended to the host's JSON-lines file (CDS_FEEDBACK_FILE, feedback-store.ts): that is the durable
 * record, with the clinician's comment. Redis receives only what counting needs — a SHA-256 of the card uuid and
 * outcome, the card kind, the model version and the override reason code — so Redis still holds no patient data and
 * no free text (docs/deploy.md §Redis). One Lua script per item adds the outcome to the seen set and, if it was not
 * there, raises the counts: atomic, so two processes receiving the same feedback at once count it once.
 *
 * When Redis cannot answer, `add` rejects after the file write: the client is told to retry (the item is then on disk
 * twice, which the counting already treats as one).
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  appendFeedbackLines,
  type CdsFeedbackStore,
  type FeedbackCounts,
  type FeedbackRecord,
  type FeedbackSummary,
} from './feedback-store';

const SEEN_KEY = 'ldh-cds:cds-feedback:seen';
const COUNTS_KEY = 'ldh-cds:cds-feedback:counts';
/** Separates the parts of a counts field; kinds, model ids and reason codes never contain it. */
const SEP = '\u001f';

/**
 * KEYS: seen set, counts hash. ARGV: the outcome's hash, `<kind><SEP><model>`, outcome, override reason code.
 * Fields of the counts hash: `items`, `<kind><SEP><model><SEP>accepted|overridden`, `<kind><SEP><model><SEP>reason<SEP><code>`.
 */
const COUNT_SCRIPT = `
redis.call('HINCRBY', KEYS[2], 'items', 1)
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2] .. '${SEP}' .. ARGV[3], 1)
  if ARGV[3] == 'overridden' then
    redis.call('HINCRBY', KEYS[2], ARGV[2] .. '${SEP}reason${SEP}' .. ARGV[4], 1)
  end
end
return 1
`;

export interface RedisFeedbackStore extends CdsFeedbackStore {
  close(): Promise<void>;
}

export function createRedisFeedbackStore(redisUrl: string, file: string): RedisFeedbackStore {
  const redis = new Redis(redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // Reconnection errors reach the commands that meet them; without a listener ioredis prints each one.
  redis.on('error', () => undefined);
  let connecting: Promise<void> | undefined;
  const connected = (): Promise<void> => {
    if (redis.status === 'ready') return Promise.resolve();
    if (redis.status === 'wait') connecting ??= redis.connect();
    return connecting ?? Promise.resolve();
  };

  return {
    async add(records) {
      await appendFeedbackLines(file, records);
      if (records.length === 0) return;
      await connected();
      const pipeline = redis.pipeline();
      for (const record of records) {
        const once = createHash('sha256').update(`${record.card} ${record.outcome}`).digest('hex');
        const group = `${record.kind}${SEP}${record.model ?? 'none'}`;
        pipeline.eval(COUNT_SCRIPT, 2, SEEN_KEY, COUNTS_KEY, once, group, record.outcome, reasonOf(record));
      }
      const answers = (await pipeline.exec()) ?? [];
      const failed = answers.find(([error]) => error);
      if (failed?.[0]) throw failed[0];
    },
    async summary() {
      await connected();
      const [fields, counted] = await Promise.all([redis.hgetall(COUNTS_KEY), redis.scard(SEEN_KEY)]);
      return summaryFrom(fields, counted);
    },
    async close() {
      if (redis.status === 'wait' || redis.status === 'end') {
        redis.disconnect();
        return;
      }
      await redis.quit().catch(() => {
        redis.disconnect();
      });
    },
  };
}

const reasonOf = (record: FeedbackRecord): string => record.overrideReason?.code ?? 'none';

function summaryFrom(fields: Record<string, string>, counted: number): FeedbackSummary {
  const groups = new Map<string, FeedbackCounts>();
  for (const [field, value] of Object.entries(fields)) {
    const [kind, model, what, code] = field.split(SEP);
    if (kind === undefined || model === undefined || what === undefined) continue;
    const key = `${kind}${SEP}${model}`;
    let group = groups.get(key);
    if (!group) {
      group = { kind, model, accepted: 0, overridden: 0, overrideReasons: {} };
      groups.set(key, group);
    }
    if (what === 'accepted' || what === 'overridden') group[what] = Number(value);
    else if (what === 'reason' && code !== undefined) group.overrideReasons[code] = Number(value);
  }
  return {
    items: Number(fields.items ?? 0),
    counted,
    // Lines the host's file cannot give back are the file's concern; Redis holds only whole counts.
    unreadable: 0,
    counts: [...groups.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.model.localeCompare(b.model)),
  };
}
