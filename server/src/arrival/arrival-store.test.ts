import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyCursor, withPending } from './arrival-cursor';
import { createFileArrivalStore } from './arrival-store';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ldh-cds-arrival-store-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EHR_A = 'https://ehr-a.example/fhir';
const EHR_B = 'https://ehr-b.example/fhir';

describe('the arrival cursor file', () => {
  it('when there is no file yet, then no EHR has a cursor, and the first write creates the file (and its folder)', async () => {
    const file = path.join(dir, 'new', 'cursor.json');
    const store = createFileArrivalStore(file);
    expect(await store.readCursor(EHR_A)).toBeUndefined();
    await store.writeCursor(EHR_A, emptyCursor('2026-03-01T10:00:00.000Z'));
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      cursors: { [EHR_A]: { since: '2026-03-01T10:00:00.000Z', handledAtSince: [], pending: [] } },
    });
    await store.close();
  });

  it('when a process restarts, then it reads each EHR’s cursor as the last write left it, and no temporary file stays', async () => {
    const file = path.join(dir, 'restart.json');
    const first = createFileArrivalStore(file);
    const cursorA = withPending(emptyCursor('2026-03-01T10:00:00.000Z'), {
      imagingStudy: 'ImagingStudy/s1',
      jobId: 'j1',
    });
    await Promise.all([
      first.writeCursor(EHR_A, emptyCursor('2026-03-01T09:00:00.000Z')),
      first.writeCursor(EHR_B, emptyCursor('2026-03-01T09:30:00.000Z')),
      first.writeCursor(EHR_A, cursorA),
    ]);
    await first.close();
    const second = createFileArrivalStore(file);
    expect(await second.readCursor(EHR_A)).toEqual(cursorA);
    expect(await second.readCursor(EHR_B)).toEqual(emptyCursor('2026-03-01T09:30:00.000Z'));
    expect((await readdir(dir)).filter((name) => name.startsWith('restart.json'))).toEqual(['restart.json']);
    await second.close();
  });

  it('when the file is not a cursor file, then reading names the file and how to start over', async () => {
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{"not":"ours"}');
    await expect(createFileArrivalStore(file).readCursor(EHR_A)).rejects.toThrow(
      `ARRIVAL_CURSOR_FILE ${file} is not an arrival cursor file (it has no "cursors" object). Move it away to start over`,
    );
    await writeFile(
      file,
      JSON.stringify({ cursors: { [EHR_A]: { since: 'yesterday', handledAtSince: [], pending: [] } } }),
    );
    await expect(createFileArrivalStore(file).readCursor(EHR_A)).rejects.toThrow(
      `ARRIVAL_CURSOR_FILE ${file}, the cursor of ${EHR_A}: not an arrival cursor: since:`,
    );
  });

  it('when a notification asks for a read, then the listeners of this process hear it with the EHR', async () => {
    const store = createFileArrivalStore(path.join(dir, 'signals.json'));
    const heard: string[] = [];
    store.onReadRequested((fhirBaseUrl) => heard.push(fhirBaseUrl));
    await store.requestRead(EHR_B);
    expect(heard).toEqual([EHR_B]);
    expect(await store.hold(EHR_A)).toBe(true);
    await store.setNotificationSecretHash(EHR_A, 'ab'.repeat(32));
    expect(await store.notificationSecretHash(EHR_A)).toBe('ab'.repeat(32));
    expect(await store.notificationSecretHash(EHR_B)).toBeUndefined();
    await store.close();
  });
});
