import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Query } from 'mingo';
import { createEmbeddedStore, snapshotAction } from '../../src/store/embedded/embedded-store';
import type { EmbeddedStore } from '../../src/store/embedded/embedded-store';
import { encodeRecord, JournalWriter, listSegments, packLocation, RECORD_HEADER_BYTES, segmentFileName, SYNC_WRITE_MAX_BYTES } from '../../src/store/embedded/journal';
import { listSnapshots, snapshotFileName } from '../../src/store/embedded/snapshot';
import { encodeWrite } from '../../src/store/embedded/write-codec';
import type { ResourceDocument, ResourceWrite } from '../../src/store/store';
import { appointmentWrite, describeStoreContract, deleteWrite, slotWrite } from './store-contract';
import { blockingAppointments } from '../../src/store/scheduling-queries';

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const MINUTE = 60_000;

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kairos-embedded-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describeStoreContract('embedded store', async () => {
  const dir = tempDir();
  const store = await createEmbeddedStore({ dataDir: dir });
  return { store, cleanup: () => store.close() };
});

/** The files as a crash would leave them: everything written so far, no close(), no LOCK owner alive. */
function crashCopy(dir: string): string {
  const copy = tempDir();
  fs.cpSync(dir, copy, { recursive: true, filter: (source) => path.basename(source) !== 'LOCK' });
  return copy;
}

function lastSegmentFile(dir: string): string {
  const segments = listSegments(dir);
  const last = segments[segments.length - 1];
  if (last === undefined) throw new Error('no journal segment');
  return path.join(dir, segmentFileName(last));
}

async function allSlotIds(store: EmbeddedStore): Promise<string[]> {
  return (await store.find('Slot', { filter: {} })).documents.map((d) => d._id);
}

