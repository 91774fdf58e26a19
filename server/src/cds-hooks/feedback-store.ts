/**
 * CDS Hooks feedback (§Feedback) kept durably and counted per card kind and model version.
 *
 * `CdsFeedbackStore` is the interface the router uses; a Redis or FHIR store can implement it. The default is a
 * JSON-lines file (CDS_FEEDBACK_FILE): one line per feedback item, appended and flushed to disk (fdatasync) before
 * the feedback call is answered, read back once when the server first needs the counts. A line that cannot be read
 * (a crash mid-write) is skipped and counted. The file store's counts are per process; with REDIS_URL every app
 * server counts in Redis instead (redis-feedback-store.ts), and the file stays each host's durable record.
 *
 * A client may send the same feedback more than once (§Feedback: "a CDS Service may receive feedback for the same
 * card instance multiple times"): every item is stored, but a card counts once per outcome.
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';

export type FeedbackOutcome = 'accepted' | 'overridden';

/** One feedback item as stored: what the client said, and what the card was (from the cards we issued). */
export interface FeedbackRecord {
  /** When we received it (ISO 8601). */
  receivedAt: string;
  /** The service the feedback was posted to. */
  service: string;
  /** The calling EHR (the verified JWT's `iss`). */
  client: string;
  /** The card's uuid. */
  card: string;
  /** The card's kind (`findings`, `priorMri`, `patientSummary`, `notAnalyzed`), `unknown` for a card we do not know. */
  kind: string;
  /** `<model id>@<version>` of the results the card showed, when it showed any. */
  model?: string;
  outcome: FeedbackOutcome;
  acceptedSuggestions?: string[];
  overrideReason?: { system?: string; code: string; display?: string };
  /** The clinician's free-text comment, as sent; stored, never logged. */
  userComment?: string;
  /** When the clinician acted, as the client said. */
  outcomeTimestamp: string;
}

export interface FeedbackCounts {
  kind: string;
  /** `<model id>@<version>`, or `none` for a card without results (not analyzed). */
  model: string;
  accepted: number;
  overridden: number;
  /** Overrides by reason code (`none`: no reason given). */
  overrideReasons: Record<string, number>;
}

export interface FeedbackSummary {
  /** Feedback items stored (repeats included). */
  items: number;
  /** Distinct card outcomes counted below. */
  counted: number;
  /** Lines of the store that could not be read (skipped). */
  unreadable: number;
  counts: FeedbackCounts[];
}

export interface CdsFeedbackStore {
  /** Stores the items durably (resolves once they are on disk), then counts them. */
  add(records: readonly FeedbackRecord[]): Promise<void>;
  summary(): Promise<FeedbackSummary>;
}

/** The counts, kept as records arrive. */
class Counter {
  private readonly seen = new Set<string>();
  private readonly groups = new Map<string, FeedbackCounts>();
  items = 0;
  unreadable = 0;

  count(record: FeedbackRecord): void {
    this.items++;
    const once = `${record.card} ${record.outcome}`;
    if (this.seen.has(once)) return;
    this.seen.add(once);
    const model = record.model ?? 'none';
    const key = `${record.kind} ${model}`;
    let group = this.groups.get(key);
    if (!group) {
      group = { kind: record.kind, model, accepted: 0, overridden: 0, overrideReasons: {} };
      this.groups.set(key, group);
    }
    group[record.outcome]++;
    if (record.outcome === 'overridden') {
      const reason = record.overrideReason?.code ?? 'none';
      group.overrideReasons[reason] = (group.overrideReasons[reason] ?? 0) + 1;
    }
  }

  summary(): FeedbackSummary {
    return {
      items: this.items,
      counted: this.seen.size,
      unreadable: this.unreadable,
      counts: [...this.groups.values()]
        .map((group) => ({ ...group, overrideReasons: { ...group.overrideReasons } }))
        .sort((a, b) => a.kind.localeCompare(b.kind) || a.model.localeCompare(b.model)),
    };
  }
}

function isRecord(value: unknown): value is FeedbackRecord {
  const record = value as Partial<FeedbackRecord> | null;
  return (
    typeof record === 'object' &&
    record !== null &&
    typeof record.card === 'string' &&
    typeof record.kind === 'string' &&
    (record.outcome === 'accepted' || record.outcome === 'overridden')
  );
}

/** Appends the records to the JSON-lines file and flushes them to disk (owner-only file: comments are free text). */
export async function appendFeedbackLines(file: string, records: readonly FeedbackRecord[]): Promise<void> {
  if (records.length === 0) return;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const handle = await open(file, 'a', 0o600);
  try {
    await handle.writeFile(records.map((record) => `${JSON.stringify(record)}\n`).join(''));
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** The JSON-lines file store (the default). */
export function createFileFeedbackStore(file: string): CdsFeedbackStore {
  const counter = new Counter();
  // One operation at a time: the first loads the file; appends keep their order.
  let chain: Promise<void> = (async () => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`Cannot read CDS_FEEDBACK_FILE ${file}: ${(error as Error).message}`);
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const parsed: unknown = JSON.parse(line);
        if (isRecord(parsed)) counter.count(parsed);
        else counter.unreadable++;
      } catch {
        counter.unreadable++;
      }
    }
  })();
  const then = <T>(work: () => Promise<T>): Promise<T> => {
    const result = chain.then(work);
    chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };
  return {
    add: (records) =>
      then(async () => {
        await appendFeedbackLines(file, records);
        for (const record of records) counter.count(record);
      }),
    summary: () => then(() => Promise.resolve(counter.summary())),
  };
}

/** In memory only (tests). */
export function createMemoryFeedbackStore(): CdsFeedbackStore & { records: FeedbackRecord[] } {
  const counter = new Counter();
  const records: FeedbackRecord[] = [];
  return {
    records,
    add(added) {
      for (const record of added) {
        records.push(record);
        counter.count(record);
      }
      return Promise.resolve();
    },
    summary: () => Promise.resolve(counter.summary()),
  };
}
