/**
 * Where the arrival watcher keeps what must outlive it and what its processes share (docs/deploy.md §Analyze on
 * arrival): each EHR's cursor (arrival-cursor.ts), which process reads the EHR (one, across a deployment), and the
 * "read now" a Subscription notification sends to that process.
 *
 * Two implementations behind this one interface: a file, for the one-process shape (no REDIS_URL; the watcher runs in
 * the app server, the only process), here; and Redis, for the scaled shape (redis-arrival-store.ts), where every
 * worker process runs a watcher and a lease in Redis lets one of them read each EHR.
 */
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseCursor, type ArrivalCursor } from './arrival-cursor';

export interface ArrivalStore {
  /** The EHR's cursor; undefined before the watcher first read it. */
  readCursor(fhirBaseUrl: string): Promise<ArrivalCursor | undefined>;
  writeCursor(fhirBaseUrl: string, cursor: ArrivalCursor): Promise<void>;
  /**
   * Whether this process is the one that reads this EHR: takes the EHR's lease when it is free, or keeps (renews) it
   * when it holds it. False while another process holds it.
   */
  hold(fhirBaseUrl: string): Promise<boolean>;
  /** Gives the lease up (on close), so that another process takes the EHR at once. */
  release(fhirBaseUrl: string): Promise<void>;
  /** Asks the process that reads this EHR to read it now (a Subscription notification came in, here or elsewhere). */
  requestRead(fhirBaseUrl: string): Promise<void>;
  /** Called with the EHR's FHIR base at each `requestRead`, in whichever process it was made. */
  onReadRequested(listener: (fhirBaseUrl: string) => void): void;
  /** The SHA-256 (hex) of the secret a notification from this EHR must carry; undefined when none was registered. */
  notificationSecretHash(fhirBaseUrl: string): Promise<string | undefined>;
  setNotificationSecretHash(fhirBaseUrl: string, sha256Hex: string): Promise<void>;
  close(): Promise<void>;
}

interface CursorFile {
  /** Per FHIR base. */
  cursors: Record<string, unknown>;
}

/**
 * The one-process store: the cursors in one JSON file (ARRIVAL_CURSOR_FILE), written whole to a temporary file and
 * renamed over the old one (POSIX rename is atomic: a crash leaves the old cursor or the new one, never half of one);
 * the lease is always this process's, and "read now" and the notification secret stay in memory (the secret is
 * registered again at each start).
 */
export function createFileArrivalStore(file: string): ArrivalStore {
  let loaded: Promise<CursorFile> | undefined;
  let writing: Promise<void> = Promise.resolve();
  const requests = new EventEmitter();
  const secrets = new Map<string, string>();

  async function load(): Promise<CursorFile> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { cursors: {} };
      throw new Error(`ARRIVAL_CURSOR_FILE ${file} cannot be read: ${(error as Error).message}`);
    }
    try {
      const json = JSON.parse(text) as { cursors?: unknown } | null;
      const cursors = json?.cursors;
      if (typeof cursors !== 'object' || cursors === null) throw new Error('it has no "cursors" object');
      return { cursors: cursors as Record<string, unknown> };
    } catch (error) {
      throw new Error(
        `ARRIVAL_CURSOR_FILE ${file} is not an arrival cursor file (${(error as Error).message}). Move it away to start over: the watcher then reads from ARRIVAL_BACKFILL_HOURS back.`,
      );
    }
  }
  const contents = (): Promise<CursorFile> => {
    loaded ??= load();
    // A file that could not be read is read again next time, not remembered as broken.
    loaded.catch(() => (loaded = undefined));
    return loaded;
  };

  return {
    async readCursor(fhirBaseUrl) {
      const stored = (await contents()).cursors[fhirBaseUrl];
      if (stored === undefined) return undefined;
      try {
        return parseCursor(stored);
      } catch (error) {
        throw new Error(`ARRIVAL_CURSOR_FILE ${file}, the cursor of ${fhirBaseUrl}: ${(error as Error).message}`);
      }
    },
    async writeCursor(fhirBaseUrl, cursor) {
      const current = await contents();
      current.cursors[fhirBaseUrl] = cursor;
      const text = `${JSON.stringify(current, null, 2)}\n`;
      // One write at a time, in order: the last cursor written is the one on disk (a failed write stops no later one).
      const write = writing
        .catch(() => undefined)
        .then(async () => {
          await mkdir(path.dirname(file), { recursive: true });
          const temporary = `${file}.${randomUUID()}.tmp`;
          await writeFile(temporary, text, { mode: 0o600 });
          await rename(temporary, file);
        });
      writing = write;
      await write;
    },
    hold: () => Promise.resolve(true),
    release: () => Promise.resolve(),
    requestRead(fhirBaseUrl) {
      requests.emit('read', fhirBaseUrl);
      return Promise.resolve();
    },
    onReadRequested(listener) {
      requests.on('read', listener);
    },
    notificationSecretHash: (fhirBaseUrl) => Promise.resolve(secrets.get(fhirBaseUrl)),
    setNotificationSecretHash(fhirBaseUrl, sha256Hex) {
      secrets.set(fhirBaseUrl, sha256Hex);
      return Promise.resolve();
    },
    async close() {
      requests.removeAllListeners();
      await writing.catch(() => undefined);
    },
  };
}