describe('embedded store: persistence', () => {
  test('documents, history and indexes survive close and reopen', async () => {
    const dir = tempDir();
    const first = await createEmbeddedStore({ dataDir: dir });
    await first.commit([slotWrite({ id: 'a' }), slotWrite({ id: 'b', schedule: 'Schedule/s2' })]);
    await first.commit([slotWrite({ id: 'a', versionId: 2, status: 'busy', lastUpdated: T0 + 1000 })]);
    await first.commit([deleteWrite('Slot', 'b', 2, T0 + 2000)]);
    await first.close();

    const second = await createEmbeddedStore({ dataDir: dir });
    expect((await second.read('Slot', 'a'))?.resource).toMatchObject({ status: 'busy' });
    expect((await second.read('Slot', 'b'))?.deleted).toBe(true);
    expect((await second.vread('Slot', 'a', 1))?.resource).toMatchObject({ status: 'free' });
    expect((await second.history('Slot', undefined, { skip: 0, limit: 10 })).entries.map((e) => `${e.id}/${e.versionId}`)).toEqual([
      'b/2',
      'a/2',
      'b/1',
      'a/1',
    ]);
    expect((await second.find('Slot', { filter: { $and: [{ 's.status': { $in: ['busy'] } }] } })).documents.map((d) => d._id)).toEqual(['a']);
    // Creating a resource whose tombstone was recovered is still a conflict.
    await expect(second.commit([slotWrite({ id: 'b' })])).rejects.toMatchObject({ status: 409 });
    await second.commit([slotWrite({ id: 'c' })]);
    await second.close();

    const third = await createEmbeddedStore({ dataDir: dir });
    expect(await allSlotIds(third)).toEqual(['a', 'c']);
    await third.close();
  });

  test('every acknowledged commit is recovered from the journal alone (no close, no snapshot)', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    for (let i = 0; i < 20; i++) await store.commit([slotWrite({ id: `s${i}` })]);
    const copy = crashCopy(dir);
    await store.close();
    expect(listSnapshots(copy)).toEqual([]);
    const recovered = await createEmbeddedStore({ dataDir: copy });
    expect(await allSlotIds(recovered)).toHaveLength(20);
    await recovered.close();
  });

  test('a commit is readable as soon as it is applied, while its journal write may still be in flight', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    const big = Array.from({ length: 2000 }, (_, i) => slotWrite({ id: `big${i}`, start: T0 + i * 15 * MINUTE }));
    const committed = store.commit(big);
    // Queued behind the commit's apply, ahead of its fdatasync: reads the documents it just wrote.
    const read = store.transaction([], async (reader) => {
      const { documents } = await reader.find('Slot', { filter: { _id: { $in: ['big0', 'big1999'] } } });
      return { writes: [], result: documents.map((d) => d.resource) };
    });
    const [, found] = await Promise.all([committed, read]);
    expect(found).toEqual([big[0]?.resource, big[1999]?.resource]);
    const copy = crashCopy(dir);
    await store.close();
    const recovered = await createEmbeddedStore({ dataDir: copy });
    expect(await allSlotIds(recovered)).toHaveLength(2000);
    await recovered.close();
  });

  test('documents written in this process read their search values from the journal, also while their record is still being written', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    const big = Array.from({ length: 2000 }, (_, i) => slotWrite({ id: `big${i}`, start: T0 + i * 15 * MINUTE, serviceType: i % 2 === 0 ? '124' : '125' }));
    const committed = store.commit(big);
    // Queued behind the commit's apply, ahead of its write completing (see the test above): the
    // values come from the record in memory. Residual filter, sort on `s.*`, `s` itself, and an
    // update of a just-written document (its old values must leave the indexes).
    const seen = store.transaction([], async (reader) => {
      const odd = (await reader.find('Slot', { filter: { 's.service-type': { $in: ['125'] } } })).documents;
      const sorted = await reader.find('Slot', { filter: { _id: { $in: ['big0', 'big1'] } }, sort: [['s.service-type', -1]] });
      const last = await reader.read('Slot', 'big1999');
      return {
        writes: [slotWrite({ id: 'big0', versionId: 2, status: 'busy', start: T0, serviceType: '126' })],
        result: { odd: odd.length, sorted: sorted.documents.map((d) => d._id), last: last?.s['service-type']?.[0] },
      };
    });
    const [, result] = await Promise.all([committed, seen]);
    expect(result).toEqual({ odd: 1000, sorted: ['big1', 'big0'], last: '125' });
    const ids = async (filter: Record<string, unknown>): Promise<string[]> => (await store.find('Slot', { filter })).documents.map((d) => d._id);
    expect(await ids({ 's.status': { $in: ['busy'] } })).toEqual(['big0']);
    expect(await ids({ 's.service-type': { $in: ['126'] } })).toEqual(['big0']);
    expect(await ids({ 's.service-type': { $in: ['124'] } })).toHaveLength(999);
    expect(await ids({ 's.status': { $in: ['free'] } })).toHaveLength(1999);
    await store.close();
  });

  test('one commit may write an id more than once: each write is checked against the one before it, and the last is current', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    await store.commit([slotWrite({ id: 'a' })]);
    await store.commit([
      slotWrite({ id: 'a', versionId: 2, status: 'busy' }),
      slotWrite({ id: 'n', status: 'busy', start: T0 + MINUTE }),
      slotWrite({ id: 'a', versionId: 3, status: 'busy-tentative' }),
      slotWrite({ id: 'n', versionId: 2, start: T0 + MINUTE }),
    ]);
    // The second write of `a` names version 1, which the first one replaced: nothing is written.
    await expect(store.commit([slotWrite({ id: 'b' }), slotWrite({ id: 'a', versionId: 4 }), slotWrite({ id: 'a', versionId: 4, previousVersionId: 1 })])).rejects.toMatchObject({ status: 409 });
    const ids = async (status: string): Promise<string[]> => (await store.find('Slot', { filter: { 's.status': { $in: [status] } } })).documents.map((d) => d._id);
    expect([await ids('free'), await ids('busy'), await ids('busy-tentative')]).toEqual([['n'], [], ['a']]);
    expect((await store.read('Slot', 'a'))?.versionId).toBe(3);
    expect((await store.history('Slot', 'n', { skip: 0, limit: 10 })).entries.map((e) => e.versionId)).toEqual([2, 1]);
    expect(await store.read('Slot', 'b')).toBeUndefined();
    await store.close();
  });

  test('mutating returned search values changes neither the stored document nor the indexes', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    await store.commit([slotWrite({ id: 'a' })]);
    const doc = await store.read('Slot', 'a');
    doc?.s['status']?.push('busy');
    expect(Object.isFrozen(doc?.o)).toBe(true);
    expect((await store.read('Slot', 'a'))?.s['status']).toEqual(['free']);
    expect((await store.find('Slot', { filter: { $and: [{ 's.status': { $in: ['busy'] } }] } })).documents).toEqual([]);
    await store.close();
  });
});

describe('journal writer', () => {
  // A line long enough that its record goes to a libuv thread (a generator run's records do).
  const long = 'L'.repeat(SYNC_WRITE_MAX_BYTES);

  test("a large record's lines are served from memory until its write completes, then from the file; a later record built in its buffer leaves it intact", async () => {
    const dir = tempDir();
    const journal = JournalWriter.open(dir, 1, 0);
    const first = journal.newRecord();
    first.add('{"a":"ü"}');
    first.add(long);
    first.add('third line');
    const { offset } = journal.append(first);
    const location = packLocation(1, offset + (first.lineOffsets[2] ?? 0));
    // Synchronously after append the write cannot have been reported done: the line comes from memory.
    expect(journal.unwritten(location, first.lineLengths[2] ?? 0)?.toString()).toBe('third line');
    await journal.syncAll();
    expect(journal.unwritten(location, first.lineLengths[2] ?? 0)).toBeUndefined();
    const second = journal.newRecord();
    second.add('x');
    const next = journal.append(second);
    await journal.syncAll();
    await journal.close();
    const file = fs.readFileSync(path.join(dir, segmentFileName(1)));
    expect(file.subarray(RECORD_HEADER_BYTES, next.offset).toString()).toBe(`{"a":"ü"}\n${long}\nthird line`);
    expect(file.subarray(next.offset + RECORD_HEADER_BYTES).toString()).toBe('x');
  });

  test('a small record (a booking) is in the file when append returns, and a large one in flight before it does not overtake it', async () => {
    const dir = tempDir();
    const journal = JournalWriter.open(dir, 1, 0);
    const large = journal.newRecord();
    large.add(long);
    journal.append(large);
    const small = journal.newRecord();
    small.add('booked');
    const { offset } = journal.append(small);
    const file = path.join(dir, segmentFileName(1));
    // Written on this thread: readable from the file at once, not from memory.
    expect(journal.unwritten(packLocation(1, offset + (small.lineOffsets[0] ?? 0)), small.lineLengths[0] ?? 0)).toBeUndefined();
    const now = fs.readFileSync(file);
    expect(now.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + 6).toString()).toBe('booked');
    await journal.syncAll();
    await journal.close();
    const whole = fs.readFileSync(file);
    expect(whole.subarray(RECORD_HEADER_BYTES, offset).toString()).toBe(long);
    expect(whole.subarray(offset + RECORD_HEADER_BYTES).toString()).toBe('booked');
  });

  test('close waits for a write still in flight before it gives up the descriptor', async () => {
    const dir = tempDir();
    const journal = JournalWriter.open(dir, 1, 0);
    const builder = journal.newRecord();
    builder.add(long);
    journal.append(builder);
    await journal.close();
    expect(fs.readFileSync(path.join(dir, segmentFileName(1))).subarray(RECORD_HEADER_BYTES).toString()).toBe(long);
  });
});

