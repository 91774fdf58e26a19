import { appendFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileFeedbackStore, type FeedbackRecord } from './feedback-store';

const record = (
  card: string,
  outcome: FeedbackRecord['outcome'],
  extra: Partial<FeedbackRecord> = {},
): FeedbackRecord => ({
  receivedAt: '2026-05-02T10:00:00.000Z',
  service: 'ldh-cds-order-select',
  client: 'http://ehr',
  card,
  kind: 'findings',
  model: 'msu-ldh@1.8.0',
  outcome,
  outcomeTimestamp: '2026-05-02T10:00:00Z',
  ...extra,
});

describe('the JSON-lines feedback store', () => {
  it('when feedback is added, then it is on disk, counted per kind and model, and read back by a new store', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'cds-feedback-')), 'sub', 'feedback.jsonl');
    const store = createFileFeedbackStore(file);
    await store.add([
      record('c1', 'accepted', { acceptedSuggestions: ['s1'] }),
      record('c2', 'overridden', { overrideReason: { code: 'already-reviewed' } }),
      record('c3', 'overridden', { kind: 'notAnalyzed', model: undefined }),
    ]);
    // A repeated feedback for the same card and outcome is stored but counted once (CDS Hooks §Feedback).
    await store.add([record('c2', 'overridden', { overrideReason: { code: 'already-reviewed' } })]);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(4);
    const expected = {
      items: 4,
      counted: 3,
      unreadable: 0,
      counts: [
        {
          kind: 'findings',
          model: 'msu-ldh@1.8.0',
          accepted: 1,
          overridden: 1,
          overrideReasons: { 'already-reviewed': 1 },
        },
        { kind: 'notAnalyzed', model: 'none', accepted: 0, overridden: 1, overrideReasons: { none: 1 } },
      ],
    };
    expect(await store.summary()).toEqual(expected);
    // A restart: the counts come back from the file; a torn last line is skipped and counted.
    await appendFile(file, '{"card":"c9","outc');
    expect(await createFileFeedbackStore(file).summary()).toEqual({ ...expected, unreadable: 1 });
  });
});