describe('embedded store: crash recovery', () => {
  async function storeWithCommits(n: number): Promise<{ dir: string; store: EmbeddedStore }> {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    for (let i = 0; i < n; i++) await store.commit([slotWrite({ id: `c${i}-a` }), slotWrite({ id: `c${i}-b` })]);
    return { dir, store };
  }

  test('a half-written last record is discarded; complete commits stay and new ones follow', async () => {
    const { dir, store } = await storeWithCommits(5);
    const copy = crashCopy(dir);
    await store.close();
    const file = lastSegmentFile(copy);
    const validBytes = fs.statSync(file).size;
    const { record } = encodeRecord([encodeWrite(slotWrite({ id: 'torn-a' })), encodeWrite(slotWrite({ id: 'torn-b' }))]);
    fs.appendFileSync(file, record.subarray(0, Math.floor(record.length * 0.6)));

    const recovered = await createEmbeddedStore({ dataDir: copy });
    const ids = await allSlotIds(recovered);
    expect(ids).toHaveLength(10);
    expect(ids).not.toContain('torn-a');
    expect(ids).not.toContain('torn-b');
    expect(fs.statSync(file).size).toBe(validBytes);
    await recovered.commit([slotWrite({ id: 'after' })]);
    const copy2 = crashCopy(copy);
    await recovered.close();
    const again = await createEmbeddedStore({ dataDir: copy2 });
    expect(await allSlotIds(again)).toContain('after');
    expect(await allSlotIds(again)).toHaveLength(11);
    await again.close();
  });

  test('a complete-looking last record with a bad checksum is discarded', async () => {
    const { dir, store } = await storeWithCommits(3);
    await store.commit([slotWrite({ id: 'last-a' }), slotWrite({ id: 'last-b' })]);
    const copy = crashCopy(dir);
    await store.close();
    const file = lastSegmentFile(copy);
    const bytes = fs.readFileSync(file);
    const last = bytes.length - 5;
    bytes[last] = (bytes[last] ?? 0) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const recovered = await createEmbeddedStore({ dataDir: copy });
    const ids = await allSlotIds(recovered);
    expect(ids).toHaveLength(6);
    expect(ids).not.toContain('last-a');
    expect(ids).not.toContain('last-b');
    await recovered.close();
  });

  test('trailing garbage shorter than a record header is discarded', async () => {
    const { dir, store } = await storeWithCommits(2);
    const copy = crashCopy(dir);
    await store.close();
    fs.appendFileSync(lastSegmentFile(copy), Buffer.from([1, 2, 3]));
    const recovered = await createEmbeddedStore({ dataDir: copy });
    expect(await allSlotIds(recovered)).toHaveLength(4);
    await recovered.close();
  });
});

describe('embedded store: snapshots', () => {
  test('past snapshotEveryBytes the journal rolls over and a snapshot is written; recovery = snapshot + newer segments', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const store = await createEmbeddedStore({ dataDir: dir, snapshotEveryBytes: 4096, onBackgroundError: (e) => errors.push(e) });
    for (let i = 0; i < 60; i++) {
      await store.commit([slotWrite({ id: `s${i}`, start: T0 + i * 15 * MINUTE })]);
      if (i % 3 === 0 && i > 0) await store.commit([slotWrite({ id: `s${i - 1}`, versionId: 2, status: 'busy', start: T0 + (i - 1) * 15 * MINUTE })]);
    }
    await store.snapshot();
    await store.commit([slotWrite({ id: 'tail' })]);
    expect(errors).toEqual([]);
    expect(listSegments(dir).length).toBeGreaterThan(3);
    expect(listSnapshots(dir)).toHaveLength(1);
    const copy = crashCopy(dir);
    await store.close();

    const recovered = await createEmbeddedStore({ dataDir: copy });
    expect(await allSlotIds(recovered)).toHaveLength(61);
    expect((await recovered.read('Slot', 's2'))?.versionId).toBe(2);
    // The first version lives in an early segment that is no longer replayed.
    expect((await recovered.vread('Slot', 's2', 1))?.resource).toMatchObject({ status: 'free' });
    expect((await recovered.history('Slot', 's2', { skip: 0, limit: 10 })).entries.map((e) => e.versionId)).toEqual([2, 1]);
    const typeHistory = await recovered.history('Slot', undefined, { skip: 0, limit: 1000 });
    expect(typeHistory.total).toBe(61 + 19);
    expect(typeHistory.entries.every((e) => e.resource !== null)).toBe(true);
    const busy = await recovered.find('Slot', { filter: { $and: [{ 's.status': { $in: ['busy'] } }] }, count: true, limit: 0 });
    expect(busy.total).toBe(19);
    await recovered.close();
  });

  test('snapshotAction: a snapshot due while other writes are in flight is put off (a bounded number of segments) and taken once they stop', () => {
    const every = 1000;
    const base = { journalBytes: every, sinceSnapshot: every, lastSnapshotBytes: 0, snapshotEveryBytes: every, idle: true, deferred: false };
    expect(snapshotAction(base)).toBe('snapshot');
    expect(snapshotAction({ ...base, idle: false })).toBe('defer');
    expect(snapshotAction({ ...base, idle: false, sinceSnapshot: 3 * every })).toBe('defer');
    expect(snapshotAction({ ...base, idle: false, sinceSnapshot: 4 * every })).toBe('snapshot');
    // Not due (the journal since is under half the snapshot): only the segment rotates.
    expect(snapshotAction({ ...base, lastSnapshotBytes: 3 * every })).toBe('rotate');
    expect(snapshotAction({ ...base, lastSnapshotBytes: 3 * every, idle: false })).toBe('rotate');
    // Under a segment: nothing, unless a snapshot was put off and the writes stopped.
    expect(snapshotAction({ ...base, journalBytes: every - 1 })).toBe('none');
    expect(snapshotAction({ ...base, journalBytes: every - 1, deferred: true, idle: false })).toBe('none');
    expect(snapshotAction({ ...base, journalBytes: 1, deferred: true })).toBe('snapshot');
  });

  test('a burst of concurrent commits ends with a snapshot of all of them; a crash copy recovers every one', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const store = await createEmbeddedStore({ dataDir: dir, snapshotEveryBytes: 4096, onBackgroundError: (e) => errors.push(e) });
    const batches = Array.from({ length: 8 }, (_, c) => [0, 1, 2].map((k) => slotWrite({ id: `s${c}-${k}`, start: T0 + (c * 3 + k) * 15 * MINUTE })));
    // Several segments, but under the 4 segments a snapshot may be put off: the one snapshot comes once the burst ends.
    const journalBytes = batches.flat().reduce((sum, w) => sum + encodeWrite(w).byteLength + 1, 0);
    expect(journalBytes).toBeGreaterThan(2 * 4096);
    expect(journalBytes).toBeLessThan(4 * 4096 - 1024);
    await Promise.all(batches.map((writes) => store.commit(writes)));
    const copy = crashCopy(dir);
    // The snapshot is written in the background: it covers everything once its segment is the newest.
    for (let waited = 0; listSnapshots(dir)[0] !== listSegments(dir).at(-1) && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(errors).toEqual([]);
    expect(listSnapshots(dir)[0]).toBe(listSegments(dir).at(-1));
    await store.close();
    const recovered = await createEmbeddedStore({ dataDir: copy });
    expect(await allSlotIds(recovered)).toHaveLength(24);
    await recovered.close();
  });

  test('close writes a snapshot, so reopening replays nothing', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    await store.commit([slotWrite({ id: 'a' })]);
    await store.close();
    const snapshots = listSnapshots(dir);
    expect(snapshots).toHaveLength(1);
    const [snapshot] = snapshots;
    expect(fs.statSync(path.join(dir, segmentFileName(snapshot ?? 0))).size).toBe(0);
    const reopened = await createEmbeddedStore({ dataDir: dir });
    expect(await allSlotIds(reopened)).toEqual(['a']);
    await reopened.close();
  });

  test('a damaged snapshot is skipped: the journal segments alone rebuild the state', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir, snapshotEveryBytes: 2048 });
    for (let i = 0; i < 30; i++) await store.commit([slotWrite({ id: `s${i}` })]);
    await store.close();
    const [snapshot] = listSnapshots(dir);
    const file = path.join(dir, snapshotFileName(snapshot ?? 0));
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
    const reopened = await createEmbeddedStore({ dataDir: dir });
    expect(await allSlotIds(reopened)).toHaveLength(30);
    await reopened.close();
  });

  test('documents loaded from a snapshot read their search values from the journal: `s`, residual filters, sorts and updates see them', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    await store.commit([slotWrite({ id: 'a', serviceType: '124' }), slotWrite({ id: 'b', serviceType: '125', start: T0 + MINUTE })]);
    await store.commit([slotWrite({ id: 'a', versionId: 2, serviceType: '126' })]);
    await store.close();
    const reopened = await createEmbeddedStore({ dataDir: dir });
    expect((await reopened.read('Slot', 'a'))?.s['service-type']).toEqual(['126', 'http://terminology.hl7.org/CodeSystem/service-type|126', 'http://terminology.hl7.org/CodeSystem/service-type|']);
    const byService = async (code: string): Promise<string[]> =>
      (await reopened.find('Slot', { filter: { 's.service-type': { $in: [code] } } })).documents.map((d) => d._id);
    expect(await byService('126')).toEqual(['a']);
    expect(await byService('124')).toEqual([]);
    const sorted = await reopened.find('Slot', { filter: {}, sort: [['s.service-type', -1]] });
    expect(sorted.documents.map((d) => d._id)).toEqual(['a', 'b']);
    // Updating a loaded document takes its old values out of the indexes.
    await reopened.commit([slotWrite({ id: 'b', versionId: 2, status: 'busy', serviceType: '125', start: T0 + MINUTE })]);
    expect((await reopened.find('Slot', { filter: { 's.status': { $in: ['free'] } } })).documents.map((d) => d._id)).toEqual(['a']);
    await reopened.close();
  });

  test('index keys loaded from a snapshot answer the first queries, writes and the next snapshot exactly as before the restart', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    const statuses = ['free', 'busy', 'free', 'busy-tentative', 'free', 'busy'];
    await store.commit(statuses.map((status, i) => slotWrite({ id: `s${i}`, status, schedule: `Schedule/s${i % 2}`, start: T0 + i * MINUTE })));
    const ids = async (s: EmbeddedStore, filter: Record<string, unknown>): Promise<string[]> =>
      (await s.find('Slot', { filter })).documents.map((d) => d._id).sort();
    const queries: Array<Record<string, unknown>> = [
      { 's.status': { $in: ['free'] } },
      { 's.status': { $in: ['busy', 'busy-tentative'] } },
      { 's.status': { $nin: ['free'] } },
      { 's.schedule': { $in: ['Schedule/s1'] }, 's.status': { $in: ['free', 'busy'] } },
    ];
    const before = await Promise.all(queries.map((q) => ids(store, q)));
    await store.close();

    // First queries after start: the keys are built on use, from the lists the snapshot gave.
    const first = await createEmbeddedStore({ dataDir: dir });
    expect(await Promise.all(queries.map((q) => ids(first, q)))).toEqual(before);
    await first.close();

    // A write before any query, then a snapshot (close) before any query: neither loses an id.
    const second = await createEmbeddedStore({ dataDir: dir });
    await second.commit([slotWrite({ id: 's0', versionId: 2, status: 'busy', schedule: 'Schedule/s0', start: T0 })]);
    await second.close();
    const third = await createEmbeddedStore({ dataDir: dir });
    expect(await ids(third, { 's.status': { $in: ['free'] } })).toEqual(['s2', 's4']);
    expect(await ids(third, { 's.status': { $in: ['busy'] } })).toEqual(['s0', 's1', 's5']);
    expect(await ids(third, { 's.status': { $nin: ['busy', 'busy-tentative'] } })).toEqual(['s2', 's4']);
    await third.close();
  });

  test('a snapshot in the old JSON-lines format is ignored: the journal rebuilds the state, and the next snapshot removes the file', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    await store.commit([slotWrite({ id: 'a' }), slotWrite({ id: 'b' })]);
    await store.close();
    for (const n of listSnapshots(dir)) fs.rmSync(path.join(dir, snapshotFileName(n)));
    // It claims a state (no documents) that the journal contradicts: were it read, 'a' and 'b' would be lost.
    const legacy = path.join(dir, 'snapshot-00000002.jsonl');
    fs.writeFileSync(legacy, '{"format":"kairos-embedded-snapshot","version":1,"segment":2}\n{"end":true,"documents":0,"versions":0,"keys":0}\n');
    const reopened = await createEmbeddedStore({ dataDir: dir });
    expect(await allSlotIds(reopened)).toEqual(['a', 'b']);
    await reopened.snapshot();
    await reopened.close();
    expect(fs.existsSync(legacy)).toBe(false);
    expect(listSnapshots(dir)).toHaveLength(1);
  });

  test('a leftover temporary snapshot from a crash mid-snapshot is ignored and removed', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    await store.commit([slotWrite({ id: 'a' })]);
    const copy = crashCopy(dir);
    await store.close();
    const temp = path.join(copy, `${snapshotFileName(7)}.tmp`);
    fs.writeFileSync(temp, '{"format":"kairos-embedded-snapshot"');
    const reopened = await createEmbeddedStore({ dataDir: copy });
    expect(await allSlotIds(reopened)).toEqual(['a']);
    expect(fs.existsSync(temp)).toBe(false);
    await reopened.close();
  });
});

describe('embedded store: lock file and lifecycle', () => {
  test('a second store on the same data directory is refused while the first is open', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    await expect(createEmbeddedStore({ dataDir: dir })).rejects.toThrow(/in use by process/);
    await store.close();
    const again = await createEmbeddedStore({ dataDir: dir });
    await again.close();
  });

  test('a lock left by a process that no longer runs is taken over', async () => {
    const dir = tempDir();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(path.join(dir, 'LOCK'), `${child.stdout}\n`);
    const store = await createEmbeddedStore({ dataDir: dir });
    expect(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
    await store.close();
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });

  test('after close every call rejects; close is idempotent', async () => {
    const store = await createEmbeddedStore({ dataDir: tempDir() });
    await store.close();
    await store.close();
    await expect(store.read('Slot', 'a')).rejects.toThrow(/closed/);
    await expect(store.find('Slot', { filter: {} })).rejects.toThrow(/closed/);
    await expect(store.commit([slotWrite({ id: 'a' })])).rejects.toThrow(/closed/);
    await expect(store.ping()).rejects.toThrow(/closed/);
  });

  test('commits queued before close still land', async () => {
    const dir = tempDir();
    const store = await createEmbeddedStore({ dataDir: dir });
    const pending = Array.from({ length: 10 }, (_, i) => store.commit([slotWrite({ id: `q${i}` })]));
    await store.close();
    await Promise.all(pending);
    const reopened = await createEmbeddedStore({ dataDir: dir });
    expect(await allSlotIds(reopened)).toHaveLength(10);
    await reopened.close();
  });
});

describe('embedded store: the query planner agrees with a plain mingo scan', () => {
  // Deterministic pseudo-random data and filters: every indexed shape, mixed with residual ones.
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(random() * items.length)];
    if (item === undefined) throw new Error('empty');
    return item;
  };
  const schedules = ['Schedule/a', 'Schedule/b', 'Schedule/c', 'Schedule/d'];
  const statuses = ['free', 'busy', 'busy-tentative'];
  const HOUR = 60 * MINUTE;
  const time = (): number => T0 + Math.floor(random() * 200) * 15 * MINUTE;

  const rangeClause = (code: 'start' | 'end'): Record<string, unknown> => {
    const a = time();
    const b = a + Math.floor(random() * 48) * HOUR;
    const shapes: Array<Record<string, unknown>> = [
      { lo: { $gte: a }, hi: { $lte: b } },
      { lo: { $lt: a } },
      { hi: { $gt: b } },
      { lo: { $gte: b } },
      { hi: { $lte: a } },
      { lo: { $lt: b }, hi: { $gt: a } },
      { lo: { $gt: a, $lte: b } },
    ];
    return { [`s.${code}`]: { $elemMatch: pick(shapes) } };
  };
  const clause = (): Record<string, unknown> => {
    switch (Math.floor(random() * 8)) {
      case 0:
        return { 's.schedule': { $in: [pick(schedules), pick(schedules)] } };
      case 1:
        return { 's.status': { $in: [pick(statuses)] } };
      case 2:
        return rangeClause('start');
      case 3:
        return rangeClause('end');
      case 4:
        return { $or: [rangeClause('start'), { 's.schedule': { $in: [pick(schedules)] } }] };
      case 5:
        return { 's.status': { $nin: [pick(statuses)] } };
      case 6:
        return { _id: { $in: [`x${Math.floor(random() * 300)}`, `x${Math.floor(random() * 300)}`] } };
      default:
        return { $or: [{ 's.service-type': { $in: ['124'] } }, { 's.status': { $in: ['free'] } }] };
    }
  };

  test('300 random filters over 300 slots (with updates and deletes) give the same ids as mingo, also after reopening', async () => {
    const dir = tempDir();
    let store = await createEmbeddedStore({ dataDir: dir });
    const writes: ResourceWrite[] = [];
    for (let i = 0; i < 300; i++) {
      writes.push(
        slotWrite({
          id: `x${i}`,
          schedule: pick(schedules),
          status: pick(statuses),
          start: time(),
          minutes: pick([15, 30, 60, 600]),
          ...(random() < 0.3 ? { serviceType: '124' } : {}),
        }),
      );
    }
    await store.commit(writes);
    const deletes: ResourceWrite[] = [];
    for (let i = 0; i < 300; i += 7) deletes.push(deleteWrite('Slot', `x${i}`, 2));
    await store.commit(deletes);
    const updates: ResourceWrite[] = [];
    for (let i = 1; i < 300; i += 11) {
      if (i % 7 !== 0) updates.push(slotWrite({ id: `x${i}`, versionId: 2, status: pick(statuses), start: time() }));
    }
    await store.commit(updates);

    const everything: ResourceDocument[] = [];
    for (let i = 0; i < 300; i++) {
      const doc = await store.read('Slot', `x${i}`);
      if (doc !== undefined && !doc.deleted) everything.push(doc);
    }
    const cases: Array<{ filter: Record<string, unknown>; ids: string[] }> = [];
    for (let round = 0; round < 300; round++) {
      const clauses = Array.from({ length: 1 + Math.floor(random() * 3) }, clause);
      const filter = { $and: clauses };
      const expected = new Query(filter)
        .find<ResourceDocument>(everything)
        .all()
        .map((d) => d._id)
        .sort();
      cases.push({ filter, ids: expected });
      const actual = (await store.find('Slot', { filter })).documents.map((d) => d._id).sort();
      expect({ filter, ids: actual }).toEqual({ filter, ids: expected });
    }
    // Indexes rebuilt from a snapshot (close writes one) answer the same.
    await store.close();
    store = await createEmbeddedStore({ dataDir: dir });
    for (const { filter, ids } of cases.slice(0, 100)) {
      const actual = (await store.find('Slot', { filter })).documents.map((d) => d._id).sort();
      expect({ filter, ids: actual }).toEqual({ filter, ids });
    }
    await store.close();
  });

  test('a schedule + day walk of the compound index returns each Slot\'s current version, also after reopening and after deletes', async () => {
    // The compound index holds entries, not ids: a write must swap the entry it holds, or a
    // search would still answer the replaced version.
    const dir = tempDir();
    let store = await createEmbeddedStore({ dataDir: dir });
    const day = { 's.schedule': 'Schedule/s1', 's.start': { $elemMatch: { lo: { $gte: T0 }, hi: { $lte: T0 + 8 * 60 * MINUTE } } } };
    const seen = async (): Promise<string[]> =>
      (await store.find('Slot', { filter: { $and: [day] } })).documents.map((d) => `${d._id}/${d.versionId}/${d.s.status?.[0] ?? ''}/${(d.resource as { status?: string } | null)?.status ?? ''}`).sort();
    await store.commit([0, 1, 2].map((i) => slotWrite({ id: `c${i}`, start: T0 + i * 15 * MINUTE })));
    await store.commit([slotWrite({ id: 'c1', versionId: 2, status: 'busy', start: T0 + 15 * MINUTE })]);
    expect(await seen()).toEqual(['c0/1/free/free', 'c1/2/busy/busy', 'c2/1/free/free']);
    await store.close();
    store = await createEmbeddedStore({ dataDir: dir });
    expect(await seen()).toEqual(['c0/1/free/free', 'c1/2/busy/busy', 'c2/1/free/free']);
    // Two Slots at one start share a tree key; replacing one keeps the other.
    await store.commit([slotWrite({ id: 'c3', start: T0 })]);
    await store.commit([slotWrite({ id: 'c0', versionId: 2, status: 'busy-unavailable', start: T0 }), deleteWrite('Slot', 'c2', 2)]);
    expect(await seen()).toEqual(['c0/2/busy-unavailable/busy-unavailable', 'c1/2/busy/busy', 'c3/1/free/free']);
    await store.close();
  });

  /**
   * Commits `initial` to a fresh store, then three times rewrites about a third of the current
   * documents with `change`; `check` gets the store and the current writes after the first commit,
   * after each round and after a reopen.
   */
  async function followWrites(
    initial: ResourceWrite[],
    change: (current: ResourceWrite) => ResourceWrite,
    check: (store: EmbeddedStore, current: ResourceWrite[]) => Promise<void>,
  ): Promise<void> {
    const dir = tempDir();
    let store = await createEmbeddedStore({ dataDir: dir });
    const current = new Map<string, ResourceWrite>();
    const commit = async (writes: ResourceWrite[]): Promise<void> => {
      await store.commit(writes);
      for (const w of writes) {
        if (w.resource === null) current.delete(w.id);
        else current.set(w.id, w);
      }
    };
    await commit(initial);
    await check(store, [...current.values()]);
    for (let step = 0; step < 3; step++) {
      await commit([...current.values()].filter(() => random() < 0.3).map(change));
      await check(store, [...current.values()]);
    }
    await store.close();
    store = await createEmbeddedStore({ dataDir: dir });
    await check(store, [...current.values()]);
    await store.close();
  }

  /** The ids `filter` selects from `current` by mingo, sorted. */
  const expectedIds = (filter: Record<string, unknown>, current: readonly ResourceWrite[]): string[] =>
    new Query(filter)
      .find<{ _id: string }>(current.map((w) => ({ _id: w.id, s: w.s, o: w.o })))
      .all()
      .map((d) => d._id)
      .sort();

  test('schedule + status + window queries follow status flips, moves and deletes of Slots already walked, also after reopening', async () => {
    // The (schedule, status) trees are built on the first query naming the pair and kept in step
    // from then on: a booking flips a Slot from one pair's tree to another's.
    await followWrites(
      Array.from({ length: 200 }, (_, i) => slotWrite({ id: `n${i}`, schedule: pick(schedules), status: pick(statuses), start: time(), minutes: pick([15, 30]) })),
      (w) => {
        const next = w.versionId + 1;
        const kind = random();
        const schedule = w.s.schedule?.[0];
        if (typeof schedule !== 'string') throw new Error('a Slot without its schedule');
        const first = w.s.start?.[0];
        const start = typeof first === 'object' && 'lo' in first ? first.lo : T0;
        // A status flip in place (a booking), a move to another schedule and time, or a delete.
        if (kind < 0.5) return { ...slotWrite({ id: w.id, versionId: next, schedule, status: pick(statuses), start }), previousVersionId: w.versionId };
        if (kind < 0.8) return { ...slotWrite({ id: w.id, versionId: next, schedule: pick(schedules), status: pick(statuses), start: time() }), previousVersionId: w.versionId };
        return deleteWrite('Slot', w.id, next);
      },
      async (store, current) => {
        for (let round = 0; round < 60; round++) {
          const a = time();
          const filter = {
            $and: [
              { 's.schedule': { $in: [pick(schedules), pick(schedules)] } },
              { 's.status': { $in: random() < 0.7 ? [pick(statuses)] : [pick(statuses), pick(statuses)] } },
              { 's.start': { $elemMatch: pick([{ lo: { $gte: a, $lt: a + 600 * MINUTE } }, { lo: { $lt: a } }, { hi: { $gt: a } }]) } },
            ],
          };
          const actual = (await store.find('Slot', { filter })).documents.map((d) => d._id).sort();
          expect({ filter, ids: actual }).toEqual({ filter, ids: expectedIds(filter, current) });
        }
      },
    );
  });

  test('blocking-appointment queries follow moves, cancellations and deletes of appointments already walked, also after reopening', async () => {
    // BlockTimes builds an actor's tree on the first query naming the actor and keeps it in step
    // from then on: every later write to that actor's appointments must show in the next answer.
    const actors = ['Practitioner/p1', 'Practitioner/p2', 'Location/r1'];
    await followWrites(
      Array.from({ length: 120 }, (_, i) => {
        const start = time();
        return appointmentWrite(`b${i}`, [pick(actors), pick(actors)], start, start + pick([15, 30, 60]) * MINUTE, pick([0, 10]));
      }),
      (w) => {
        const next = w.versionId + 1;
        const kind = random();
        if (kind < 0.4) {
          const start = time();
          return { ...appointmentWrite(w.id, [pick(actors)], start, start + 30 * MINUTE), versionId: next, previousVersionId: w.versionId };
        }
        if (kind < 0.7) return { ...w, versionId: next, previousVersionId: w.versionId, s: { ...w.s, status: ['cancelled'], _block: [] } };
        return deleteWrite('Appointment', w.id, next);
      },
      async (store, current) => {
        for (let round = 0; round < 40; round++) {
          const a = time();
          const query = blockingAppointments([pick(actors), pick(actors)], a, a + pick([15, 60, 240]) * MINUTE, random() < 0.3 ? [`b${Math.floor(random() * 120)}`] : []);
          const actual = (await store.find('Appointment', query)).documents.map((d) => d._id).sort();
          expect({ filter: query.filter, ids: actual }).toEqual({ filter: query.filter, ids: expectedIds(query.filter, current) });
        }
      },
    );
  });

  test('actor and date filters on Appointments (compound index) give the same ids as mingo, also after reopening', async () => {
    const dir = tempDir();
    let store = await createEmbeddedStore({ dataDir: dir });
    const actors = ['Practitioner/p1', 'Practitioner/p2', 'Location/r1', 'Patient/x'];
    const writes: ResourceWrite[] = [];
    for (let i = 0; i < 200; i++) {
      const start = time();
      writes.push(appointmentWrite(`ap${i}`, [pick(actors), pick(actors)], start, start + pick([15, 30, 90]) * MINUTE));
    }
    await store.commit(writes);
    await store.commit([deleteWrite('Appointment', 'ap3', 2), deleteWrite('Appointment', 'ap4', 2)]);
    const everything: ResourceDocument[] = [];
    for (let i = 0; i < 200; i++) {
      const doc = await store.read('Appointment', `ap${i}`);
      if (doc !== undefined && !doc.deleted) everything.push(doc);
    }
    const cases: Array<{ filter: Record<string, unknown>; ids: string[] }> = [];
    for (let round = 0; round < 150; round++) {
      const a = time();
      const b = a + Math.floor(random() * 72) * HOUR;
      const filter = {
        $and: [
          { 's.actor': { $in: [pick(actors), pick(actors)] } },
          { 's.date': { $elemMatch: pick([{ lo: { $gte: a }, hi: { $lte: b } }, { lo: { $lt: b } }, { hi: { $gt: a } }]) } },
          ...(random() < 0.3 ? [{ 's._block': { $elemMatch: { a: { $in: [pick(actors)] }, lo: { $lt: b }, hi: { $gt: a } } } }] : []),
        ],
      };
      const expected = new Query(filter)
        .find<ResourceDocument>(everything)
        .all()
        .map((d) => d._id)
        .sort();
      cases.push({ filter, ids: expected });
      const actual = (await store.find('Appointment', { filter })).documents.map((d) => d._id).sort();
      expect({ filter, ids: actual }).toEqual({ filter, ids: expected });
    }
    await store.close();
    store = await createEmbeddedStore({ dataDir: dir });
    for (const { filter, ids } of cases) {
      const actual = (await store.find('Appointment', { filter })).documents.map((d) => d._id).sort();
      expect({ filter, ids: actual }).toEqual({ filter, ids });
    }
    await store.close();
  });
});
